//! The account-creation pipeline (DESIGN §7): eligibility → email + code →
//! password (the account exists from here, state `email_verified`) → mobile +
//! code → document and identity → review → face-to-face reference or online
//! review. Each durable step is one transaction with one audit entry, and is
//! idempotent (a double submission finds the step done and moves on).

pub mod otp;

use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::crypto::{random_bytes, random_token};
use crate::domain::account::{
    AccountEvent, AccountState, RequestEvent, RequestStatus, VerificationMethod, new_reference,
};
use crate::domain::acr::{self, Authentication};
use crate::domain::document::{self, DocumentKind, DocumentNumber};
use crate::domain::email::Email;
use crate::domain::identity::{DeclaredIdentity, IdentityForm, IdentityProblem};
use crate::domain::password::{self, PasswordProblem};
use crate::domain::phone::FrenchMobile;
use crate::ephemeral::{EphemeralError, EphemeralStore};
use crate::metrics::EnrolStep;
use crate::notify::{EmailMessage, NotifyError, SmsMessage};
use crate::oidc::error::OidcError;
use crate::oidc::types::Authenticated;
use crate::oidc::{Provider, login};
use crate::store::accounts::{self, Change, Entry, IdentityRow, NewAccount, Refused};
use crate::store::audit::{self, AuditEvent};
use crate::store::enrolment::{self as rows, NewDocument, NewRequest, RequestRow};
use crate::store::{DbConnection, StoreError, now_unix};
use crate::views::{Identity, Request};
use otp::{CheckFailure, Issue, Purpose, SendRefusal};

/// How long an unfinished enrolment (before the account exists) is kept.
pub const ENROL_TTL: Duration = Duration::from_secs(3600);
/// Face-to-face references are valid 30 days.
pub const REFERENCE_DAYS: i64 = 30;
/// Largest document photo (or PDF) accepted.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// Largest video accepted.
pub const MAX_VIDEO_BYTES: usize = 25 * 1024 * 1024;
/// The recorder on the video page stops by itself after this many seconds
/// (about 6 MB at the 1.5 Mbit/s it asks for, well under `MAX_VIDEO_BYTES`).
pub const MAX_VIDEO_SECONDS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why an enrolment step did not happen: the person's input or a limit,
/// which the step's page shows (`Refused`), or the infrastructure (`Failed`).
/// The web layer says how each refusal reads (`web::error::UserFacing`).
pub type StepError<P> = crate::outcome::ServiceError<P, EnrolError>;

/// Too many enrolments started from one address: wait `retry_after` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyEnrolments {
    pub retry_after: u64,
}

/// Progress before the account exists, kept under the enrolment cookie.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pending {
    pub eligible: bool,
    pub email: Option<String>,
    pub email_verified: bool,
}

fn pending_key(provider: &Provider, cookie: &str) -> String {
    crate::ephemeral::keys::enrolment(&provider.lookup_hash(cookie))
}

/// Counts one step of the enrolment funnel.
fn step(provider: &Provider, step: EnrolStep) {
    provider.core.metrics.enrolment_step(step);
}

pub async fn load_pending(provider: &Provider, cookie: &str) -> Result<Pending, EnrolError> {
    let key = pending_key(provider, cookie);
    Ok(provider
        .core
        .ephemeral
        .get_json(&key)
        .await?
        .unwrap_or_default())
}

pub async fn save_pending(
    provider: &Provider,
    cookie: &str,
    pending: &Pending,
) -> Result<(), EnrolError> {
    let key = pending_key(provider, cookie);
    Ok(provider
        .core
        .ephemeral
        .set_json(&key, pending, ENROL_TTL)
        .await?)
}

/// Marks the enrolment under `cookie` as eligible. A new enrolment is
/// anonymous state: an address may start a bounded number per window
/// (`Err(seconds to wait)` beyond).
pub async fn start(
    provider: &Provider,
    cookie: &str,
    client_ip: &str,
) -> Result<(), StepError<TooManyEnrolments>> {
    let mut pending = load_pending(provider, cookie).await?;
    if pending.eligible {
        return Ok(());
    }
    let budget = crate::oidc::authorize::anonymous_budget(&provider.core.config.oidc, "enrol:ip");
    let bucket = crate::ratelimit::address_bucket(client_ip);
    if let Some(wait) = budget.hit(&provider.core, &bucket).await? {
        return Err(StepError::Refused(TooManyEnrolments { retry_after: wait }));
    }
    pending.eligible = true;
    save_pending(provider, cookie, &pending).await?;
    Ok(())
}

fn audit(
    conn: &mut DbConnection,
    account_id: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    audit::append(
        conn,
        &AuditEvent {
            actor: &format!("account:{account_id}"),
            action,
            subject: account_id,
            details,
        },
    )?;
    Ok(())
}

// ------------------------------------------------------------------ email

/// Sends the email code. An address that already has an identity gets the
/// same answer and the same next page, but its owner receives a notice
/// instead of a code (nobody can learn from this step who has an identity).
/// The send limits count before the address is looked up.
pub async fn start_email(
    provider: &Provider,
    cookie: &str,
    email: &Email,
    client_ip: &str,
) -> Result<(), StepError<SendRefusal>> {
    let address = email.as_str().to_owned();
    let reservation = otp::reserve(provider, Purpose::Email, &address, client_ip).await?;
    let lookup = address.clone();
    let known = provider
        .core
        .db
        .read(move |conn| accounts::by_email(conn, &lookup))
        .await?
        .is_some();
    let issue = if known { Issue::Decoy } else { Issue::Code };
    let notifier = provider.core.notifier.clone();
    let (to, base) = (
        address.clone(),
        provider.core.config.server.public_url.clone(),
    );
    reservation
        .issue(provider, issue, |code| async move {
            notifier
                .send_email(&email_code_message(to, code, &base))
                .await
        })
        .await?;
    let mut pending = load_pending(provider, cookie).await?;
    pending.email = Some(address);
    pending.email_verified = false;
    save_pending(provider, cookie, &pending).await?;
    step(provider, EnrolStep::EmailSubmitted);
    Ok(())
}

/// The enrolment code, or, for an address that already has an identity, a
/// notice telling its owner that someone tried to use it.
fn email_code_message(to: String, code: Option<String>, base: &str) -> EmailMessage {
    match code {
        Some(code) => EmailMessage {
            to,
            subject: "Votre code de vérification Sésame".to_owned(),
            text: format!(
                "Bonjour,\n\nVotre code de vérification est : {code}\nIl est valable 15 minutes.\n\n\
                 Si vous n'avez pas demandé à créer un compte Sésame, ignorez ce message.\n"
            ),
            html: None,
        },
        None => EmailMessage {
            to,
            subject: "Tentative de création d'identité numérique Sésame".to_owned(),
            text: format!(
                "Bonjour,\n\nQuelqu'un vient de demander à créer une identité numérique Sésame avec \
                 cette adresse électronique. Elle est déjà associée à votre identité numérique : \
                 aucune nouvelle identité ne sera créée, et aucun code ne vous est demandé.\n\n\
                 Si c'était vous, connectez-vous à votre compte : {base}/compte/connexion\n\n\
                 Si ce n'était pas vous, vous n'avez rien à faire : votre identité numérique \
                 n'a pas été modifiée.\n"
            ),
            html: None,
        },
    }
}

pub async fn verify_email(
    provider: &Provider,
    cookie: &str,
    code: &str,
) -> Result<(), StepError<CheckFailure>> {
    let mut pending = load_pending(provider, cookie).await?;
    let Some(email) = pending.email.clone() else {
        return Err(StepError::Refused(CheckFailure::Expired));
    };
    if pending.email_verified {
        return Ok(());
    }
    otp::check(provider, Purpose::Email, &email, code).await?;
    pending.email_verified = true;
    save_pending(provider, cookie, &pending).await?;
    step(provider, EnrolStep::EmailVerified);
    Ok(())
}

// ------------------------------------------------------------------ password → account

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountProblem {
    EmailNotVerified,
    Mismatch,
    Password(PasswordProblem),
    InUse,
}

/// Creates the account (state `email_verified`) and returns the
/// authentication to open a session with.
pub async fn create_account(
    provider: &Provider,
    cookie: &str,
    password: &str,
    confirmation: &str,
) -> Result<Authenticated, StepError<AccountProblem>> {
    let pending = load_pending(provider, cookie).await?;
    let Some(email) = pending.email.clone().filter(|_| pending.email_verified) else {
        return Err(StepError::Refused(AccountProblem::EmailNotVerified));
    };
    if password != confirmation {
        return Err(StepError::Refused(AccountProblem::Mismatch));
    }
    if let Err(problem) = password::check(password, &email) {
        return Err(StepError::Refused(AccountProblem::Password(problem)));
    }
    let owned = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || login::hash_password(&owned))
        .await
        .map_err(|e| EnrolError::Internal(e.to_string()))?
        .map_err(EnrolError::from)?;
    let id = uuid::Uuid::new_v4().to_string();
    let (account_id, address) = (id.clone(), email.clone());
    let created = provider
        .core
        .db
        .write(move |conn| {
            accounts::insert(
                conn,
                &NewAccount {
                    id: &account_id,
                    state: AccountState::EmailVerified.as_str(),
                    email: &address,
                    password_hash: Some(&hash),
                    phone: None,
                },
            )?;
            audit(
                conn,
                &account_id,
                "enrolment.account_created",
                serde_json::json!({}),
            )
        })
        .await;
    match created {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => return Err(StepError::Refused(AccountProblem::InUse)),
        Err(e) => return Err(e.into()),
    }
    provider
        .core
        .ephemeral
        .delete(&pending_key(provider, cookie))
        .await?;
    step(provider, EnrolStep::AccountCreated);
    Ok(Authenticated {
        account_id: id,
        sid: random_token().map_err(|e| EnrolError::Internal(e.to_string()))?,
        auth_time: now_unix(),
        authentication: Authentication::Password,
        acr: acr::achieved(acr::Proofing::Declared, Authentication::Password),
    })
}

// ------------------------------------------------------------------ account state

/// The account's current state.
pub async fn state(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<AccountState>, EnrolError> {
    let id = account_id.to_owned();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await?;
    Ok(account.map(|a| a.state))
}

/// Applies `event` in one transaction with its audit entry; `extra` runs in
/// the same transaction. Returns the new state, or the illegal transition.
async fn apply<F>(
    provider: &Provider,
    account_id: &str,
    event: AccountEvent,
    action: &'static str,
    details: serde_json::Value,
    extra: F,
) -> Result<Result<AccountState, AccountState>, EnrolError>
where
    F: FnOnce(&mut DbConnection) -> Result<(), StoreError> + Send + 'static,
{
    let id = account_id.to_owned();
    Ok(provider
        .core
        .db
        .write(move |conn| {
            let actor = format!("account:{id}");
            let moved = accounts::transition(conn, &id, Change::Event(event), |conn, _| {
                extra(conn)?;
                Ok(Entry {
                    actor,
                    action,
                    details,
                })
            })?;
            Ok(match moved {
                Ok(moved) => Ok(moved.to),
                Err(Refused::Illegal { current, .. } | Refused::Raced { current }) => Err(current),
            })
        })
        .await?)
}

// ------------------------------------------------------------------ phone

fn phone_key(account_id: &str) -> String {
    crate::ephemeral::keys::enrolment_phone(account_id)
}

/// Sends the SMS code. A number already bound to another identity gets the
/// same answer and the same next page; its owner receives a notice instead
/// of a code. The send limits count before the number is looked up.
pub async fn start_phone(
    provider: &Provider,
    account_id: &str,
    phone: &FrenchMobile,
    client_ip: &str,
) -> Result<(), StepError<SendRefusal>> {
    // Per number, per IP, and per enrolment (the account being created).
    let reservation = otp::reserve(provider, Purpose::Phone, phone.as_str(), client_ip).await?;
    if let Some(refusal) = otp::count_enrolment_send(provider, account_id).await? {
        return Err(StepError::Refused(refusal));
    }
    let (number, id) = (phone.as_str().to_owned(), account_id.to_owned());
    let in_use = provider
        .core
        .db
        .read(move |conn| rows::phone_in_use(conn, &number, &id))
        .await?;
    let issue = if in_use { Issue::Decoy } else { Issue::Code };
    let notifier = provider.core.notifier.clone();
    let to = phone.as_str().to_owned();
    reservation
        .issue(provider, issue, |code| async move {
            let text = match code {
                Some(code) => format!(
                    "Sésame : votre code de vérification est {code}. Il est valable 10 minutes."
                ),
                None => "Sésame : quelqu'un a demandé à associer ce numéro à une nouvelle \
                         identité numérique. Il reste associé à la vôtre. Si ce n'était pas \
                         vous, vous n'avez rien à faire."
                    .to_owned(),
            };
            notifier.send_sms(&SmsMessage { to, text }).await
        })
        .await?;
    provider
        .core
        .ephemeral
        .set(
            &phone_key(account_id),
            phone.as_str().as_bytes(),
            Purpose::Phone.ttl(),
        )
        .await?;
    Ok(())
}

/// The number waiting for its code, if any.
pub async fn pending_phone(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<FrenchMobile>, EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .get(&phone_key(account_id))
        .await?
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|number| FrenchMobile::parse(&number).ok()))
}

pub async fn verify_phone(
    provider: &Provider,
    account_id: &str,
    code: &str,
) -> Result<(), StepError<CheckFailure>> {
    let Some(phone) = pending_phone(provider, account_id).await? else {
        return Err(StepError::Refused(CheckFailure::Expired));
    };
    otp::check(provider, Purpose::Phone, phone.as_str(), code).await?;
    let (id, number) = (account_id.to_owned(), phone.as_str().to_owned());
    let applied = apply(
        provider,
        account_id,
        AccountEvent::VerifyPhone,
        "enrolment.phone_verified",
        serde_json::json!({}),
        move |conn| rows::set_phone(conn, &id, &number),
    )
    .await?;
    if applied.is_err() {
        return Err(EnrolError::Internal("phone verified in an unexpected state".into()).into());
    }
    provider
        .core
        .ephemeral
        .delete(&phone_key(account_id))
        .await?;
    step(provider, EnrolStep::PhoneVerified);
    Ok(())
}

// ------------------------------------------------------------------ identity

/// What the person typed on the document and identity pages, kept as typed
/// until the review is confirmed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Draft {
    pub document_kind: String,
    pub family_name: String,
    pub usage_name: String,
    pub given_names: String,
    pub gender: String,
    pub birthdate: String,
    pub birth_country: String,
    pub birth_commune: String,
    pub document_number: String,
    pub issued_on: String,
    pub expires_on: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftProblem {
    Identity(IdentityProblem),
    DocumentKind,
    DocumentNumber,
    IssuedOn,
    ExpiresOn,
    Dates(document::DateProblem),
    /// The number already proves someone else's verified identity.
    DocumentInUse,
}

/// A draft whose every field is valid.
pub struct CheckedDraft {
    pub identity: DeclaredIdentity,
    pub kind: DocumentKind,
    pub number: DocumentNumber,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
}

pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

impl Draft {
    /// Every problem at once, so the page can flag all the fields.
    pub fn check(&self, today: NaiveDate) -> Result<CheckedDraft, Vec<DraftProblem>> {
        let mut problems = Vec::new();
        let identity = DeclaredIdentity::parse(
            &IdentityForm {
                family_name: &self.family_name,
                usage_name: &self.usage_name,
                given_names: &self.given_names,
                gender: &self.gender,
                birthdate: &self.birthdate,
                birth_country: &self.birth_country,
                birth_commune: &self.birth_commune,
            },
            today,
        )
        .map_err(|ps| problems.extend(ps.into_iter().map(DraftProblem::Identity)))
        .ok();
        let kind = DocumentKind::parse(&self.document_kind);
        if kind.is_none() {
            problems.push(DraftProblem::DocumentKind);
        }
        let number = kind.and_then(|k| DocumentNumber::parse(k, &self.document_number).ok());
        if kind.is_some() && number.is_none() {
            problems.push(DraftProblem::DocumentNumber);
        }
        let date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        let issued_on = date(&self.issued_on);
        if issued_on.is_none() {
            problems.push(DraftProblem::IssuedOn);
        }
        let expires_on = date(&self.expires_on);
        if expires_on.is_none() {
            problems.push(DraftProblem::ExpiresOn);
        }
        if let (Some(kind), Some(issued), Some(expires)) = (kind, issued_on, expires_on)
            && let Err(problem) = document::check_dates(kind, issued, expires, today)
        {
            problems.push(DraftProblem::Dates(problem));
        }
        match (identity, kind, number, issued_on, expires_on) {
            (Some(identity), Some(kind), Some(number), Some(issued_on), Some(expires_on))
                if problems.is_empty() =>
            {
                Ok(CheckedDraft {
                    identity,
                    kind,
                    number,
                    issued_on,
                    expires_on,
                })
            }
            _ => Err(problems),
        }
    }
}

fn draft_key(account_id: &str) -> String {
    crate::ephemeral::keys::enrolment_draft(account_id)
}

pub async fn load_draft(provider: &Provider, account_id: &str) -> Result<Draft, EnrolError> {
    let key = draft_key(account_id);
    Ok(provider
        .core
        .ephemeral
        .get_json(&key)
        .await?
        .unwrap_or_default())
}

pub async fn save_draft(
    provider: &Provider,
    account_id: &str,
    draft: &Draft,
) -> Result<(), EnrolError> {
    let key = draft_key(account_id);
    Ok(provider
        .core
        .ephemeral
        .set_json(&key, draft, ENROL_TTL)
        .await?)
}

/// The draft, else (after a refusal, once the draft has expired) what was
/// submitted last: the identity form reopens with the previous values.
pub async fn draft_or_submitted(
    provider: &Provider,
    account_id: &str,
) -> Result<Draft, EnrolError> {
    let draft = load_draft(provider, account_id).await?;
    if !draft.family_name.is_empty() {
        return Ok(draft);
    }
    let id = account_id.to_owned();
    let stored = provider
        .core
        .db
        .read(move |conn| {
            let identity = accounts::identity(conn, &id)?;
            Ok(identity.zip(rows::document(conn, &id)?))
        })
        .await?;
    let Some((identity, document)) = stored else {
        return Ok(draft);
    };
    let aad = format!("document:{account_id}");
    let number = provider
        .core
        .subkeys
        .kek
        .open(&document.number_sealed, aad.as_bytes())
        .map_err(|e| EnrolError::Internal(format!("document number: {e}")))?;
    let kind = if draft.document_kind.is_empty() {
        document.kind
    } else {
        draft.document_kind
    };
    let draft = Draft {
        document_kind: kind,
        family_name: identity.family_name,
        usage_name: identity.preferred_username.unwrap_or_default(),
        given_names: identity.given_name,
        gender: identity.gender,
        birthdate: identity.birthdate,
        birth_country: identity.birthcountry,
        birth_commune: identity.birthplace,
        document_number: String::from_utf8_lossy(&number).into_owned(),
        issued_on: document.issued_on,
        expires_on: document.expires_on,
    };
    save_draft(provider, account_id, &draft).await?;
    Ok(draft)
}

/// Loads the draft, lets `edit` change it, and keeps the result.
pub async fn edit_draft(
    provider: &Provider,
    account_id: &str,
    edit: impl FnOnce(&mut Draft),
) -> Result<Draft, EnrolError> {
    let mut draft = load_draft(provider, account_id).await?;
    edit(&mut draft);
    save_draft(provider, account_id, &draft).await?;
    Ok(draft)
}

/// The kind of the document recorded with the declared identity.
pub async fn document_kind(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<DocumentKind>, EnrolError> {
    let id = account_id.to_owned();
    Ok(provider
        .core
        .db
        .read(move |conn| rows::document(conn, &id))
        .await?
        .and_then(|d| DocumentKind::parse(&d.kind)))
}

/// Records the reviewed identity and document: state `identity_submitted`.
pub async fn submit_identity(
    provider: &Provider,
    account_id: &str,
) -> Result<(), StepError<Vec<DraftProblem>>> {
    let draft = load_draft(provider, account_id).await?;
    let checked = draft.check(today()).map_err(StepError::Refused)?;
    let subkeys = &provider.core.subkeys;
    let number_hash = crate::crypto::hmac_hex(
        &subkeys.document_hash_key,
        checked.number.as_str().as_bytes(),
    );
    let sealed = subkeys
        .kek
        .seal(
            checked.number.as_str().as_bytes(),
            format!("document:{account_id}").as_bytes(),
        )
        .map_err(|e| EnrolError::Internal(e.to_string()))?;
    let (id, hash) = (account_id.to_owned(), number_hash.clone());
    if provider
        .core
        .db
        .read(move |conn| rows::number_bound_to_verified(conn, &hash, &id))
        .await?
    {
        return Err(StepError::Refused(vec![DraftProblem::DocumentInUse]));
    }
    let identity = IdentityRow {
        account_id: account_id.to_owned(),
        given_name: checked.identity.given_names.clone(),
        family_name: checked.identity.family_name.clone(),
        preferred_username: checked.identity.usage_name.clone(),
        birthdate: checked.identity.birthdate.format("%Y-%m-%d").to_string(),
        gender: checked.identity.gender.as_str().to_owned(),
        birthplace: checked.identity.birthplace().to_owned(),
        birthcountry: checked.identity.birth_country.clone(),
        verified_at: None,
        verification_method: None,
    };
    // A verified identity with a new document goes back to be verified.
    let state_of = account_id.to_owned();
    let current = provider
        .core
        .db
        .read(move |conn| accounts::state(conn, &state_of))
        .await?;
    let (event, action) = match current {
        AccountState::Verified | AccountState::Active | AccountState::DeviceLocked => {
            (AccountEvent::RenewDocument, "identity.document_renewed")
        }
        _ => (AccountEvent::SubmitIdentity, "enrolment.identity_submitted"),
    };
    let (id, kind) = (account_id.to_owned(), checked.kind.as_str());
    let (issued, expires) = (
        checked.issued_on.format("%Y-%m-%d").to_string(),
        checked.expires_on.format("%Y-%m-%d").to_string(),
    );
    let applied = apply(
        provider,
        account_id,
        event,
        action,
        serde_json::json!({ "document_kind": kind }),
        move |conn| {
            rows::put_identity(conn, &identity)?;
            rows::put_document(
                conn,
                &NewDocument {
                    account_id: &id,
                    kind,
                    number_hash: &number_hash,
                    number_sealed: &sealed,
                    issued_on: &issued,
                    expires_on: &expires,
                },
            )
        },
    )
    .await?;
    match applied {
        Ok(_) => {
            step(provider, EnrolStep::IdentitySubmitted);
            Ok(())
        }
        Err(AccountState::IdentitySubmitted) => Ok(()),
        Err(_) => {
            Err(EnrolError::Internal("identity submitted in an unexpected state".into()).into())
        }
    }
}

// ------------------------------------------------------------------ verification requests

/// Opens a face-to-face request: state `awaiting_verification`, an 8-character
/// reference valid 30 days, sent by email and SMS; `home_visit` when a
/// postman is to visit the citizen at home. Idempotent (an open request
/// stays as it was).
pub async fn request_face_to_face(
    provider: &Provider,
    account_id: &str,
    home_visit: bool,
) -> Result<Option<Request>, EnrolError> {
    let id = account_id.to_owned();
    if let Some(open) = provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
    {
        return Ok(Some(open.into()));
    }
    let reference =
        new_reference(random_bytes::<5>().map_err(|e| EnrolError::Internal(e.to_string()))?);
    let request_id = uuid::Uuid::new_v4().to_string();
    let (rid, aid, r) = (request_id.clone(), account_id.to_owned(), reference.clone());
    let applied = apply(
        provider,
        account_id,
        AccountEvent::RequestVerification(VerificationMethod::FaceToFace),
        "enrolment.face_to_face_requested",
        serde_json::json!({ "reference": reference, "home_visit": home_visit }),
        move |conn| {
            rows::insert_request(
                conn,
                &NewRequest {
                    id: &rid,
                    account_id: &aid,
                    method: VerificationMethod::FaceToFace,
                    reference: Some(&r),
                    status: RequestStatus::Pending,
                    challenge: None,
                    expires_at: now_unix() + REFERENCE_DAYS * 86_400,
                    submitted_at: Some(now_unix()),
                    home_visit,
                },
            )
        },
    )
    .await?;
    if applied.is_err() {
        return Ok(None);
    }
    step(provider, EnrolStep::FaceToFaceRequested);
    send_reference(provider, account_id).await?;
    let id = account_id.to_owned();
    Ok(provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
        .map(Request::from))
}

/// The QR code of a reference, as an SVG document.
pub fn reference_qr(reference: &str) -> String {
    match qrcode::QrCode::new(format!("SESAME:{reference}").as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// (Re)sends the face-to-face reference by email, and by SMS to the
/// verified mobile.
pub async fn send_reference(provider: &Provider, account_id: &str) -> Result<bool, EnrolError> {
    let id = account_id.to_owned();
    let (account, request) = provider
        .core
        .db
        .read(move |conn| Ok((accounts::by_id(conn, &id)?, rows::open_request(conn, &id)?)))
        .await?;
    let (Some(account), Some(request)) = (account, request) else {
        return Ok(false);
    };
    let Some(reference) = request.reference else {
        return Ok(false);
    };
    let expires = chrono::DateTime::from_timestamp(request.expires_at, 0)
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    let text = format!(
        "Bonjour,\n\nVotre référence de vérification d'identité Sésame est : {reference}\n\
         Elle est valable jusqu'au {expires}.\n\n\
         Présentez-la en bureau de poste (ou au facteur, à domicile) avec la pièce d'identité \
         déclarée. Une fois votre identité vérifiée, vous recevrez par SMS le code d'activation \
         de l'application Sésame.\n"
    );
    let html = format!(
        "<p>Bonjour,</p><p>Votre référence de vérification d'identité Sésame est : \
         <strong style=\"font-size:1.4em;letter-spacing:.1em\">{reference}</strong></p>\
         <p>Elle est valable jusqu'au {expires}.</p>{}<p>Présentez-la en bureau de poste \
         (ou au facteur, à domicile) avec la pièce d'identité déclarée.</p>",
        reference_qr(&reference)
    );
    let notifier = &provider.core.notifier;
    notifier
        .send_email(&EmailMessage {
            to: account.email,
            subject: format!("Votre référence Sésame : {reference}"),
            text,
            html: Some(html),
        })
        .await?;
    if let Some(to) = account.phone {
        let text = reference_sms(&reference, &expires, request.home_visit);
        notifier.send_sms(&SmsMessage { to, text }).await?;
    }
    Ok(true)
}

/// The SMS of a face-to-face reference: what to show, and where.
fn reference_sms(reference: &str, expires: &str, home_visit: bool) -> String {
    let next = if home_visit {
        "Un facteur vous appellera pour convenir d'un rendez-vous chez vous."
    } else {
        "Présentez-la en bureau de poste."
    };
    format!(
        "Sésame : votre référence de vérification d'identité est {reference} \
         (valable jusqu'au {expires}). {next} Munissez-vous de la pièce d'identité déclarée."
    )
}

/// What [`resend_reference`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceResent {
    Sent,
    /// Sent less than a minute ago (the code cooldown applies).
    TooSoon,
    /// No open face-to-face request to send.
    Nothing,
}

/// The account page's "send the reference again": at most once a minute.
pub async fn resend_reference(
    provider: &Provider,
    account_id: &str,
) -> Result<ReferenceResent, EnrolError> {
    let key = format!("reference-resend:{account_id}");
    let eph = &provider.core.ephemeral;
    if !eph.set_if_absent(&key, b"1", otp::COOLDOWN).await? {
        return Ok(ReferenceResent::TooSoon);
    }
    Ok(if send_reference(provider, account_id).await? {
        ReferenceResent::Sent
    } else {
        ReferenceResent::Nothing
    })
}

/// The account's online request while it still collects media.
pub async fn collecting_request(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<Collecting>, EnrolError> {
    Ok(open_remote(provider, account_id)
        .await?
        .filter(|r| r.status == RequestStatus::Collecting)
        .map(|r| Collecting {
            id: r.id,
            challenge: r.challenge.unwrap_or_default(),
        }))
}

/// An online request still collecting its media, as its own citizen sees it.
#[derive(Debug, Clone)]
pub struct Collecting {
    pub id: String,
    /// The 3 digits to say in the video.
    pub challenge: String,
}

/// Opens an online request (status `collecting` until the media are in).
/// Idempotent.
pub async fn request_remote(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<Request>, EnrolError> {
    Ok(open_remote(provider, account_id).await?.map(Request::from))
}

/// The account's online request, opened with its 3-digit challenge if none
/// is open.
async fn open_remote(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<RequestRow>, EnrolError> {
    let id = account_id.to_owned();
    if let Some(open) = provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
    {
        return Ok((open.method == VerificationMethod::Remote).then_some(open));
    }
    let current = state(provider, account_id).await?;
    if current != Some(AccountState::IdentitySubmitted) {
        return Ok(None);
    }
    let digits = random_bytes::<3>().map_err(|e| EnrolError::Internal(e.to_string()))?;
    let challenge: String = digits.iter().map(|b| char::from(b'0' + b % 10)).collect();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (rid, aid, c) = (request_id, account_id.to_owned(), challenge);
    let inserted = provider
        .core
        .db
        .write(move |conn| {
            rows::insert_request(
                conn,
                &NewRequest {
                    id: &rid,
                    account_id: &aid,
                    method: VerificationMethod::Remote,
                    reference: None,
                    status: RequestStatus::Collecting,
                    challenge: Some(&c),
                    expires_at: now_unix() + REFERENCE_DAYS * 86_400,
                    submitted_at: None,
                    home_visit: false,
                },
            )?;
            audit(
                conn,
                &aid,
                "enrolment.remote_started",
                serde_json::json!({}),
            )
        })
        .await;
    match inserted {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {}
        Err(e) => return Err(e.into()),
    }
    let id = account_id.to_owned();
    Ok(provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?)
}

/// Media of an online request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Front,
    Back,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Front => "front",
            MediaKind::Back => "back",
            MediaKind::Video => "video",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaProblem {
    Empty,
    TooLarge,
    /// The content is not what the kind allows (checked on the bytes, not the name).
    WrongType,
    NoOpenRequest,
}

/// The content type, read from the bytes: JPEG, PNG or PDF for photos; WebM
/// (EBML header), MP4 or QuickTime (an ISO BMFF `ftyp` box with a known
/// brand: what iPhones record) for the video.
pub fn sniff(kind: MediaKind, bytes: &[u8]) -> Option<&'static str> {
    match kind {
        MediaKind::Front | MediaKind::Back => {
            if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                Some("image/jpeg")
            } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                Some("image/png")
            } else if bytes.starts_with(b"%PDF-") {
                Some("application/pdf")
            } else {
                None
            }
        }
        MediaKind::Video => {
            if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
                Some("video/webm")
            } else {
                iso_bmff_video(bytes)
            }
        }
    }
}

/// MP4 or QuickTime: the file opens with an `ftyp` box (size, `ftyp`, major
/// brand, minor version, compatible brands). The major brand says which,
/// else the first compatible brand Sésame knows; an `ftyp` box naming no
/// video brand (an HEIC photo, an M4A sound) is refused.
fn iso_bmff_video(bytes: &[u8]) -> Option<&'static str> {
    let size = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    if bytes.get(4..8)? != b"ftyp" || !(16..=256).contains(&size) || size > bytes.len() {
        return None;
    }
    let brand = |b: &[u8]| match b {
        b"qt  " => Some("video/quicktime"),
        b"isom" | b"iso2" | b"mp41" | b"mp42" | b"avc1" => Some("video/mp4"),
        _ => None,
    };
    let major = bytes.get(8..12)?;
    let compatible = bytes.get(16..size)?.chunks_exact(4);
    std::iter::once(major).chain(compatible).find_map(brand)
}

/// Stores one medium, sealed, for the account's collecting request.
pub async fn upload(
    provider: &Provider,
    account_id: &str,
    kind: MediaKind,
    bytes: Vec<u8>,
) -> Result<(), StepError<MediaProblem>> {
    let refused = |problem| Err(StepError::Refused(problem));
    if bytes.is_empty() {
        return refused(MediaProblem::Empty);
    }
    let limit = if kind == MediaKind::Video {
        MAX_VIDEO_BYTES
    } else {
        MAX_PHOTO_BYTES
    };
    if bytes.len() > limit {
        return refused(MediaProblem::TooLarge);
    }
    let Some(content_type) = sniff(kind, &bytes) else {
        return refused(MediaProblem::WrongType);
    };
    let id = account_id.to_owned();
    let Some(request) = provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
    else {
        return refused(MediaProblem::NoOpenRequest);
    };
    if request.status != RequestStatus::Collecting {
        return refused(MediaProblem::NoOpenRequest);
    }
    let aad = format!("media:{}:{}", request.id, kind.as_str());
    let size = bytes.len() as i64;
    let kek = std::sync::Arc::clone(&provider.core.subkeys.kek);
    let sealed = tokio::task::spawn_blocking(move || kek.seal(&bytes, aad.as_bytes()))
        .await
        .map_err(|e| EnrolError::Internal(e.to_string()))?
        .map_err(|e| EnrolError::Internal(e.to_string()))?;
    let (rid, aid) = (request.id.clone(), account_id.to_owned());
    provider
        .core
        .db
        .write(move |conn| {
            rows::put_media(conn, &rid, kind.as_str(), content_type, size, &sealed)?;
            audit(
                conn,
                &aid,
                "enrolment.media_uploaded",
                serde_json::json!({ "kind": kind.as_str(), "size": size }),
            )
        })
        .await?;
    Ok(())
}

/// Which media the collecting request already has.
pub async fn media_present(
    provider: &Provider,
    request_id: &str,
) -> Result<Vec<String>, EnrolError> {
    let id = request_id.to_owned();
    Ok(provider
        .core
        .db
        .read(move |conn| rows::media_kinds(conn, &id))
        .await?)
}

/// Sends the complete online request to the review queue.
pub async fn submit_remote(
    provider: &Provider,
    account_id: &str,
) -> Result<(), StepError<MediaProblem>> {
    let id = account_id.to_owned();
    let Some(request) = provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
    else {
        return Err(StepError::Refused(MediaProblem::NoOpenRequest));
    };
    if request.status == RequestStatus::Pending {
        return Ok(());
    }
    let present = media_present(provider, &request.id).await?;
    if !["front", "back", "video"]
        .iter()
        .all(|k| present.iter().any(|p| p == k))
    {
        return Err(StepError::Refused(MediaProblem::Empty));
    }
    let rid = request.id.clone();
    let applied = apply(
        provider,
        account_id,
        AccountEvent::RequestVerification(VerificationMethod::Remote),
        "enrolment.remote_submitted",
        serde_json::json!({ "request": request.id }),
        move |conn| {
            if rows::set_request_status(
                conn,
                &rid,
                RequestStatus::Collecting,
                RequestEvent::Submit,
            )? {
                Ok(())
            } else {
                Err(StoreError::Corrupt(
                    "request left the collecting state".into(),
                ))
            }
        },
    )
    .await?;
    if applied.is_ok() {
        step(provider, EnrolStep::RemoteRequested);
        confirm_remote(provider, account_id).await;
    }
    applied
        .map(|_| ())
        .map_err(|_| StepError::Refused(MediaProblem::NoOpenRequest))
}

/// Tells the citizen their online request reached the review queue. Best
/// effort: the request is written.
async fn confirm_remote(provider: &Provider, account_id: &str) {
    let id = account_id.to_owned();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id));
    let email = match account.await {
        Ok(Some(account)) => account.email,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "online request notice: the account could not be read");
            return;
        }
    };
    let url = format!("{}/compte", provider.core.config.issuer());
    let message = crate::notify::citizen::remote_submitted(&email, &url);
    crate::notify::citizen::send(&provider.core.notifier, "online request", (message, None)).await;
}

/// The person withdraws their open request: back to `identity_submitted`.
pub async fn cancel_request(provider: &Provider, account_id: &str) -> Result<bool, EnrolError> {
    let id = account_id.to_owned();
    let Some(request) = provider
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await?
    else {
        return Ok(false);
    };
    let rid = request.id.clone();
    let from = request.status;
    if request.status == RequestStatus::Collecting {
        let aid = account_id.to_owned();
        return Ok(provider
            .core
            .db
            .write(move |conn| {
                let done = rows::set_request_status(
                    conn,
                    &rid,
                    RequestStatus::Collecting,
                    RequestEvent::Cancel,
                )?;
                if done {
                    audit(
                        conn,
                        &aid,
                        "enrolment.request_cancelled",
                        serde_json::json!({}),
                    )?;
                }
                Ok(done)
            })
            .await?);
    }
    let applied = apply(
        provider,
        account_id,
        AccountEvent::CancelVerification,
        "enrolment.request_cancelled",
        serde_json::json!({ "request": request.id }),
        move |conn| {
            if rows::set_request_status(conn, &rid, from, RequestEvent::Cancel)? {
                Ok(())
            } else {
                Err(StoreError::Corrupt(
                    "request changed while cancelling".into(),
                ))
            }
        },
    )
    .await?;
    Ok(applied.is_ok())
}

/// What the account page shows.
pub struct Overview {
    pub email: String,
    pub phone: Option<String>,
    pub state: AccountState,
    pub request: Option<Request>,
    pub identity: Option<Identity>,
    /// The identity document's last valid day (`YYYY-MM-DD`).
    pub document_expires_on: Option<String>,
}

pub async fn overview(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<Overview>, EnrolError> {
    let id = account_id.to_owned();
    Ok(provider
        .core
        .db
        .read(move |conn| {
            let Some(account) = accounts::by_id(conn, &id)? else {
                return Ok(None);
            };
            let state = account.state;
            Ok(Some(Overview {
                email: account.email,
                phone: account.phone,
                state,
                // The open request first: a new one and the refused one it
                // follows may bear the same second.
                request: match rows::open_request(conn, &id)? {
                    Some(open) => Some(open),
                    None => rows::latest_request(conn, &id)?,
                }
                .map(Request::from),
                identity: accounts::identity(conn, &id)?.map(Identity::from),
                document_expires_on: rows::document(conn, &id)?.map(|d| d.expires_on),
            }))
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::{MediaKind, sniff};

    /// An `ftyp` box with `major` and `compatible` brands, then some bytes.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
        out
    }

    #[test]
    fn videos_are_typed_by_their_bytes() {
        let video = |bytes: &[u8]| sniff(MediaKind::Video, bytes);
        assert_eq!(video(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]), Some("video/webm"));
        assert_eq!(
            video(&ftyp(b"mp42", &[b"isom", b"mp42"])),
            Some("video/mp4")
        );
        assert_eq!(video(&ftyp(b"isom", &[b"avc1"])), Some("video/mp4"));
        assert_eq!(video(&ftyp(b"qt  ", &[b"qt  "])), Some("video/quicktime"));
        // An unknown major brand with a known compatible one.
        assert_eq!(
            video(&ftyp(b"M4V ", &[b"M4V ", b"mp42"])),
            Some("video/mp4")
        );
        // An HEIC photo and an M4A sound are ISO BMFF too, but not video.
        assert_eq!(video(&ftyp(b"heic", &[b"mif1", b"heic"])), None);
        assert_eq!(video(&ftyp(b"M4A ", &[b"M4A "])), None);
        // A box that claims more bytes than the file has, or is not `ftyp`.
        let mut short = ftyp(b"mp42", &[]);
        short[3] = 200;
        assert_eq!(video(&short), None);
        let mut moov = ftyp(b"mp42", &[]);
        moov[4..8].copy_from_slice(b"moov");
        assert_eq!(video(&moov), None);
        assert_eq!(video(b"\xFF\xD8\xFF"), None);
        assert_eq!(video(b""), None);
        // A photo is never a video, nor the reverse.
        assert_eq!(sniff(MediaKind::Front, &ftyp(b"mp42", &[])), None);
    }
}
