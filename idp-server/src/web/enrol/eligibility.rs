//! Step 1: the three eligibility conditions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{Browser, ClientIp, NewBrowser};
use super::page::{Field, FieldKind, OnPage, StepPage, refused, see_other};
use super::refusals::NotEligible;
use crate::enrol;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::i18n;

/// The three conditions, each a checkbox posting "yes".
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EligibilityForm {
    adult: String,
    smartphone: String,
    document: String,
}

impl EligibilityForm {
    fn all(&self) -> bool {
        [&self.adult, &self.smartphone, &self.document]
            .iter()
            .all(|v| *v == "yes")
    }
}

fn eligibility_page(
    lang: Lang,
    csrf: &str,
    form: &EligibilityForm,
    error: Option<String>,
) -> StepPage {
    let e = i18n::texts(lang).enrol;
    let checked = |v: &str| if v == "yes" { "yes" } else { "" };
    let mut page = StepPage::new(lang, e.create_identity, "/inscription", csrf)
        .step(1)
        .intro(e.eligibility_intro);
    page.error = error;
    for (name, label, value) in [
        ("adult", e.eligible_adult, &form.adult),
        ("smartphone", e.eligible_smartphone, &form.smartphone),
        ("document", e.eligible_document, &form.document),
    ] {
        page = page
            .field(Field::input(name, label, "checkbox", checked(value)).of(FieldKind::Checkbox));
    }
    page.submit(e.start)
}

pub async fn eligibility_get(browser: NewBrowser) -> HttpResponse {
    let page = eligibility_page(
        browser.lang,
        &browser.csrf,
        &EligibilityForm::default(),
        None,
    );
    browser.respond(page.render(StatusCode::OK))
}

pub async fn eligibility_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<EligibilityForm, Browser>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let page = |error| eligibility_page(lang, &bound.csrf, &form, Some(error));
    if !form.all() {
        return Err(refused(lang, &NotEligible, page));
    }
    enrol::start(&provider, &bound.cookie, &ip)
        .await
        .on_page(lang, page)?;
    Ok(see_other("/inscription/courriel"))
}
