//! HTML rendering: one askama template per page, texts from [`super::i18n`].

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use askama::Template;

use super::i18n::{Texts, texts};
use crate::oidc::authorize::{AuthorizationResponse, PageError};
use crate::oidc::types::Lang;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub t: &'static Texts,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub t: &'static Texts,
    pub client_name: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub t: &'static Texts,
    pub client_name: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub claims: Vec<&'static str>,
    pub offline: bool,
}

#[derive(Template)]
#[template(path = "acr.html")]
pub struct AcrPage<'a> {
    pub t: &'static Texts,
    pub explanation: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub t: &'static Texts,
    pub action: &'a str,
    pub params: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub message: &'a str,
    pub csrf: Option<&'a str>,
}

/// Renders a template with `status`; a rendering failure becomes a plain 500.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// An infrastructure failure on a page: 503 (with `Retry-After`) or 500, in
/// the person's language; the detail goes to the log only.
pub fn failure_page(lang: Lang, error: super::error::WebError) -> HttpResponse {
    let t = texts(lang);
    match error {
        super::error::WebError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "page answered 503");
            let mut response = error_page(lang, StatusCode::SERVICE_UNAVAILABLE, t.unavailable);
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
            response
        }
        super::error::WebError::Internal(detail) => {
            tracing::error!(error = %detail, "page answered 500");
            error_page(lang, StatusCode::INTERNAL_SERVER_ERROR, t.error_title)
        }
    }
}

pub fn error_page(lang: Lang, status: StatusCode, message: &str) -> HttpResponse {
    html(
        status,
        &ErrorPage {
            t: texts(lang),
            message,
        },
    )
}

pub fn page_error(lang: Lang, error: &PageError) -> HttpResponse {
    let t = texts(lang);
    let message = match error {
        PageError::MissingClientId => t.missing_client_id,
        PageError::UnknownClient => t.unknown_client,
        PageError::MissingRedirectUri => t.missing_redirect_uri,
        PageError::UnregisteredRedirectUri => t.unregistered_redirect_uri,
        PageError::UnknownRequest => t.unknown_request,
        PageError::RepeatedParameter => t.repeated_parameter,
        PageError::Forged => t.forged,
        PageError::TooManyRequests { retry_after } => {
            let page = error_page(lang, StatusCode::TOO_MANY_REQUESTS, t.authorize_throttled);
            return super::oidc::with_retry_after(page, *retry_after);
        }
    };
    error_page(lang, StatusCode::BAD_REQUEST, message)
}

/// A page of an authorization request whose forms may end in a redirect to
/// the relying party: browsers apply `form-action` to the redirect after a
/// form POST, so the (already validated) redirect URI's origin is allowed too.
pub fn allow_form_redirect(mut response: HttpResponse, redirect_uri: &str) -> HttpResponse {
    let origin = url::Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    if let Ok(value) = format!(
        "default-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    .parse()
    {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Sends the browser back to the relying party: a 303 to the redirect URI
/// (query mode) or an auto-submitted form (form_post mode), whose CSP allows
/// posting to that one origin only.
pub fn respond(lang: Lang, response: &AuthorizationResponse) -> HttpResponse {
    match response.mode {
        crate::oidc::types::ResponseMode::Query => HttpResponse::SeeOther()
            .insert_header(("Location", response.query_url()))
            .finish(),
        crate::oidc::types::ResponseMode::FormPost => {
            let origin = url::Url::parse(&response.redirect_uri)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let mut page = html(
                StatusCode::OK,
                &FormPostPage {
                    t: texts(lang),
                    action: &response.redirect_uri,
                    params: &response.params,
                },
            );
            if let Ok(value) = format!(
                "default-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
            )
            .parse()
            {
                page.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
            }
            page
        }
    }
}

#[derive(Template)]
#[template(path = "phone.html")]
pub struct PhonePage<'a> {
    pub t: &'static Texts,
    pub client_name: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub phone: &'a str,
    pub error: Option<&'a str>,
    /// The level allows the password login (eidas1): offer it.
    pub password_allowed: bool,
}

#[derive(Template)]
#[template(path = "phone_wait.html")]
pub struct WaitPage<'a> {
    pub t: &'static Texts,
    pub client_name: &'a str,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub number: u8,
    pub expires_at: i64,
    /// Time left, such as `1 min 58 s`.
    pub remaining: &'a str,
}

#[derive(Template)]
#[template(path = "phone_end.html")]
pub struct PhoneEndPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    pub retry: bool,
}
