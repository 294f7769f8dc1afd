//! Identity verification decisions (DESIGN §7, §9): a clerk face to face (by
//! reference) or a reviewer online (by request). Used by the agents' console
//! and by `idp-admin verify`.
//!
//! A decision is one transaction: the request moves `pending → verified |
//! rejected` only if it is still pending (so of two agents deciding at once,
//! exactly one succeeds), the account moves with it, the identity is stamped
//! as verified, and one audit entry records who, where and why. A verified
//! identity then gets its app activation code by SMS and email.

use std::time::Duration;

use crate::app::Core;
use crate::crypto::{hmac_hex, random_bytes};
use crate::domain::account::{
    AccountEvent, AccountState, RefusalCategory, RequestEvent, RequestStatus, VerificationMethod,
    normalise_reference,
};
use crate::domain::agent::Role;
use crate::enrol::EnrolError;
use crate::notify::{EmailMessage, SmsMessage};
use crate::outcome::{ServiceError, refuse};
use crate::store::accounts::{Change, Entry, Refused};
use crate::store::enrolment::{self as rows, RequestRow};
use crate::store::{StoreError, accounts, agents, now_unix};
use crate::views::{Identity, Request};

/// Activation codes are valid 14 days (DESIGN §7).
pub const ACTIVATION_TTL: Duration = Duration::from_secs(14 * 86_400);

/// The agent acting, as the console or the CLI authenticated them.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub office: Option<String>,
}

impl Agent {
    pub fn from_row(row: &agents::AgentRow) -> Option<Self> {
        Some(Agent {
            id: row.id.clone(),
            username: row.username.clone(),
            role: row.role,
            office: row.office.clone(),
        })
    }

    fn actor(&self) -> String {
        format!("agent:{}", self.username)
    }
}

/// Where a face-to-face verification happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// At the counter of this post office.
    Office(String),
    /// At the person's home, by a postman of this office.
    Home(String),
}

impl Place {
    fn office(&self) -> &str {
        match self {
            Place::Office(o) | Place::Home(o) => o,
        }
    }

    fn stored(&self) -> String {
        match self {
            Place::Office(o) => format!("office:{o}"),
            Place::Home(o) => format!("home:{o}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Verified,
    /// `category` is what the citizen is told; `reason`, the agent's words,
    /// stays in the console and the audit log.
    Rejected {
        category: RefusalCategory,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ReferenceMalformed,
    NotFound,
    Expired,
    /// Already verified, rejected or cancelled (or decided by someone else just now).
    AlreadyDecided,
    /// The request is of the other method.
    WrongMethod,
    /// The agent's role does not allow this decision.
    Role,
    /// A clerk may only record verifications at their own office.
    Office,
    ReasonRequired,
}

/// What a decision produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub account_id: String,
    pub request_id: String,
    pub state: AccountState,
    /// The citizen's given and family names, for the agent's notice.
    pub citizen: String,
    /// The face-to-face reference (none for an online request).
    pub reference: Option<String>,
}

/// A face-to-face request as the clerk sees it: only what the task needs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CounterView {
    pub request: Request,
    pub identity: Identity,
    pub document_kind: String,
    pub document_number: String,
    pub document_issued_on: String,
    pub document_expires_on: String,
}

/// Why a decision or a lookup did not happen: a [`Refusal`] the agent reads,
/// or the infrastructure.
pub type VerificationError = ServiceError<Refusal, EnrolError>;

/// Looks a reference up for a clerk (pending, face to face, not expired).
pub async fn counter_view(
    core: &Core,
    agent: &Agent,
    raw_reference: &str,
) -> Result<CounterView, VerificationError> {
    if !agent.role.verifies_face_to_face() {
        return refuse(Refusal::Role);
    }
    let Some(reference) = normalise_reference(raw_reference) else {
        return refuse(Refusal::ReferenceMalformed);
    };
    let found = core
        .db
        .read(move |conn| {
            let Some(request) = rows::request_by_reference(conn, &reference)? else {
                return Ok(None);
            };
            let identity = accounts::identity(conn, &request.account_id)?;
            let document = rows::document(conn, &request.account_id)?;
            Ok(Some((request, identity, document)))
        })
        .await?;
    let Some((request, identity, document)) = found else {
        return refuse(Refusal::NotFound);
    };
    if let Err(refusal) = still_open(&request, VerificationMethod::FaceToFace) {
        return refuse(refusal);
    }
    let (Some(identity), Some(document)) = (identity, document) else {
        return Err(EnrolError::Internal(format!(
            "request {} has no identity or document",
            request.id
        ))
        .into());
    };
    let number = core
        .subkeys
        .kek
        .open(
            &document.number_sealed,
            format!("document:{}", request.account_id).as_bytes(),
        )
        .map_err(|e| EnrolError::Internal(format!("document number: {e}")))?;
    Ok(CounterView {
        request: request.into(),
        identity: identity.into(),
        document_kind: document.kind,
        document_number: String::from_utf8_lossy(&number).into_owned(),
        document_issued_on: document.issued_on,
        document_expires_on: document.expires_on,
    })
}

/// A pending face-to-face request in the clerks' list: what finding the
/// citizen needs, nothing of the document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaceToFaceEntry {
    pub reference: String,
    pub given_name: String,
    pub family_name: String,
    pub submitted_at: Option<i64>,
    pub expires_at: i64,
    /// A postman is to visit the citizen at home.
    pub home_visit: bool,
    /// For a home visit only: the number the postman calls to arrange it.
    pub phone: Option<String>,
}

/// The pending face-to-face requests (oldest first, at most 200), or only
/// the home visits: the clerks' list (its session checks the role) and
/// `idp-admin requests`.
pub async fn face_to_face_requests(
    core: &Core,
    home_visit_only: bool,
) -> Result<Vec<FaceToFaceEntry>, EnrolError> {
    Ok(core
        .db
        .read(move |conn| {
            let mut entries = Vec::new();
            for r in rows::pending_face_to_face(conn, home_visit_only, 200)? {
                let identity = accounts::identity(conn, &r.account_id)?;
                let phone = match r.home_visit {
                    true => accounts::by_id(conn, &r.account_id)?.and_then(|a| a.phone),
                    false => None,
                };
                let (given_name, family_name) = identity
                    .map(|i| (i.given_name, i.family_name))
                    .unwrap_or_default();
                entries.push(FaceToFaceEntry {
                    reference: r.reference.unwrap_or_default(),
                    given_name,
                    family_name,
                    submitted_at: r.submitted_at,
                    expires_at: r.expires_at,
                    home_visit: r.home_visit,
                    phone,
                });
            }
            Ok(entries)
        })
        .await?)
}

fn still_open(request: &RequestRow, method: VerificationMethod) -> Result<(), Refusal> {
    if request.method != method {
        return Err(Refusal::WrongMethod);
    }
    if request.status != RequestStatus::Pending {
        return Err(Refusal::AlreadyDecided);
    }
    if request.expires_at < now_unix() {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// Records a clerk's face-to-face decision on a reference.
pub async fn decide_face_to_face(
    core: &Core,
    agent: &Agent,
    raw_reference: &str,
    place: Place,
    decision: Decision,
) -> Result<Outcome, VerificationError> {
    if !agent.role.verifies_face_to_face() {
        return refuse(Refusal::Role);
    }
    if agent.role == Role::Clerk && agent.office.as_deref() != Some(place.office()) {
        return refuse(Refusal::Office);
    }
    let Some(reference) = normalise_reference(raw_reference) else {
        return refuse(Refusal::ReferenceMalformed);
    };
    let lookup = reference.clone();
    let Some(request) = core
        .db
        .read(move |conn| rows::request_by_reference(conn, &lookup))
        .await?
    else {
        return refuse(Refusal::NotFound);
    };
    decide(
        core,
        agent,
        request,
        VerificationMethod::FaceToFace,
        Some(place),
        decision,
    )
    .await
}

/// Records a reviewer's decision on an online request.
pub async fn decide_remote(
    core: &Core,
    agent: &Agent,
    request_id: &str,
    decision: Decision,
) -> Result<Outcome, VerificationError> {
    if !agent.role.reviews_remote() {
        return refuse(Refusal::Role);
    }
    let id = request_id.to_owned();
    let Some(request) = core.db.read(move |conn| rows::request(conn, &id)).await? else {
        return refuse(Refusal::NotFound);
    };
    decide(
        core,
        agent,
        request,
        VerificationMethod::Remote,
        None,
        decision,
    )
    .await
}

async fn decide(
    core: &Core,
    agent: &Agent,
    request: RequestRow,
    method: VerificationMethod,
    place: Option<Place>,
    decision: Decision,
) -> Result<Outcome, VerificationError> {
    if let Err(refusal) = still_open(&request, method) {
        return refuse(refusal);
    }
    if let Decision::Rejected { reason, .. } = &decision
        && reason.trim().is_empty()
    {
        return refuse(Refusal::ReasonRequired);
    }
    let agent = agent.clone();
    let verified = decision == Decision::Verified;
    let (event, request_event) = if verified {
        (AccountEvent::Verify, RequestEvent::Verify)
    } else {
        (AccountEvent::Reject, RequestEvent::Reject)
    };
    let status = RequestStatus::Pending
        .apply(request_event)
        .map_err(|e| EnrolError::Internal(e.to_string()))?;
    let (reason, category) = match &decision {
        Decision::Rejected { reason, category } => {
            (Some(reason.trim().to_owned()), Some(*category))
        }
        Decision::Verified => (None, None),
    };
    let request_id = request.id.clone();
    let account_id = request.account_id.clone();
    let reference = request.reference.clone();
    let outcome = core
        .db
        .write(move |conn| {
            use crate::store::schema::{identities as i, verification_requests as v};
            use diesel::prelude::*;
            let now = now_unix();
            let decided = diesel::update(
                v::table.filter(
                    v::id
                        .eq(&request_id)
                        .and(v::status.eq(RequestStatus::Pending)),
                ),
            )
            .set((
                v::status.eq(status),
                v::decided_at.eq(now),
                v::decided_by.eq(&agent.username),
                v::office.eq(place.as_ref().map(Place::stored)),
                v::reason.eq(&reason),
                v::reason_category.eq(category),
            ))
            .execute(conn)?;
            if decided != 1 {
                return Ok(Err(Refusal::AlreadyDecided));
            }
            let entry = Entry {
                actor: agent.actor(),
                action: if verified {
                    "verification.verified"
                } else {
                    "verification.rejected"
                },
                details: serde_json::json!({
                    "request": request_id,
                    "method": method.as_str(),
                    "place": place.as_ref().map(Place::stored),
                    "reason": reason,
                    "category": category.map(RefusalCategory::as_str),
                }),
            };
            let moved =
                accounts::transition(conn, &account_id, Change::Event(event), |conn, _| {
                    if verified {
                        diesel::update(i::table.filter(i::account_id.eq(&account_id)))
                            .set((
                                i::verified_at.eq(Some(now)),
                                i::verification_method.eq(Some(method.as_str())),
                            ))
                            .execute(conn)?;
                    }
                    Ok(entry)
                })?;
            let next = match moved {
                Ok(moved) => moved.to,
                Err(Refused::Illegal { why, .. }) => {
                    return Err(StoreError::Corrupt(format!(
                        "decision on account {account_id}: {why}"
                    )));
                }
                Err(Refused::Raced { .. }) => {
                    return Err(StoreError::Corrupt(
                        "account changed during the decision".into(),
                    ));
                }
            };
            let citizen = accounts::identity(conn, &account_id)?
                .map(|i| format!("{} {}", i.given_name, i.family_name))
                .unwrap_or_default();
            Ok(Ok(Outcome {
                account_id: account_id.clone(),
                request_id: request_id.clone(),
                state: next,
                citizen,
                reference: reference.clone(),
            }))
        })
        .await?;
    let outcome = outcome.map_err(ServiceError::Refused)?;
    core.metrics
        .verification_decision(method == VerificationMethod::Remote, verified);
    match (outcome.state, category) {
        (AccountState::Verified, _) => {
            issue_activation_code(core, &outcome.account_id, "system").await?;
        }
        (AccountState::Rejected, Some(category)) => {
            notify_refusal(core, &outcome.account_id, category).await;
        }
        _ => {}
    }
    Ok(outcome)
}

/// Tells the citizen their verification was refused, and why in plain
/// French (the category, never the agent's words or name). Best effort: the
/// decision is written.
async fn notify_refusal(core: &Core, account_id: &str, category: RefusalCategory) {
    let id = account_id.to_owned();
    let account = match core.db.read(move |conn| accounts::by_id(conn, &id)).await {
        Ok(Some(account)) => account,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "refusal notice: the account could not be read");
            return;
        }
    };
    let url = format!("{}/compte", core.config.issuer());
    let messages = crate::notify::citizen::verification_refused(
        &account.email,
        account.phone.as_deref(),
        category,
        &url,
    );
    crate::notify::citizen::send(&core.notifier, "verification refused", messages).await;
}

/// Issues a fresh activation code (replacing any previous one) and sends it
/// by SMS and email. Returns false if the account has no phone.
pub async fn issue_activation_code(
    core: &Core,
    account_id: &str,
    actor: &str,
) -> Result<bool, EnrolError> {
    let id = account_id.to_owned();
    let Some(account) = core.db.read(move |conn| accounts::by_id(conn, &id)).await? else {
        return Ok(false);
    };
    let Some(phone) = account.phone.clone() else {
        return Ok(false);
    };
    let code = loop {
        let n = u32::from_be_bytes(
            random_bytes::<4>().map_err(|e| EnrolError::Internal(e.to_string()))?,
        );
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            break format!("{:06}", n % 1_000_000);
        }
    };
    let hash = activation_hash(core, account_id, &code);
    let expires_at = now_unix() + ACTIVATION_TTL.as_secs() as i64;
    let (id, who) = (account_id.to_owned(), actor.to_owned());
    core.db
        .write(move |conn| {
            agents::put_activation(conn, &id, &hash, expires_at)?;
            let entry = |unblocked: bool| {
                let mut details = serde_json::json!({ "expires_at": expires_at });
                if unblocked {
                    details["unblocked"] = true.into();
                }
                Entry {
                    actor: who.clone(),
                    action: "activation.code_issued",
                    details,
                }
            };
            // A blocked identity is unblocked by its new code (back to
            // verified: the next activation makes it active), in the same
            // write and under the same entry.
            if accounts::state(conn, &id)? == AccountState::Blocked {
                let unblock = Change::Event(AccountEvent::Unblock);
                if accounts::transition(conn, &id, unblock, |_, _| Ok(entry(true)))?.is_ok() {
                    return Ok(());
                }
            }
            entry(false).append(conn, &id)
        })
        .await?;
    // Where the app is: a web app, opened in the phone's browser (#17).
    let app = format!(
        "{}/app",
        core.config.server.public_url.trim_end_matches('/')
    );
    core.notifier
        .send_sms(&SmsMessage {
            to: phone,
            text: format!(
                "Sésame : votre identité est vérifiée. Code d'activation de l'application : {code} (valable 14 jours). \
                 Ouvrez {app} sur ce téléphone."
            ),
        })
        .await?;
    core.notifier
        .send_email(&EmailMessage {
            to: account.email,
            subject: "Votre identité est vérifiée".to_owned(),
            text: format!(
                "Bonjour,\n\nVotre identité est vérifiée. Pour activer l'application Sésame :\n\
                 1. ouvrez {app} dans le navigateur de votre téléphone (rien à installer) ;\n\
                 2. saisissez votre adresse électronique, votre mot de passe et ce code d'activation : {code}\n\
                 3. choisissez votre code secret à 4 chiffres.\n\
                 Le code d'activation est valable 14 jours.\n"
            ),
            html: None,
        })
        .await?;
    Ok(true)
}

/// Keyed hash of an activation code, bound to its account.
pub fn activation_hash(core: &Core, account_id: &str, code: &str) -> String {
    hmac_hex(
        &core.subkeys.token_hash_key,
        format!("activation:{account_id}:{code}").as_bytes(),
    )
}
