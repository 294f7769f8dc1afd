//! One CSRF mechanism for every form of the server and the console.
//!
//! A form's token is bound to something only the browser that was served the
//! form holds: either derived (keyed hash) from a browser cookie under a
//! purpose label ([`derive`]), or a random value kept with a server-side
//! record the browser's cookie names (an authorization request, an agent
//! session). [`CsrfForm`] reads the binding first, then the form, and lets the
//! handler run only when the posted `csrf` field matches; [`matches`] never
//! accepts an empty token, so a missing cookie cannot meet a missing field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::oidc::Provider;

/// The largest urlencoded form a page accepts (the same as `web::Form`'s).
pub const FORM_LIMIT: usize = 64 * 1024;

/// What a derived token is for: one label each, so a token made for one
/// form family is worthless for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Enrolment and citizen-space forms, bound to the enrolment cookie.
    Enrolment,
    /// The logout confirmation, bound to the SSO session cookie.
    Logout,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Enrolment => "csrf",
            Purpose::Logout => "logout",
        }
    }
}

/// The token for `purpose` bound to `binding` (a cookie value).
pub fn derive(provider: &Provider, purpose: Purpose, binding: &str) -> String {
    provider.lookup_hash(&format!("{}:{binding}", purpose.label()))
}

/// Whether `presented` is the `expected` token (constant time). An empty
/// expected token matches nothing.
pub fn matches(expected: &str, presented: &str) -> bool {
    !expected.is_empty()
        && crate::crypto::constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Something taken from the request that a form must be bound to: the
/// enrolment browser, the login request, an agent's session…
pub trait Binding: FromRequest + 'static {
    /// The token this browser's forms carry.
    fn csrf_token(&self) -> &str;
    /// The answer to a form without it (a page in the right style and language).
    fn forged(&self, req: &HttpRequest) -> HttpResponse;
}

/// A urlencoded form of type `T` posted by the browser `B` was served: the
/// handler only runs when the form's `csrf` field is `B`'s token. `T` needs no
/// `csrf` field (unknown fields are ignored by serde); give its fields
/// `#[serde(default)]` so a missing field becomes the page's own message
/// rather than a 400.
pub struct CsrfForm<T, B> {
    pub form: T,
    pub bound: B,
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

impl<T, B> FromRequest for CsrfForm<T, B>
where
    T: DeserializeOwned + 'static,
    B: Binding,
    B::Error: Into<actix_web::Error>,
{
    type Error = actix_web::Error;
    type Future = Pending<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bound = B::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let bound = bound.await.map_err(Into::into)?;
            let body = limited(body.await?)?;
            if !matches(bound.csrf_token(), &presented(&body)) {
                return Err(rejection(bound.forged(&req)));
            }
            Ok(CsrfForm {
                form: parse(&body)?,
                bound,
            })
        })
    }
}

/// The body, unless it is larger than [`FORM_LIMIT`] (413, `web::Form`'s answer).
pub(crate) fn limited(body: web::Bytes) -> Result<web::Bytes, actix_web::Error> {
    if body.len() > FORM_LIMIT {
        return Err(rejection(super::error::json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            &format!("the request body is larger than {FORM_LIMIT} bytes"),
        )));
    }
    Ok(body)
}

/// The value of field `name` in a urlencoded body ("" when absent).
pub(crate) fn field(body: &[u8], name: &str) -> String {
    url::form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The `csrf` field of a urlencoded body ("" when absent).
fn presented(body: &[u8]) -> String {
    field(body, "csrf")
}

/// The typed form (400 in the OAuth JSON shape when it does not parse).
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, actix_web::Error> {
    serde_urlencoded::from_bytes::<T>(body).map_err(|e| {
        rejection(super::error::json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("the request body is not a valid form: {e}"),
        ))
    })
}

/// A ready response returned in place of the handler's.
pub(crate) fn rejection(response: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("form refused", response).into()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn an_empty_token_matches_nothing() {
        assert!(!matches("", ""));
        assert!(!matches("abc", ""));
        assert!(!matches("abc", "abd"));
        assert!(matches("abc", "abc"));
    }
}
