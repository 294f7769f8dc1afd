//! Account support (`/comptes`, administrators): find an account, see it,
//! suspend it or lift the suspension, send a new activation code, revoke a
//! device, all through `idp_server::support` (the CLI's `accounts` calls the
//! same functions).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::domain::account::{AccountState, VerificationMethod};
use idp_server::notify::mask_phone;
use idp_server::support::{self, Overview, SupportError};
use idp_server::views::Account;
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;

use super::Console;
use super::decision::IdentityView;
use super::page::{Failure, Frame, see_other, with_status};
use super::session::{AdminSession, AgentSession};
use crate::format_time as when;

const TITLE: &str = "Assistance aux comptes";

struct DeviceView {
    id: String,
    name: String,
    state: &'static str,
    created: String,
    last_used: Option<String>,
    revocable: bool,
}

struct FraudView {
    at: String,
    partner: String,
    place: String,
}

struct EntryView {
    at: String,
    action: String,
    actor: String,
}

struct AccountView {
    id: String,
    email: String,
    state: String,
    phone: String,
    created: String,
    identity: Option<IdentityView>,
    verified: String,
    request: Option<String>,
    activation_until: Option<String>,
    devices: Vec<DeviceView>,
    suspended: bool,
    may_reissue: bool,
    may_block: bool,
    frauds: Vec<FraudView>,
    audit: Vec<EntryView>,
}

fn method_label(method: VerificationMethod) -> &'static str {
    match method {
        VerificationMethod::Remote => "en ligne",
        VerificationMethod::FaceToFace => "face à face",
    }
}

impl AccountView {
    fn new(row: &Account, o: &Overview, frauds: &[support::FraudReport]) -> Self {
        let verified = match o
            .identity
            .as_ref()
            .map(|i| (i.verified_at, i.verification_method))
        {
            Some((Some(t), Some(m))) => {
                format!("Vérifiée le {} ({})", when(t), method_label(m))
            }
            _ => "Déclarée, non vérifiée".to_owned(),
        };
        let request = o.request.as_ref().map(|r| {
            let reference = r
                .reference
                .as_deref()
                .map(|x| format!(", référence {x}"))
                .unwrap_or_default();
            let reason = r
                .reason
                .as_deref()
                .map(|x| format!(", motif : {x}"))
                .unwrap_or_default();
            format!(
                "{} — {}{reference}{reason}",
                method_label(r.method),
                r.status
            )
        });
        AccountView {
            id: row.id.clone(),
            email: row.email.clone(),
            state: row.state.as_str().to_owned(),
            phone: row
                .phone
                .as_deref()
                .map(mask_phone)
                .unwrap_or_else(|| "—".into()),
            created: when(row.created_at),
            identity: o.identity.as_ref().map(IdentityView::from),
            verified,
            request,
            activation_until: o.activation.as_ref().map(|a| when(a.expires_at)),
            devices: o
                .devices
                .iter()
                .map(|d| DeviceView {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    state: match d.state.as_str() {
                        "active" => "actif",
                        "locked" => "bloqué (3 codes secrets erronés)",
                        _ => "révoqué",
                    },
                    created: when(d.created_at),
                    last_used: d.last_used_at.map(when),
                    revocable: d.state != idp_server::domain::device::DeviceState::Revoked,
                })
                .collect(),
            suspended: row.state == AccountState::Suspended,
            may_block: matches!(
                row.state,
                AccountState::Verified
                    | AccountState::Active
                    | AccountState::DeviceLocked
                    | AccountState::ApprovalsPaused
            ),
            may_reissue: matches!(
                row.state,
                AccountState::Verified
                    | AccountState::Active
                    | AccountState::DeviceLocked
                    | AccountState::Blocked
            ),
            frauds: frauds
                .iter()
                .map(|f| FraudView {
                    at: when(f.at),
                    partner: f.partner.clone(),
                    place: if f.place.is_empty() {
                        "inconnue".to_owned()
                    } else {
                        f.place.clone()
                    },
                })
                .collect(),
            audit: o
                .audit
                .iter()
                .map(|e| EntryView {
                    at: when(e.at),
                    action: e.action.clone(),
                    actor: e.actor.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "support.html")]
pub struct SupportPage {
    frame: Frame,
    csrf: String,
    q: String,
    account: Option<AccountView>,
}

/// The search form alone, `q` typed in.
pub fn search_page<S>(
    s: &AgentSession<S>,
    q: &str,
    frame: impl FnOnce(Frame) -> Frame,
) -> SupportPage {
    SupportPage {
        frame: frame(s.frame(TITLE)),
        csrf: s.csrf().to_owned(),
        q: q.to_owned(),
        account: None,
    }
}

/// What the page adds to the frame: a notice after an action, or a refusal.
struct Said {
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
}

impl Said {
    fn nothing() -> Self {
        Said {
            notice: None,
            error: None,
            status: StatusCode::OK,
        }
    }

    fn refusal(error: String, status: StatusCode) -> Self {
        Said {
            notice: None,
            error: Some(error),
            status,
        }
    }
}

async fn account_page(
    console: &Console,
    s: &AdminSession,
    q: &str,
    said: Said,
) -> Result<HttpResponse, Failure> {
    let Said {
        notice,
        error,
        status,
    } = said;
    let frame = |f: Frame| f.notice(notice).maybe_error(error);
    if q.is_empty() {
        return with_status(status, &search_page(s, "", frame));
    }
    let found = match support::Lookup::parse(q) {
        Ok(lookup) => support::find(&console.core.db, &lookup).await,
        Err(e) => Err(e),
    };
    let row = match found {
        Ok(row) => row,
        Err(SupportError::Refused(m)) => {
            return with_status(StatusCode::NOT_FOUND, &search_page(s, q, |f| f.error(m)));
        }
        Err(e) => return Err(e.into()),
    };
    let overview = support::overview(&console.core.db, &row.id).await?;
    let frauds = support::fraud_reports(&console.core.db, &row.id).await?;
    let page = SupportPage {
        account: Some(AccountView::new(&row, &overview, &frauds)),
        ..search_page(s, q, frame)
    };
    with_status(status, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SupportQuery {
    q: String,
    fait: String,
}

/// The notice after an action, named by the redirect's `fait` parameter:
/// only fixed notices travel in the URL; refusals are rendered directly.
fn done_notice(fait: &str) -> Option<&'static str> {
    match fait {
        "suspendu" => Some("Compte suspendu."),
        "retabli" => Some("Suspension levée."),
        "activation" => Some("Nouveau code d'activation envoyé par SMS et par courriel."),
        "appareil" => Some("Appareil révoqué."),
        "bloque" => Some(
            "Identité bloquée : appareils révoqués, sessions fermées, citoyen prévenu par courriel et SMS.",
        ),
        _ => None,
    }
}

pub async fn support_get(
    console: web::Data<Console>,
    s: AdminSession,
    query: web::Query<SupportQuery>,
) -> Result<HttpResponse, Failure> {
    let said = Said {
        notice: done_notice(&query.fait).map(str::to_owned),
        ..Said::nothing()
    };
    account_page(&console, &s, query.q.trim(), said).await
}

/// What an administrator can do to an account, by its path segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Suspend,
    Unsuspend,
    Reissue,
    RevokeDevice,
    Block,
}

impl Action {
    fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "suspendre" => Action::Suspend,
            "retablir" => Action::Unsuspend,
            "activation" => Action::Reissue,
            "revoquer-appareil" => Action::RevokeDevice,
            "bloquer" => Action::Block,
            _ => return None,
        })
    }

    /// The notice named in the redirect once done.
    fn done(self) -> &'static str {
        match self {
            Action::Suspend => "suspendu",
            Action::Unsuspend => "retabli",
            Action::Reissue => "activation",
            Action::RevokeDevice => "appareil",
            Action::Block => "bloque",
        }
    }

    fn missing_reason(self, reason: &str) -> Option<&'static str> {
        if !reason.trim().is_empty() {
            return None;
        }
        match self {
            Action::Suspend => Some("Indiquez le motif de la suspension."),
            Action::RevokeDevice => Some("Indiquez le motif de la révocation de l'appareil."),
            Action::Unsuspend | Action::Reissue | Action::Block => None,
        }
    }

    /// Performs the action: `None` when done, else what the account page
    /// says of the refusal.
    async fn attempt(
        self,
        console: &Console,
        row: &Account,
        actor: &str,
        form: &ActionForm,
    ) -> Result<Option<Said>, Failure> {
        if let Some(message) = self.missing_reason(&form.reason) {
            let said = Said::refusal(message.to_owned(), StatusCode::BAD_REQUEST);
            return Ok(Some(said));
        }
        match self.perform(console, row, actor, form).await {
            Ok(()) => Ok(None),
            // Refusals are rendered on the account's page, never put in a URL.
            Err(SupportError::Refused(m)) => Ok(Some(Said::refusal(m, StatusCode::CONFLICT))),
            Err(e) => Err(e.into()),
        }
    }

    async fn perform(
        self,
        console: &Console,
        row: &Account,
        actor: &str,
        form: &ActionForm,
    ) -> Result<(), SupportError> {
        let (core, reason) = (&console.core, form.reason.as_str());
        match self {
            Action::Suspend => support::suspend(&core.db, row, actor, reason)
                .await
                .map(drop),
            Action::Unsuspend => support::unsuspend(&core.db, row, actor, Some(reason.to_owned()))
                .await
                .map(drop),
            Action::Reissue => support::reissue_activation(core, row, actor)
                .await
                .map(drop),
            Action::RevokeDevice => {
                support::revoke_device(core, row, &form.device, actor, reason).await
            }
            Action::Block => support::block(core, row, actor).await.map(drop),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    reason: String,
    device: String,
}

/// The account named in the path, or the search page saying there is none.
async fn account_of(
    console: &Console,
    s: &AdminSession,
    id: &str,
) -> Result<Result<Account, HttpResponse>, Failure> {
    match support::by_id(&console.core.db, id).await {
        Ok(row) => Ok(Ok(row)),
        Err(SupportError::Refused(m)) => {
            with_status(StatusCode::NOT_FOUND, &search_page(s, "", |f| f.error(m))).map(Err)
        }
        Err(e) => Err(e.into()),
    }
}

/// Where the browser goes once `action` is done: the account, with a fixed notice.
fn done_location(row: &Account, action: Action) -> String {
    let email: String = url::form_urlencoded::byte_serialize(row.email.as_bytes()).collect();
    format!("/comptes?q={email}&fait={}", action.done())
}

pub async fn support_action(
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    CsrfForm { form, bound: s }: CsrfForm<ActionForm, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let (account_id, segment) = path.into_inner();
    let row = match account_of(&console, &s, &account_id).await? {
        Ok(row) => row,
        Err(page) => return Ok(page),
    };
    let action = Action::parse(&segment).ok_or(Failure::NotFound)?;
    match action.attempt(&console, &row, &s.actor(), &form).await? {
        None => Ok(see_other(&done_location(&row, action))),
        Some(said) => account_page(&console, &s, &row.email, said).await,
    }
}
