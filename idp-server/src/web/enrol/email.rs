//! Steps 2 and 3: the email address, then the code sent to it. The code
//! page is shared with the SMS code (step 6).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{ClientIp, Enrolling};
use super::page::{Field, OnPage, OnResend, StepPage, refused, see_other};
use super::refusals::InvalidEmail;
use super::{NoFields, ResentQuery};
use crate::domain::email::Email;
use crate::enrol;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::i18n::{self, EnrolTexts};

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// The 6-digit code sent by email or SMS.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
}

fn email_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    StepPage::new(lang, t.enrol.email_title, "/inscription/courriel", csrf)
        .step(2)
        .intro(t.enrol.email_intro)
        .field(
            Field::input("email", t.email_label, "email", value)
                .autocomplete("email")
                .error(error),
        )
        .submit(t.enrol.send_code)
}

/// Where a code page posts, and its place in the steps.
pub(super) struct CodeStep {
    pub action: &'static str,
    pub resend: &'static str,
    /// The step where the address or number is typed, to correct it.
    pub change: &'static str,
    pub change_label: fn(&EnrolTexts) -> &'static str,
    pub step: u8,
}

pub(super) const EMAIL_CODE: CodeStep = CodeStep {
    action: "/inscription/courriel/code",
    resend: "/inscription/courriel/renvoyer",
    change: "/inscription/courriel",
    change_label: |e| e.change_email,
    step: 3,
};

/// The code page for a code sent to `sent_to`.
pub(super) fn code_page(
    lang: Lang,
    csrf: &str,
    at: &CodeStep,
    sent_to: &str,
    error: Option<String>,
) -> StepPage {
    let e = i18n::texts(lang).enrol;
    let mut page = StepPage::new(lang, e.code_title, at.action, csrf)
        .step(at.step)
        .intro(&(e.code_sent_to)(sent_to))
        .field(
            Field::input("code", e.code_label, "text", "")
                .autocomplete("one-time-code")
                .numeric()
                .error(error),
        )
        .submit(e.confirm);
    page.secondary
        .push((at.resend.to_owned(), e.resend_code.to_owned()));
    page.links
        .push((at.change.to_owned(), (at.change_label)(e).to_owned()));
    page
}

/// "A new code was sent", shown after a resend redirected here.
pub(super) fn resent_notice(query: &ResentQuery, mut page: StepPage) -> StepPage {
    if query.renvoye.is_some() {
        page.intro.push(page.t.enrol.code_resent.to_owned());
    }
    page
}

pub async fn email_get(at: Enrolling) -> Result<HttpResponse, PageError> {
    let email = at.pending.email.as_deref().unwrap_or("");
    email_page(at.lang, &at.csrf, email, None).ok()
}

pub async fn email_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<EmailForm, Enrolling>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let page = |error| email_page(lang, &bound.csrf, &form.email, Some(error));
    let email = Email::parse(&form.email).map_err(|_| refused(lang, &InvalidEmail, page))?;
    enrol::start_email(&provider, &bound.cookie, &email, &ip)
        .await
        .on_page(lang, page)?;
    Ok(see_other("/inscription/courriel/code"))
}

pub async fn email_code_get(
    at: Enrolling,
    query: web::Query<ResentQuery>,
) -> Result<HttpResponse, PageError> {
    if at.pending.email_verified {
        return Ok(see_other("/inscription/mot-de-passe"));
    }
    let Some(email) = &at.pending.email else {
        return Ok(see_other("/inscription/courriel"));
    };
    resent_notice(
        &query,
        code_page(at.lang, &at.csrf, &EMAIL_CODE, email, None),
    )
    .ok()
}

pub async fn email_code_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, Enrolling>,
) -> Result<HttpResponse, PageError> {
    let (lang, email) = (bound.lang, bound.pending.email.as_deref().unwrap_or(""));
    enrol::verify_email(&provider, &bound.cookie, &form.code)
        .await
        .on_page(lang, |error| {
            code_page(lang, &bound.csrf, &EMAIL_CODE, email, Some(error))
        })?;
    Ok(see_other("/inscription/mot-de-passe"))
}

pub async fn email_resend(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Enrolling>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let Some(email) = bound.email() else {
        return Ok(see_other("/inscription/courriel"));
    };
    let page = |error| code_page(lang, &bound.csrf, &EMAIL_CODE, email.as_str(), error);
    let sent = enrol::start_email(&provider, &bound.cookie, &email, &ip).await;
    sent.on_resend(lang, page, "/inscription/courriel/code?renvoye=1")
}
