//! "Télécharger mes données" (a JSON download) and "Supprimer mon identité
//! numérique" (password → email code → final confirmation → done), over
//! `crate::citizen::rgpd`. Every form is bound to the signed-in session
//! (`CsrfForm<_, Session>`); each handler calls one service.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::password::{CodeForm, NoFields, PasswordForm, back};
use crate::citizen::rgpd::{self, Erasing, Stage};
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::cookies;
use crate::web::csrf::CsrfForm;
use crate::web::enrol::extract::{ClientIp, Session};
use crate::web::enrol::page::{Field, HomePage, OnPage, StepPage, see_other};
use crate::web::error::{OrPage, PageError, WebError};
use crate::web::i18n;
use crate::web::pages::html;

pub const EXPORT: &str = "/compte/mes-donnees";
pub const DELETE: &str = "/compte/supprimer";
pub const DELETE_CODE: &str = "/compte/supprimer/code";
pub const DELETE_CONFIRM: &str = "/compte/supprimer/confirmer";
pub const DELETED: &str = "/compte/supprimer/terminee";

fn password_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let page = StepPage::new(lang, t.rgpd.delete_title, DELETE, csrf)
        .intro(t.rgpd.delete_intro)
        .field(
            Field::input("password", t.rgpd.delete_password, "password", "")
                .autocomplete("current-password")
                .error(error),
        )
        .submit(t.enrol.send_code);
    back(page)
}

fn code_page(lang: Lang, csrf: &str, sent_to: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let page = StepPage::new(lang, t.rgpd.code_title, DELETE_CODE, csrf)
        .intro(&(t.rgpd.code_sent)(sent_to))
        .field(
            Field::input("code", t.enrol.code_label, "text", "")
                .autocomplete("one-time-code")
                .numeric()
                .error(error),
        )
        .submit(t.enrol.confirm);
    back(page)
}

fn confirm_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(lang, t.rgpd.confirm_title, DELETE_CONFIRM, csrf)
        .intro(t.rgpd.confirm_intro)
        .submit(t.rgpd.confirm_button);
    page.error = error;
    back(page)
}

/// Where a deletion at another stage (or none) continues.
fn elsewhere(at: Option<&Erasing>, here: Stage) -> Option<HttpResponse> {
    match at.map(|e| e.stage) {
        Some(stage) if stage == here => None,
        None | Some(Stage::Done) => Some(see_other(DELETE)),
        Some(Stage::CodeSent) => Some(see_other(DELETE_CODE)),
        Some(Stage::Confirmed) => Some(see_other(DELETE_CONFIRM)),
    }
}

async fn progress(provider: &Provider, session: &Session) -> Result<Option<Erasing>, PageError> {
    rgpd::progress(provider, &session.cookie, &session.account_id)
        .await
        .or_page(session.lang)
}

/// The JSON file of everything held about the account (no secret).
pub async fn export_get(
    provider: web::Data<Provider>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let export = rgpd::export(&provider.core, &session.account_id)
        .await
        .or_page(lang)?;
    let export = export.ok_or_else(|| PageError::see_other(lang, "/compte/connexion"))?;
    let body = serde_json::to_vec_pretty(&export)
        .map_err(|e| PageError::failure(lang, WebError::Internal(e.to_string())))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"sesame-mes-donnees.json\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

pub async fn delete_get(session: Session) -> HttpResponse {
    password_page(session.lang, &session.csrf, None).render(StatusCode::OK)
}

pub async fn delete_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<PasswordForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let started = rgpd::start(
        &provider,
        &bound.cookie,
        &bound.account_id,
        &form.password,
        &ip,
    );
    started
        .await
        .on_page(lang, |error| password_page(lang, &bound.csrf, Some(error)))?;
    Ok(see_other(DELETE_CODE))
}

pub async fn code_get(
    provider: web::Data<Provider>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let at = progress(&provider, &session).await?;
    if let Some(next) = elsewhere(at.as_ref(), Stage::CodeSent) {
        return Ok(next);
    }
    let email = at.map(|e| e.email).unwrap_or_default();
    code_page(session.lang, &session.csrf, &email, None).ok()
}

pub async fn code_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let at = progress(&provider, &bound).await?;
    let email = at.map(|e| e.email).unwrap_or_default();
    rgpd::verify_code(&provider, &bound.cookie, &bound.account_id, &form.code)
        .await
        .on_page(lang, |error| {
            code_page(lang, &bound.csrf, &email, Some(error))
        })?;
    Ok(see_other(DELETE_CONFIRM))
}

pub async fn confirm_get(
    provider: web::Data<Provider>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let at = progress(&provider, &session).await?;
    if let Some(next) = elsewhere(at.as_ref(), Stage::Confirmed) {
        return Ok(next);
    }
    confirm_page(session.lang, &session.csrf, None).ok()
}

/// Deletes the identity; the session ends with it.
pub async fn confirm_post(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    rgpd::erase(&provider, &bound.cookie, &bound.account_id)
        .await
        .on_page(lang, |error| confirm_page(lang, &bound.csrf, Some(error)))?;
    let mut response = see_other(DELETED);
    let _ = response.add_cookie(&cookies::clear_session(&provider));
    Ok(response)
}

pub async fn deleted_get(lang: Lang) -> HttpResponse {
    let r = i18n::texts(lang).rgpd;
    let mut page = StepPage::new(lang, r.done_title, "", "");
    page.intro = vec![r.done.to_owned(), r.done_again.to_owned()];
    page.links.push(("/".to_owned(), r.home_link.to_owned()));
    html(StatusCode::OK, &HomePage { page })
}
