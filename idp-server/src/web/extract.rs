//! Request extractors shared by every page family: the person's language
//! and, in `csrf`, forms bound to the browser that was served them.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::ACCEPT_LANGUAGE;
use actix_web::{FromRequest, HttpRequest};

use crate::oidc::types::Lang;

/// The page language: `ui_locales` in the query string when a relying party
/// passed it, else `Accept-Language` by q-value, else French.
impl FromRequest for Lang {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Lang, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(lang_of(req)))
    }
}

/// What the `Lang` extractor returns, for code that holds only the request.
pub fn lang_of(req: &HttpRequest) -> Lang {
    let ui_locales = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "ui_locales")
        .map(|(_, value)| value.into_owned());
    let accept_language = req
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::negotiate(ui_locales.as_deref(), accept_language)
}
