//! Steps 5 and 6: the mobile number, then the code sent to it by SMS.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::email::{CodeForm, CodeStep, code_page, resent_notice};
use super::extract::{AccountAt, AtMobile, ClientIp};
use super::page::{Field, OnPage, OnResend, StepPage, refused, see_other};
use super::refusals::InvalidMobile;
use super::{NoFields, ResentQuery};
use crate::domain::phone::FrenchMobile;
use crate::enrol;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n;

#[derive(Deserialize)]
pub struct MobileForm {
    #[serde(default)]
    mobile: String,
}

const MOBILE_CODE: CodeStep = CodeStep {
    action: "/inscription/mobile/code",
    resend: "/inscription/mobile/renvoyer",
    change: "/inscription/mobile",
    change_label: |e| e.change_number,
    step: 6,
};

fn mobile_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let e = i18n::texts(lang).enrol;
    StepPage::new(lang, e.mobile_title, "/inscription/mobile", csrf)
        .step(5)
        .intro(e.mobile_intro)
        .field(
            Field::input("mobile", e.mobile_label, "tel", value)
                .hint(e.mobile_hint)
                .autocomplete("tel")
                .error(error),
        )
        .submit(e.send_code)
}

/// The number waiting for its code, masked for display ("" when none).
async fn masked_number(provider: &Provider, account_id: &str) -> String {
    enrol::pending_phone(provider, account_id)
        .await
        .ok()
        .flatten()
        .map(|p| p.masked())
        .unwrap_or_default()
}

pub async fn mobile_get(at: AccountAt<AtMobile>) -> Result<HttpResponse, PageError> {
    mobile_page(at.lang(), at.csrf(), "", None).ok()
}

pub async fn mobile_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<MobileForm, AccountAt<AtMobile>>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang();
    let page = |error| mobile_page(lang, bound.csrf(), &form.mobile, Some(error));
    let phone =
        FrenchMobile::parse(&form.mobile).map_err(|e| refused(lang, &InvalidMobile(e), page))?;
    enrol::start_phone(&provider, bound.account_id(), &phone, &ip)
        .await
        .on_page(lang, page)?;
    Ok(see_other("/inscription/mobile/code"))
}

pub async fn mobile_code_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtMobile>,
    query: web::Query<ResentQuery>,
) -> Result<HttpResponse, PageError> {
    let phone = pending_number(&provider, &at).await?;
    let page = code_page(at.lang(), at.csrf(), &MOBILE_CODE, &phone.masked(), None);
    resent_notice(&query, page).ok()
}

/// The number waiting for its code; none: 303 back to the number.
async fn pending_number(
    provider: &Provider,
    at: &AccountAt<AtMobile>,
) -> Result<FrenchMobile, PageError> {
    let pending = enrol::pending_phone(provider, at.account_id()).await;
    pending
        .or_page(at.lang())?
        .ok_or_else(|| PageError::see_other(at.lang(), "/inscription/mobile"))
}

/// "Renvoyer un code" on the SMS-code page: a new code to the same number.
pub async fn mobile_resend(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { bound, .. }: CsrfForm<NoFields, AccountAt<AtMobile>>,
) -> Result<HttpResponse, PageError> {
    let phone = pending_number(&provider, &bound).await?;
    let (lang, masked) = (bound.lang(), phone.masked());
    let page = |error| code_page(lang, bound.csrf(), &MOBILE_CODE, &masked, error);
    let sent = enrol::start_phone(&provider, bound.account_id(), &phone, &ip).await;
    sent.on_resend(lang, page, "/inscription/mobile/code?renvoye=1")
}

pub async fn mobile_code_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, AccountAt<AtMobile>>,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id) = (bound.lang(), bound.account_id());
    let checked = enrol::verify_phone(&provider, account_id, &form.code).await;
    if checked.is_err() {
        let masked = masked_number(&provider, account_id).await;
        checked.on_page(lang, |error| {
            code_page(lang, bound.csrf(), &MOBILE_CODE, &masked, Some(error))
        })?;
    }
    Ok(see_other("/inscription/piece"))
}
