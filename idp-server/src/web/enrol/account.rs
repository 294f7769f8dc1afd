//! The account page (`/compte`): where the enrolment stands, what comes
//! next, and the actions on the open verification request.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::NoFields;
use super::extract::{AccountAt, Anywhere, Session, step_for};
use super::page::see_other;
use crate::domain::account::{AccountState, VerificationMethod};
use crate::enrol::{self, Overview, ReferenceResent};
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::web::citizen::devices::{DeviceLine, IdentityLines, device_lines, identity_lines};
use crate::web::cookies;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, EnrolTexts};
use crate::web::pages::html;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    t: &'static i18n::Texts,
    email: String,
    phone: Option<String>,
    name: Option<String>,
    status: String,
    next: String,
    reference: Option<String>,
    qr: String,
    continue_link: Option<(String, String)>,
    can_cancel: bool,
    can_resume: bool,
    /// Where the app is, once there is an identity to activate it with.
    show_app: bool,
    /// The verified identity's document expires soon or has expired.
    renewal: Option<String>,
    notice: Option<String>,
    csrf: String,
    /// The declared identity's lines and whether (when) it was verified.
    identity: Option<IdentityLines>,
    /// The account's devices (`web::citizen::devices`).
    devices: Vec<DeviceLine>,
    /// The mobile change is offered once the account has a number.
    can_change_mobile: bool,
}

/// The state's name and what the person does next.
fn status_and_next(e: &EnrolTexts, overview: &Overview, open: bool) -> (String, String) {
    let (status, next) = match overview.state {
        AccountState::EmailVerified | AccountState::PhoneVerified => {
            (e.status_enrolling, e.next_enrolling)
        }
        AccountState::IdentitySubmitted if open => (e.status_declared, e.next_online),
        AccountState::IdentitySubmitted => (e.status_declared, e.next_choose),
        AccountState::AwaitingVerification(VerificationMethod::FaceToFace) => {
            (e.status_face_to_face, e.next_face_to_face)
        }
        AccountState::AwaitingVerification(VerificationMethod::Remote) => {
            (e.status_remote, e.next_remote)
        }
        AccountState::Verified => (e.status_verified, e.next_verified),
        AccountState::Active => (e.status_active, e.next_active),
        AccountState::Rejected => {
            // The category, never the agent's own words.
            let category = overview.request.as_ref().and_then(|r| r.reason_category);
            let reason = category
                .map(|c| format!(" : {}", (e.refusal_category)(c)))
                .unwrap_or_default();
            return (e.status_rejected.to_owned(), (e.next_rejected)(&reason));
        }
        AccountState::Suspended => (e.status_suspended, e.next_suspended),
        AccountState::DeviceLocked => (e.status_locked, e.next_locked),
        AccountState::Blocked => (e.status_blocked, e.next_blocked),
        AccountState::ApprovalsPaused => (e.status_paused, e.next_paused),
    };
    (status.to_owned(), next.to_owned())
}

/// Where the person continues: after a refusal, the identity form again
/// ("Corriger mes informations", pre-filled with what was submitted).
fn continue_link(
    t: &i18n::Texts,
    state: AccountState,
    step: &str,
    renew: bool,
) -> Option<(String, String)> {
    if renew || (state == AccountState::Rejected && step == "/compte") {
        let label = t.enrol.correct_information.to_owned();
        return Some((CORRECT.to_owned(), label));
    }
    (step != "/compte").then(|| (step.to_owned(), t.continue_label.to_owned()))
}

/// A verified identity whose document expires within 30 days (or has
/// expired): what to do, before eidas2 logins stop.
fn renewal(t: &i18n::Texts, overview: &Overview) -> Option<String> {
    let renewable = matches!(
        overview.state,
        AccountState::Verified | AccountState::Active | AccountState::DeviceLocked
    );
    let expires = overview
        .document_expires_on
        .as_deref()
        .filter(|_| renewable)?;
    let soon = enrol::today().checked_add_days(chrono::Days::new(RENEW_DAYS))?;
    if !crate::domain::document::has_expired(expires, soon) {
        return None;
    }
    let day = chrono::NaiveDate::parse_from_str(expires, "%Y-%m-%d").ok()?;
    Some((t.enrol.renew_document)(
        &day.format("%d/%m/%Y").to_string(),
    ))
}

/// How long before its expiry a document may be renewed from `/compte` (the
/// reminder's 30 days).
const RENEW_DAYS: u64 = 30;

/// The identity form, reopened with the previous values after a refusal.
const CORRECT: &str = "/inscription/identite";

fn account_page(
    lang: Lang,
    csrf: &str,
    overview: Overview,
    devices: Vec<DeviceLine>,
    notice: Option<&str>,
) -> HttpResponse {
    let t = i18n::texts(lang);
    let open = overview.request.as_ref().filter(|r| r.status.is_open());
    let reference = open.and_then(|r| r.reference.clone());
    let awaited = AccountState::AwaitingVerification(VerificationMethod::FaceToFace);
    let home_visit = overview.state == awaited && open.is_some_and(|r| r.home_visit);
    let (status, next) = match home_visit {
        true => (
            t.face.status_home_visit.into(),
            t.face.next_home_visit.into(),
        ),
        false => status_and_next(t.enrol, &overview, open.is_some()),
    };
    let step = step_for(overview.state, overview.request.as_ref());
    let renewal = renewal(t, &overview);
    let page = AccountPage {
        t,
        can_cancel: open.is_some(),
        can_resume: overview.state == AccountState::ApprovalsPaused,
        show_app: matches!(
            overview.state,
            AccountState::Verified | AccountState::Active | AccountState::DeviceLocked
        ),
        identity: overview.identity.as_ref().map(|i| identity_lines(t, i)),
        devices,
        can_change_mobile: overview.phone.is_some(),
        continue_link: continue_link(t, overview.state, step, renewal.is_some()),
        renewal,
        name: overview
            .identity
            .as_ref()
            .map(|i| format!("{} {}", i.given_name, i.family_name)),
        phone: overview
            .phone
            .as_deref()
            .and_then(|p| crate::domain::phone::FrenchMobile::parse(p).ok())
            .map(|p| p.masked()),
        email: overview.email,
        status,
        next,
        qr: reference
            .as_deref()
            .map(enrol::reference_qr)
            .unwrap_or_default(),
        reference,
        notice: notice.map(str::to_owned),
        csrf: csrf.to_owned(),
    };
    html(StatusCode::OK, &page)
}

/// The account page after an action, read again.
pub(crate) async fn after_action(
    provider: &Provider,
    session: &Session,
    notice: &str,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let overview = enrol::overview(provider, &session.account_id)
        .await
        .or_page(lang)?;
    let overview = overview.ok_or_else(|| PageError::see_other(lang, "/compte/connexion"))?;
    let devices = device_lines(provider, lang, &session.account_id).await?;
    Ok(account_page(
        lang,
        &session.csrf,
        overview,
        devices,
        Some(notice),
    ))
}

pub async fn account_get(
    provider: web::Data<Provider>,
    at: AccountAt<Anywhere>,
) -> Result<HttpResponse, PageError> {
    let AccountAt {
        session, overview, ..
    } = at;
    let devices = device_lines(&provider, session.lang, &session.account_id).await?;
    Ok(account_page(
        session.lang,
        &session.csrf,
        overview,
        devices,
        None,
    ))
}

pub async fn account_resend(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    let e = i18n::texts(bound.lang).enrol;
    let resent = enrol::resend_reference(&provider, &bound.account_id).await;
    match resent.or_page(bound.lang)? {
        ReferenceResent::Sent => after_action(&provider, &bound, e.reference_resent).await,
        ReferenceResent::TooSoon => after_action(&provider, &bound, e.reference_just_sent).await,
        ReferenceResent::Nothing => Ok(see_other("/compte")),
    }
}

pub async fn account_cancel(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    let e = i18n::texts(bound.lang).enrol;
    enrol::cancel_request(&provider, &bound.account_id)
        .await
        .or_page(bound.lang)?;
    after_action(&provider, &bound, e.request_cancelled).await
}

/// "C'était bien moi": approvals resume after three fraud reports.
pub async fn account_resume(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    let e = i18n::texts(bound.lang).enrol;
    crate::citizen::block::resume_approvals(&provider.core, &bound.account_id)
        .await
        .or_page(bound.lang)?;
    after_action(&provider, &bound, e.approvals_resumed).await
}

pub async fn account_logout(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    session::destroy(&provider, &bound.cookie)
        .await
        .or_page(bound.lang)?;
    let mut response = see_other("/");
    let _ = response.add_cookie(&cookies::clear_session(&provider));
    Ok(response)
}
