//! The pending authorization request a login page belongs to, as an
//! extractor: named by `tx` (in the query of a page, in the body of a form)
//! and bound to the browser that started it (its browser cookie). Forms are
//! `CsrfForm<T, LoginRequest>`: the posted `csrf` must be the random token
//! stored with the request.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::cookies;
use super::csrf::{self, CsrfForm};
use super::error::{OnRefusal, PageError};
use super::extract::lang_of;
use crate::oidc::authorize::{self, Refusal};
use crate::oidc::clients::Client;
use crate::oidc::types::{AuthRequest, Lang};
use crate::oidc::{Provider, session};

/// A login request of this browser, and its client.
pub struct LoginRequest {
    pub request: AuthRequest,
    pub client: Arc<Client>,
}

impl LoginRequest {
    /// The person's language, as chosen when the request started.
    pub fn lang(&self) -> Lang {
        self.request.lang
    }

    /// Where the request named `tx` is, for this browser.
    async fn find(provider: &Provider, req: &HttpRequest, tx: &str) -> Result<Self, PageError> {
        let lang = lang_of(req);
        let Some(browser) = req
            .cookie(session::BROWSER_COOKIE)
            .map(|c| cookies::browser_hash(provider, c.value()))
        else {
            return Err(PageError::refused(lang, &Refusal::UnknownRequest));
        };
        let (request, client) = authorize::resume(provider, tx, &browser)
            .await
            .or_refused_page(lang)?;
        Ok(LoginRequest { request, client })
    }
}

fn provider(req: &HttpRequest) -> Option<web::Data<Provider>> {
    req.app_data::<web::Data<Provider>>().cloned()
}

fn no_provider() -> actix_web::Error {
    actix_web::error::ErrorInternalServerError("the provider is not configured")
}

/// A page (GET): `tx` from the query string.
impl FromRequest for LoginRequest {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let provider = provider(&req).ok_or_else(no_provider)?;
            let tx = csrf::field(req.query_string().as_bytes(), "tx");
            Ok(LoginRequest::find(&provider, &req, &tx).await?)
        })
    }
}

/// A form (POST): `tx` and `csrf` from the body; the handler runs only when
/// the token is the request's.
impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T, LoginRequest> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let provider = provider(&req).ok_or_else(no_provider)?;
            let body = csrf::limited(body.await?)?;
            let bound = LoginRequest::find(&provider, &req, &csrf::field(&body, "tx")).await?;
            if !csrf::matches(&bound.request.csrf, &csrf::field(&body, "csrf")) {
                return Err(csrf::rejection(forged(&req)));
            }
            Ok(CsrfForm {
                form: csrf::parse(&body)?,
                bound,
            })
        })
    }
}

fn forged(req: &HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&PageError::refused(lang_of(req), &Refusal::Forged))
}
