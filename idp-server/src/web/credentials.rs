//! Credentials carried by the `Authorization` header, as extractors:
//! [`Bearer`] (RFC 6750 §2.1, for userinfo) and [`Basic`]
//! (`client_secret_basic`, RFC 6749 §2.3.1, for the token, revocation and
//! introspection endpoints). Handlers take them as `Option<…>`: a missing or
//! malformed header is `None`, and the service decides what that means.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::oidc::client_auth::BasicCredentials;

/// The header's value after `scheme ` (either case of the first letter).
fn credentials<'a>(req: &'a HttpRequest, scheme: &str) -> Option<&'a str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_at_checked(scheme.len() + 1)?;
    let (name, space) = given.split_at(scheme.len());
    let same = name == scheme || name == scheme.to_ascii_lowercase();
    (same && space == " ").then_some(rest)
}

/// No usable credentials of that scheme in the request.
#[derive(Debug, thiserror::Error)]
#[error("no {0} credentials in the Authorization header")]
pub struct NoCredentials(&'static str);

impl actix_web::ResponseError for NoCredentials {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::UNAUTHORIZED
    }
}

/// `Authorization: Bearer <token>`, the token non-empty.
#[derive(Debug)]
pub struct Bearer(pub String);

impl FromRequest for Bearer {
    type Error = NoCredentials;
    type Future = Ready<Result<Self, NoCredentials>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = credentials(req, "Bearer")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Bearer(t.to_owned()));
        ready(token.ok_or(NoCredentials("Bearer")))
    }
}

/// `Authorization: Basic base64(id:secret)`, both parts form-urlencoded.
#[derive(Debug)]
pub struct Basic(pub BasicCredentials);

impl FromRequest for Basic {
    type Error = NoCredentials;
    type Future = Ready<Result<Self, NoCredentials>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = credentials(req, "Basic").and_then(decode_basic).map(Basic);
        ready(parsed.ok_or(NoCredentials("Basic")))
    }
}

impl Basic {
    pub fn into_inner(self) -> BasicCredentials {
        self.0
    }
}

fn decode_basic(b64: &str) -> Option<BasicCredentials> {
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (id, secret) = pair.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded.
    let decode = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
    };
    Some(BasicCredentials {
        client_id: decode(id)?,
        secret: decode(secret)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn bearer(header: &str) -> Option<String> {
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, header))
            .to_http_request();
        Bearer::extract(&req).into_inner().ok().map(|b| b.0)
    }

    fn basic(header: &str) -> Option<BasicCredentials> {
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, header))
            .to_http_request();
        Basic::extract(&req)
            .into_inner()
            .ok()
            .map(Basic::into_inner)
    }

    #[test]
    fn bearer_tokens_are_read_in_either_case_and_never_empty() {
        assert_eq!(bearer("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(bearer("bearer abc ").as_deref(), Some("abc"));
        assert_eq!(bearer("Bearer  "), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("BEARER abc"), None);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        let found = basic(&header).expect("credentials");
        assert_eq!(found.client_id, "my app");
        assert_eq!(found.secret, "s:cret");
        assert!(basic("Basic not-base64!").is_none());
        assert!(basic(&format!("Basic {}", STANDARD.encode("no-colon"))).is_none());
        assert!(basic(&format!("Bearer {}", STANDARD.encode("a:b"))).is_none());
    }
}
