//! Step 4: the password; the account exists from here, with a session.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{Enrolling, PasswordStep, Session};
use super::page::{Field, StepPage, refused, see_other};
use crate::enrol::{self, AccountProblem, StepError};
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::web::cookies;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
    confirmation: String,
}

fn password_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let e = t.enrol;
    StepPage::new(lang, e.password_title, "/inscription/mot-de-passe", csrf)
        .step(4)
        .field(
            Field::input("password", t.password_label, "password", "")
                .hint(e.password_hint)
                .autocomplete("new-password")
                .error(error),
        )
        .field(
            Field::input("confirmation", e.password_confirmation, "password", "")
                .autocomplete("new-password"),
        )
        .submit(e.create_account)
}

/// A refused password on its page; an unverified or already used address
/// sends the person back to the email step.
fn account_refused(lang: Lang, csrf: &str, e: StepError<AccountProblem>) -> PageError {
    match e {
        StepError::Refused(AccountProblem::EmailNotVerified | AccountProblem::InUse) => {
            PageError::see_other(lang, "/inscription/courriel")
        }
        StepError::Refused(problem) => refused(lang, &problem, |error| {
            password_page(lang, csrf, Some(error))
        }),
        StepError::Failed(e) => PageError::failure(lang, e),
    }
}

pub async fn password_get(
    signed_in: Option<Session>,
    at: Result<Enrolling, PageError>,
) -> Result<HttpResponse, PageError> {
    if signed_in.is_some() {
        return Ok(see_other("/inscription/mobile"));
    }
    let at = at?;
    if !at.pending.email_verified {
        return Ok(see_other("/inscription/courriel"));
    }
    password_page(at.lang, &at.csrf, None).ok()
}

pub async fn password_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<PasswordForm, PasswordStep>,
) -> Result<HttpResponse, PageError> {
    let PasswordStep(at) = bound;
    let auth = enrol::create_account(&provider, &at.cookie, &form.password, &form.confirmation)
        .await
        .map_err(|e| account_refused(at.lang, &at.csrf, e))?;
    let session = session::create(&provider, &auth).await.or_page(at.lang)?;
    let mut response = see_other("/inscription/mobile");
    let _ = response.add_cookie(&cookies::session(&provider, session));
    Ok(response)
}
