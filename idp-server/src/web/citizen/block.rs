//! "Bloquer mon identité numérique" (`/compte/bloquer`): password → email
//! code → blocked, over `crate::citizen::self_block`. Every form is bound
//! to the signed-in session (`CsrfForm<_, Session>`); the last page needs
//! none, since the block ends every session of the account.

use actix_web::{HttpResponse, web};

use super::password::{CodeForm, PasswordForm, back, notice_page};
use crate::citizen::self_block;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::enrol::extract::{ClientIp, Session};
use crate::web::enrol::page::{Field, OnPage, StepPage, see_other};
use crate::web::error::{OrPage, PageError};
use crate::web::i18n;

pub const BLOCK: &str = "/compte/bloquer";
pub const BLOCK_CODE: &str = "/compte/bloquer/code";
pub const BLOCKED: &str = "/compte/bloquer/termine";

fn password_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let page = StepPage::new(lang, t.life.block_title, BLOCK, csrf)
        .intro(t.life.block_intro)
        .field(
            Field::input("password", t.password_label, "password", "")
                .autocomplete("current-password")
                .error(error),
        )
        .submit(t.life.block_send_code);
    back(page)
}

fn code_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let page = StepPage::new(lang, t.life.block_code_title, BLOCK_CODE, csrf)
        .intro(t.life.block_code_sent)
        .field(
            Field::input("code", t.enrol.code_label, "text", "")
                .autocomplete("one-time-code")
                .numeric()
                .error(error),
        )
        .submit(t.life.block_submit);
    back(page)
}

/// Only a verified identity (with or without its app) can be blocked.
fn not_blockable(lang: Lang) -> HttpResponse {
    let t = i18n::texts(lang);
    let back = ("/compte", t.citizen.back_to_account);
    notice_page(lang, t.life.block_title, &[t.life.not_blockable], back)
}

pub async fn block_get(
    provider: web::Data<Provider>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let state = self_block::state(&provider, &session.account_id).await;
    if !state.or_page(lang)?.is_some_and(self_block::blockable) {
        return Ok(not_blockable(lang));
    }
    password_page(lang, &session.csrf, None).ok()
}

pub async fn block_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<PasswordForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let (cookie, account) = (&bound.cookie, &bound.account_id);
    self_block::start(&provider, cookie, account, &form.password, &ip)
        .await
        .on_page(lang, |error| password_page(lang, &bound.csrf, Some(error)))?;
    Ok(see_other(BLOCK_CODE))
}

pub async fn code_get(
    provider: web::Data<Provider>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let at = self_block::progress(&provider, &session.cookie, &session.account_id).await;
    if at.or_page(lang)?.is_none() {
        return Ok(see_other(BLOCK));
    }
    code_page(lang, &session.csrf, None).ok()
}

pub async fn code_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    self_block::confirm(&provider, &bound.cookie, &bound.account_id, &form.code)
        .await
        .on_page(lang, |error| code_page(lang, &bound.csrf, Some(error)))?;
    Ok(see_other(BLOCKED))
}

pub async fn blocked_get(lang: Lang) -> HttpResponse {
    let t = i18n::texts(lang);
    let lines = [t.life.blocked_done, t.life.blocked_next];
    let link = ("/compte/connexion", t.citizen.login_link);
    notice_page(lang, t.life.blocked_title, &lines, link)
}
