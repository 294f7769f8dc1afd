//! HTML rendering: one askama template per page, texts from [`super::i18n`].

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use askama::Template;

use super::error::{PageError, UserFacing};
use super::i18n::{Texts, texts};
use super::pending::LoginRequest;
use crate::device::challenge::BrowserStatus;
use crate::domain::acr::Acr;
use crate::oidc::authorize::{AuthorizationResponse, Refusal};
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
    pub identity_withheld: bool,
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

/// The error page of a refused authorization request.
pub fn page_error(lang: Lang, error: &Refusal) -> HttpResponse {
    actix_web::ResponseError::error_response(&PageError::refused(lang, error))
}

/// A login-request page: its CSP lets its forms end at the relying party.
fn request_page(pending: &LoginRequest, status: StatusCode, page: &impl Template) -> HttpResponse {
    allow_form_redirect(html(status, page), &pending.request.redirect_uri)
}

/// The password login page, with the refusal of the last attempt if any.
pub fn login(
    pending: &LoginRequest,
    email: &str,
    refused: Option<&dyn UserFacing>,
) -> HttpResponse {
    let t = texts(pending.lang());
    let message = refused.map(|r| r.message(t));
    let page = LoginPage {
        t,
        client_name: &pending.client.name,
        tx: &pending.request.id,
        csrf: &pending.request.csrf,
        email,
        error: message.as_deref(),
    };
    let status = refused.map_or(StatusCode::OK, |r| r.status());
    let response = request_page(pending, status, &page);
    super::error::with_retry_after(response, refused.and_then(|r| r.retry_after()))
}

/// The consent page: the claims that will be released (`sharing`, from the
/// same rule as the tokens), in the order a person reads an identity (not
/// alphabetically), and why identity claims are missing if they are.
pub fn consent(pending: &LoginRequest, sharing: &crate::oidc::claims::Sharing) -> HttpResponse {
    let (request, t) = (&pending.request, texts(pending.lang()));
    let claims: Vec<&'static str> = (t.claim_labels.iter())
        .filter(|(claim, _)| sharing.released.iter().any(|r| r == claim))
        .map(|(_, label)| *label)
        .collect();
    let page = ConsentPage {
        t,
        client_name: &pending.client.name,
        tx: &request.id,
        csrf: &request.csrf,
        claims,
        identity_withheld: sharing.identity_withheld,
        offline: request.scopes.iter().any(|s| s == "offline_access"),
    };
    request_page(pending, StatusCode::OK, &page)
}

/// The level the relying party asks for cannot be reached (403).
pub fn level(pending: &LoginRequest) -> HttpResponse {
    let t = texts(pending.lang());
    let explanation = match pending.request.min_acr {
        Acr::Eidas3 => t.acr_eidas3,
        _ => t.acr_eidas2,
    };
    let page = AcrPage {
        t,
        explanation,
        tx: &pending.request.id,
        csrf: &pending.request.csrf,
    };
    request_page(pending, StatusCode::FORBIDDEN, &page)
}

/// "Voulez-vous fermer votre session ?", with the form bound to the session.
pub fn logout_confirm(lang: Lang, csrf: &str) -> HttpResponse {
    let t = texts(lang);
    let page = LogoutPage {
        t,
        title: t.logout_confirm_title,
        message: t.logout_confirm,
        csrf: Some(csrf),
    };
    html(StatusCode::OK, &page)
}

/// The session is closed.
pub fn logged_out(lang: Lang) -> HttpResponse {
    let t = texts(lang);
    let page = LogoutPage {
        t,
        title: t.logged_out_title,
        message: t.logged_out,
        csrf: None,
    };
    html(StatusCode::OK, &page)
}

/// The phone-number page, with the refusal of the last number if any.
pub fn phone(
    pending: &LoginRequest,
    phone: &str,
    refused: Option<&dyn UserFacing>,
) -> HttpResponse {
    let t = texts(pending.lang());
    let message = refused.map(|r| r.message(t));
    let page = PhonePage {
        t,
        client_name: &pending.client.name,
        tx: &pending.request.id,
        csrf: &pending.request.csrf,
        phone,
        error: message.as_deref(),
        password_allowed: pending.request.min_acr <= Acr::Eidas1,
    };
    let status = refused.map_or(StatusCode::OK, |r| r.status());
    let response = request_page(pending, status, &page);
    super::error::with_retry_after(response, refused.and_then(|r| r.retry_after()))
}

/// The waiting page: the number to choose on the phone, the time left.
pub fn wait(pending: &LoginRequest, number: u8, expires_at: i64) -> HttpResponse {
    let left = remaining(expires_at - crate::store::now_unix());
    let page = WaitPage {
        t: texts(pending.lang()),
        client_name: &pending.client.name,
        tx: &pending.request.id,
        csrf: &pending.request.csrf,
        number,
        expires_at,
        remaining: &left,
    };
    request_page(pending, StatusCode::OK, &page)
}

/// Time left, such as `1 min 58 s`.
fn remaining(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The phone login ended without logging in: why, and whether to retry.
pub fn phone_end(pending: &LoginRequest, status: BrowserStatus) -> HttpResponse {
    let t = texts(pending.lang());
    let page = PhoneEndPage {
        t,
        tx: &pending.request.id,
        csrf: &pending.request.csrf,
        status: status.as_str(),
        message: t.phone_end(status),
        // After a lock or over an expired document, trying again makes no
        // sense.
        retry: !matches!(
            status,
            BrowserStatus::Locked(_) | BrowserStatus::Blocked(_) | BrowserStatus::DocumentExpired
        ),
    };
    request_page(pending, StatusCode::OK, &page)
}

/// A page of an authorization request whose forms may end in a redirect to
/// the relying party: browsers apply `form-action` to the redirect after a
/// form POST, so the (already validated) redirect URI's origin is allowed too.
pub fn allow_form_redirect(response: HttpResponse, redirect_uri: &str) -> HttpResponse {
    let origin = origin(redirect_uri);
    with_form_action(response, &format!("'self' {origin}"))
}

/// The origin of an (already validated) redirect URI, "" if it has none.
fn origin(uri: &str) -> String {
    url::Url::parse(uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// The default CSP with forms allowed to post to `sources`.
fn with_form_action(mut response: HttpResponse, sources: &str) -> HttpResponse {
    if let Ok(value) = format!(
        "default-src 'self'; form-action {sources}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
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
            let page = FormPostPage {
                t: texts(lang),
                action: &response.redirect_uri,
                params: &response.params,
            };
            let origin = origin(&response.redirect_uri);
            with_form_action(html(StatusCode::OK, &page), &origin)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remaining_time() {
        assert_eq!(super::remaining(118), "1 min 58 s");
        assert_eq!(super::remaining(120), "2 min");
        assert_eq!(super::remaining(9), "9 s");
        assert_eq!(super::remaining(-3), "0 s");
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
