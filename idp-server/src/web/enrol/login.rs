//! Logging in to the account page with email and password.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{Browser, ClientIp, NewBrowser};
use super::page::{Field, StepPage, refused, see_other};
use super::refusals::AccountLogin;
use crate::oidc::types::Lang;
use crate::oidc::{Provider, login, session};
use crate::web::cookies;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OnRefusal, OrPage, PageError};
use crate::web::i18n;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
}

fn login_page(lang: Lang, csrf: &str, email: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(lang, t.enrol.account_login_title, "/compte/connexion", csrf)
        .field(
            Field::input("email", t.email_label, "email", email)
                .autocomplete("username")
                .error(error),
        )
        .field(
            Field::input("password", t.password_label, "password", "")
                .autocomplete("current-password"),
        )
        .submit(t.login_submit);
    page.links.push((
        "/compte/mot-de-passe-oublie".to_owned(),
        t.citizen.forgot_link.to_owned(),
    ));
    page
}

pub async fn account_login_get(browser: NewBrowser) -> HttpResponse {
    let page = login_page(browser.lang, &browser.csrf, "", None);
    browser.respond(page.render(StatusCode::OK))
}

pub async fn account_login_post(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<LoginForm, Browser>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let checked = login::password(&provider, &form.email, &form.password, &ip, None);
    let auth = checked.await.refusal_or_page(lang)?.map_err(|failure| {
        refused(lang, &AccountLogin(failure), |error| {
            login_page(lang, &bound.csrf, &form.email, Some(error))
        })
    })?;
    let session = session::create(&provider, &auth).await.or_page(lang)?;
    let mut response = see_other("/compte");
    let _ = response.add_cookie(&cookies::session(&provider, session));
    Ok(response)
}
