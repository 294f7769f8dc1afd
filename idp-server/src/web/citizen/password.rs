//! The forgotten password (email → code → new password → done) and the
//! password change from the account page. Every form is bound to its
//! browser's cookie (`CsrfForm`); each handler calls one service.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::Resetting;
use crate::citizen::password::{self, Stage};
use crate::domain::email::Email;
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::web::cookies;
use crate::web::csrf::CsrfForm;
use crate::web::enrol::extract::{Browser, ClientIp, NewBrowser, Session};
use crate::web::enrol::page::{Field, HomePage, OnPage, OnResend, StepPage, refused, see_other};
use crate::web::enrol::refusals::InvalidEmail;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n;
use crate::web::pages::html;

pub const RESET: &str = "/compte/mot-de-passe-oublie";
pub const RESET_CODE: &str = "/compte/mot-de-passe-oublie/code";
pub const RESET_RESEND: &str = "/compte/mot-de-passe-oublie/renvoyer";
pub const RESET_NEW: &str = "/compte/mot-de-passe-oublie/nouveau";
pub const RESET_DONE: &str = "/compte/mot-de-passe-oublie/termine";
pub const CHANGE: &str = "/compte/mot-de-passe";
pub const CHANGED: &str = "/compte/mot-de-passe/modifie";

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

/// A 6-digit code, the form every code page of the citizen pages posts.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    pub(super) code: String,
}

/// The current password alone (blocking, deletion).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    pub(super) password: String,
}

/// `page` with the link back to `/compte`.
pub(super) fn back(mut page: StepPage) -> StepPage {
    let link = page.t.citizen.back_to_account;
    page.links.push(("/compte".to_owned(), link.to_owned()));
    page
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewPasswordForm {
    password: String,
    password_confirmation: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangeForm {
    current_password: String,
    password: String,
    password_confirmation: String,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

/// `?renvoye=1` after a code was sent again.
#[derive(Deserialize)]
pub struct ResentQuery {
    pub(super) renvoye: Option<String>,
}

fn email_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    StepPage::new(lang, t.citizen.reset_title, RESET, csrf)
        .intro(t.citizen.reset_intro)
        .field(
            Field::input("email", t.email_label, "email", value)
                .autocomplete("email")
                .error(error),
        )
        .submit(t.enrol.send_code)
}

fn code_page(lang: Lang, csrf: &str, sent_to: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(lang, t.citizen.reset_code_title, RESET_CODE, csrf)
        .intro(&(t.citizen.reset_code_sent)(sent_to))
        .field(
            Field::input("code", t.enrol.code_label, "text", "")
                .autocomplete("one-time-code")
                .numeric()
                .error(error),
        )
        .submit(t.enrol.confirm);
    page.secondary
        .push((RESET_RESEND.to_owned(), t.enrol.resend_code.to_owned()));
    page
}

/// The new password and its confirmation (never sent back).
fn new_password_fields(t: &i18n::Texts, page: StepPage, error: Option<String>) -> StepPage {
    page.field(
        Field::input("password", t.citizen.new_password_label, "password", "")
            .autocomplete("new-password")
            .hint(t.enrol.password_hint)
            .error(error),
    )
    .field(
        Field::input(
            "password_confirmation",
            t.enrol.password_confirmation,
            "password",
            "",
        )
        .autocomplete("new-password"),
    )
}

fn new_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let page = StepPage::new(lang, t.citizen.new_password_title, RESET_NEW, csrf);
    new_password_fields(t, page, error).submit(t.citizen.reset_submit)
}

fn change_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(lang, t.citizen.change_title, CHANGE, csrf)
        .intro(t.citizen.change_intro)
        .field(
            Field::input(
                "current_password",
                t.citizen.current_password_label,
                "password",
                "",
            )
            .autocomplete("current-password"),
        );
    page.error = error;
    let mut page = new_password_fields(t, page, None).submit(t.citizen.reset_submit);
    page.links
        .push(("/compte".to_owned(), t.citizen.back_to_account.to_owned()));
    page
}

/// A page without a form: a title, its lines and one link.
pub(super) fn notice_page(
    lang: Lang,
    title: &str,
    lines: &[&str],
    link: (&str, &str),
) -> HttpResponse {
    let mut page = StepPage::new(lang, title, "", "");
    page.intro = lines.iter().map(|l| (*l).to_owned()).collect();
    page.links.push((link.0.to_owned(), link.1.to_owned()));
    html(StatusCode::OK, &HomePage { page })
}

/// Where a reset past (or before) the page's stage continues.
fn elsewhere(at: &Resetting, here: Stage) -> Option<HttpResponse> {
    match at.reset.stage {
        stage if stage == here => None,
        Stage::CodeSent => Some(see_other(RESET_CODE)),
        Stage::Verified => Some(see_other(RESET_NEW)),
        Stage::Done => Some(see_other(RESET_DONE)),
    }
}

pub async fn reset_get(browser: NewBrowser) -> HttpResponse {
    let page = email_page(browser.lang, &browser.csrf, "", None);
    browser.respond(page.render(StatusCode::OK))
}

pub async fn reset_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<EmailForm, Browser>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let page = |error| email_page(lang, &bound.csrf, &form.email, Some(error));
    let email = Email::parse(&form.email).map_err(|_| refused(lang, &InvalidEmail, page))?;
    password::start_reset(&provider, &bound.cookie, &email, &ip)
        .await
        .on_page(lang, page)?;
    Ok(see_other(RESET_CODE))
}

pub async fn code_get(
    at: Resetting,
    query: web::Query<ResentQuery>,
) -> Result<HttpResponse, PageError> {
    if let Some(next) = elsewhere(&at, Stage::CodeSent) {
        return Ok(next);
    }
    let mut page = code_page(at.lang, &at.csrf, &at.reset.email, None);
    if query.renvoye.is_some() {
        page.intro.push(page.t.enrol.code_resent.to_owned());
    }
    page.ok()
}

pub async fn code_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, Resetting>,
) -> Result<HttpResponse, PageError> {
    let (lang, email) = (bound.lang, &bound.reset.email);
    password::verify_code(&provider, &bound.cookie, &form.code)
        .await
        .on_page(lang, |error| {
            code_page(lang, &bound.csrf, email, Some(error))
        })?;
    Ok(see_other(RESET_NEW))
}

pub async fn resend_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Resetting>,
) -> Result<HttpResponse, PageError> {
    let (lang, address) = (bound.lang, &bound.reset.email);
    let Ok(email) = Email::parse(address) else {
        return Ok(see_other(RESET));
    };
    let page = |error| code_page(lang, &bound.csrf, address, error);
    let sent = password::start_reset(&provider, &bound.cookie, &email, &ip).await;
    sent.on_resend(lang, page, &format!("{RESET_CODE}?renvoye=1"))
}

pub async fn new_get(at: Resetting) -> Result<HttpResponse, PageError> {
    if let Some(next) = elsewhere(&at, Stage::Verified) {
        return Ok(next);
    }
    new_page(at.lang, &at.csrf, None).ok()
}

pub async fn new_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<NewPasswordForm, Resetting>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let (new, confirmation) = (&form.password, &form.password_confirmation);
    password::finish_reset(&provider, &bound.cookie, new, confirmation)
        .await
        .on_page(lang, |error| new_page(lang, &bound.csrf, Some(error)))?;
    Ok(see_other(RESET_DONE))
}

pub async fn done_get(lang: Lang) -> HttpResponse {
    let c = i18n::texts(lang).citizen;
    let lines = [c.reset_done, c.reset_done_eidas2];
    let link = ("/compte/connexion", c.login_link);
    notice_page(lang, c.reset_done_title, &lines, link)
}

pub async fn change_get(session: Session) -> HttpResponse {
    change_page(session.lang, &session.csrf, None).render(StatusCode::OK)
}

/// Every session of the account ends; this browser gets a fresh one.
pub async fn change_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<ChangeForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let (current, new, again) = (
        &form.current_password,
        &form.password,
        &form.password_confirmation,
    );
    let changed = password::change(&provider, &bound.account_id, current, new, again, &ip);
    let changed = changed
        .await
        .on_page(lang, |error| change_page(lang, &bound.csrf, Some(error)))?;
    let fresh = session::create_after(&provider, &changed.auth, changed.revoked_at_ms);
    let mut response = see_other(CHANGED);
    let _ = response.add_cookie(&cookies::session(&provider, fresh.await.or_page(lang)?));
    Ok(response)
}

pub async fn changed_get(session: Session) -> HttpResponse {
    let c = i18n::texts(session.lang).citizen;
    let link = ("/compte", c.back_to_account);
    notice_page(session.lang, c.change_title, &[c.changed_notice], link)
}
