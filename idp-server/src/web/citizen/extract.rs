//! `Resetting`: a browser with a password reset in progress (under its
//! enrolment cookie, the cookie every citizen form family is bound to);
//! else 303 to the reset's first page.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::password::RESET;
use crate::citizen::password::{self, Reset};
use crate::oidc::Provider;
use crate::oidc::authorize::Refusal;
use crate::oidc::types::Lang;
use crate::web::csrf::{self, Binding, Purpose};
use crate::web::enrol::ENROL_COOKIE;
use crate::web::error::{OrPage, PageError, WebError};
use crate::web::extract::lang_of;
use crate::web::pages;

pub struct Resetting {
    pub lang: Lang,
    pub cookie: String,
    pub csrf: String,
    pub reset: Reset,
}

async fn resetting(req: &HttpRequest) -> Result<Resetting, PageError> {
    let lang = lang_of(req);
    let provider = req
        .app_data::<web::Data<Provider>>()
        .cloned()
        .ok_or_else(|| PageError::failure(lang, WebError::Internal("no provider".into())))?;
    let start = || PageError::see_other(lang, RESET);
    let cookie = req
        .cookie(ENROL_COOKIE)
        .ok_or_else(start)?
        .value()
        .to_owned();
    let reset = password::progress(&provider, &cookie).await.or_page(lang)?;
    Ok(Resetting {
        lang,
        csrf: csrf::derive(&provider, Purpose::Enrolment, &cookie),
        cookie,
        reset: reset.ok_or_else(start)?,
    })
}

impl FromRequest for Resetting {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resetting(&req).await })
    }
}

impl Binding for Resetting {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
    fn forged(&self, _: &HttpRequest) -> HttpResponse {
        pages::page_error(self.lang, &Refusal::Forged)
    }
}
