//! Handlers of the OIDC endpoints and of the login pages. Each parses the
//! request, calls one service of `crate::oidc`, and renders what it returns.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;

use super::cookies;
use super::error::WebError;
use super::i18n::texts;
use super::pages::{self, AcrPage, ConsentPage, LoginPage, LogoutPage, html};
use super::params::{self, Pairs};
use crate::domain::acr::Acr;
use crate::oidc::authorize::{self, Next, PageError};
use crate::oidc::client_auth::ClientAuthError;
use crate::oidc::clients::Client;
use crate::oidc::end_session::{self, Logout};
use crate::oidc::error::{OAuthError, OidcError};
use crate::oidc::introspection;
use crate::oidc::login::{self, LoginFailure};
use crate::oidc::revocation::{self, Revocation};
use crate::oidc::token::{self, TokenError};
use crate::oidc::types::{AuthRequest, Authenticated, Lang};
use crate::oidc::userinfo::{self, Userinfo};
use crate::oidc::{Provider, claims, session};

type Params = HashMap<String, String>;

pub(crate) fn accept_language(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// Adds `Retry-After: seconds` (a throttled form).
pub(crate) fn with_retry_after(mut response: HttpResponse, seconds: u64) -> HttpResponse {
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// An infrastructure failure on a page: 503 or 500, in the person's language.
pub(crate) fn page_failure(lang: Lang, error: OidcError) -> HttpResponse {
    pages::failure_page(lang, WebError::from(error))
}

/// The person has just logged in for `request`: their SSO session starts
/// (cookie set) and the request moves on (consent, or back to the client).
pub(super) async fn logged_in(
    provider: &Provider,
    lang: Lang,
    request: AuthRequest,
    client: Arc<Client>,
    auth: Authenticated,
) -> HttpResponse {
    match authorize::after_login(provider, request, client, auth).await {
        Ok((next, cookie)) => {
            let mut response = render_next(lang, next);
            let _ = response.add_cookie(&cookies::session(provider, cookie));
            response
        }
        Err(e) => page_failure(lang, e),
    }
}

pub(crate) fn render_next(lang: Lang, next: Next) -> HttpResponse {
    match next {
        Next::Page(error) => pages::page_error(lang, &error),
        Next::Login(request) if request.wants_phone_login() => {
            see_other(&format!("/login/telephone?tx={}", request.id))
        }
        Next::Login(request) => see_other(&format!("/login?tx={}", request.id)),
        Next::Consent(request, _) => see_other(&format!("/consent?tx={}", request.id)),
        Next::AcrUnreachable(request, _) => see_other(&format!("/niveau?tx={}", request.id)),
        Next::Respond(response) => pages::respond(lang, &response),
    }
}

// ---------------------------------------------------------------- authorize

pub async fn authorize_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Pairs>,
) -> HttpResponse {
    authorize(&provider, &req, query.into_inner()).await
}

pub async fn authorize_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Pairs>,
) -> HttpResponse {
    authorize(&provider, &req, form.into_inner()).await
}

async fn authorize(provider: &Provider, req: &HttpRequest, pairs: Pairs) -> HttpResponse {
    let (params, repeated) = params::single(pairs);
    let lang = Lang::negotiate(
        params.get("ui_locales").map(String::as_str),
        accept_language(req),
    );
    let (browser, new_cookie) = match cookies::browser(provider, req) {
        Ok(pair) => pair,
        Err(e) => return page_failure(lang, e.into()),
    };
    let session = match cookies::session_value(req) {
        Some(value) => match session::load(provider, &value).await {
            Ok(session) => session,
            Err(e) => return page_failure(lang, e),
        },
        None => None,
    };
    let hash = cookies::browser_hash(provider, &browser);
    let ip = super::client_ip(req);
    let from = authorize::Browser {
        hash: &hash,
        accept_language: accept_language(req),
        ip: &ip,
    };
    let mut response =
        match authorize::start(provider, &params, repeated.as_deref(), &from, session).await {
            Ok(next) => render_next(lang, next),
            Err(e) => page_failure(lang, e),
        };
    if let Some(cookie) = new_cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// The pending request named by `tx` for this browser (and form, when `csrf` is given).
pub(crate) async fn resume(
    provider: &Provider,
    req: &HttpRequest,
    params: &Params,
    check_csrf: bool,
) -> Result<
    (
        crate::oidc::types::AuthRequest,
        std::sync::Arc<crate::oidc::clients::Client>,
    ),
    HttpResponse,
> {
    let lang = Lang::negotiate(None, accept_language(req));
    let tx = params.get("tx").map(String::as_str).unwrap_or("");
    let browser = req
        .cookie(session::BROWSER_COOKIE)
        .map(|c| cookies::browser_hash(provider, c.value()));
    let Some(browser) = browser else {
        return Err(pages::page_error(lang, &PageError::UnknownRequest));
    };
    let csrf = if check_csrf {
        Some(params.get("csrf").map(String::as_str).unwrap_or(""))
    } else {
        None
    };
    match authorize::resume(provider, tx, &browser, csrf).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => Err(pages::page_error(lang, &error)),
        Err(e) => Err(page_failure(lang, e)),
    }
}

// ---------------------------------------------------------------- login

fn login_page(
    request: &crate::oidc::types::AuthRequest,
    client_name: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    pages::allow_form_redirect(
        html(
            status,
            &LoginPage {
                t: texts(request.lang),
                client_name,
                tx: &request.id,
                csrf: &request.csrf,
                email,
                error,
            },
        ),
        &request.redirect_uri,
    )
}

pub async fn login_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    match resume(&provider, &req, &query, false).await {
        Ok((request, client)) => {
            let hint = request
                .login_hint
                .clone()
                .filter(|h| h.contains('@'))
                .unwrap_or_default();
            login_page(&request, &client.name, &hint, None, StatusCode::OK)
        }
        Err(response) => response,
    }
}

pub async fn login_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (request, client) = match resume(&provider, &req, &form, true).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lang = request.lang;
    let t = texts(lang);
    let email = form.get("email").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let ip = super::client_ip(&req);
    let outcome = login::password(&provider, email, password, &ip).await;
    // The person stays on the login page: the request lives on.
    if matches!(outcome, Ok(Err(_)))
        && let Err(e) = authorize::keep(&provider, &request).await
    {
        return page_failure(lang, e);
    }
    match outcome {
        Ok(Ok(auth)) => logged_in(&provider, lang, request, client, auth).await,
        Ok(Err(LoginFailure::Invalid)) => login_page(
            &request,
            &client.name,
            email,
            Some(t.bad_credentials),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(LoginFailure::Suspended)) => login_page(
            &request,
            &client.name,
            email,
            Some(t.suspended),
            StatusCode::FORBIDDEN,
        ),
        Ok(Err(LoginFailure::Throttled { retry_after })) => with_retry_after(
            login_page(
                &request,
                &client.name,
                email,
                Some(t.throttled),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            retry_after,
        ),
        Err(e) => page_failure(lang, e),
    }
}

/// "Annuler et revenir au site": access_denied.
pub async fn login_cancel(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    cancel(&provider, &req, &form, authorize::Cancel::ByPerson).await
}

/// "Revenir au site" on the level page: access_denied, saying why.
pub async fn level_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    cancel(&provider, &req, &form, authorize::Cancel::LevelUnreachable).await
}

async fn cancel(
    provider: &Provider,
    req: &HttpRequest,
    form: &Params,
    reason: authorize::Cancel,
) -> HttpResponse {
    let (request, _) = match resume(provider, req, form, true).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lang = request.lang;
    match authorize::cancel(provider, request, reason).await {
        Ok(next) => render_next(lang, next),
        Err(e) => page_failure(lang, e),
    }
}

// ---------------------------------------------------------------- consent

pub async fn consent_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (request, client) = match resume(&provider, &req, &query, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if request.authenticated.is_none() {
        return pages::page_error(request.lang, &PageError::UnknownRequest);
    }
    let t = texts(request.lang);
    let individually: Vec<String> = request
        .claims
        .userinfo
        .iter()
        .chain(&request.claims.id_token)
        .cloned()
        .collect();
    let requested = claims::requested_claims(&request.scopes, &individually);
    // In the order a person reads an identity, not alphabetically.
    let labels: Vec<&'static str> = t
        .claim_labels
        .iter()
        .filter(|(claim, _)| requested.iter().any(|r| r == claim))
        .map(|(_, label)| *label)
        .collect();
    let page = html(
        StatusCode::OK,
        &ConsentPage {
            t,
            client_name: &client.name,
            tx: &request.id,
            csrf: &request.csrf,
            claims: labels,
            offline: request.scopes.iter().any(|s| s == "offline_access"),
        },
    );
    pages::allow_form_redirect(page, &request.redirect_uri)
}

pub async fn consent_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (request, client) = match resume(&provider, &req, &form, true).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lang = request.lang;
    let approved = form.get("decision").map(String::as_str) == Some("approve");
    match authorize::consent(&provider, request, client, approved).await {
        Ok(next) => render_next(lang, next),
        Err(e) => page_failure(lang, e),
    }
}

// ---------------------------------------------------------------- level

pub async fn level_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (request, _) = match resume(&provider, &req, &query, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let t = texts(request.lang);
    let explanation = match request.min_acr {
        Acr::Eidas3 => t.acr_eidas3,
        _ => t.acr_eidas2,
    };
    let page = html(
        StatusCode::FORBIDDEN,
        &AcrPage {
            t,
            explanation,
            tx: &request.id,
            csrf: &request.csrf,
        },
    );
    pages::allow_form_redirect(page, &request.redirect_uri)
}

// ---------------------------------------------------------------- logout

fn logout_csrf(provider: &Provider, session_cookie: &str) -> String {
    provider.lookup_hash(&format!("logout:{session_cookie}"))
}

async fn end_browser_session(
    provider: &Provider,
    req: &HttpRequest,
    lang: Lang,
    page: bool,
) -> Result<HttpResponse, HttpResponse> {
    if let Some(value) = cookies::session_value(req) {
        session::destroy(provider, &value)
            .await
            .map_err(|e| page_failure(lang, e))?;
    }
    let t = texts(lang);
    let mut response = if page {
        html(
            StatusCode::OK,
            &LogoutPage {
                t,
                title: t.logged_out_title,
                message: t.logged_out,
                csrf: None,
            },
        )
    } else {
        HttpResponse::Ok().finish()
    };
    let _ = response.add_cookie(&cookies::clear_session(provider));
    Ok(response)
}

pub async fn logout_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    logout(&provider, &req, query.into_inner()).await
}

pub async fn logout_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    logout(&provider, &req, form.into_inner()).await
}

async fn logout(provider: &Provider, req: &HttpRequest, params: Params) -> HttpResponse {
    let lang = Lang::negotiate(
        params.get("ui_locales").map(String::as_str),
        accept_language(req),
    );
    let t = texts(lang);
    let decision = match end_session::decide(provider, &params).await {
        Ok(decision) => decision,
        Err(e) => return page_failure(lang, e),
    };
    match decision {
        Logout::Redirect(target) => match end_browser_session(provider, req, lang, false).await {
            Ok(mut response) => {
                *response.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(value) = target.parse() {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::LOCATION, value);
                }
                response
            }
            Err(response) => response,
        },
        Logout::Page => end_browser_session(provider, req, lang, true)
            .await
            .unwrap_or_else(|r| r),
        Logout::Confirm => match cookies::session_value(req) {
            Some(value) => html(
                StatusCode::OK,
                &LogoutPage {
                    t,
                    title: t.logout_confirm_title,
                    message: t.logout_confirm,
                    csrf: Some(&logout_csrf(provider, &value)),
                },
            ),
            None => end_browser_session(provider, req, lang, true)
                .await
                .unwrap_or_else(|r| r),
        },
        Logout::Invalid(reason) => {
            tracing::info!(reason, "logout request refused");
            pages::error_page(lang, StatusCode::BAD_REQUEST, t.invalid_logout)
        }
    }
}

pub async fn logout_confirm(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = Lang::negotiate(None, accept_language(&req));
    let presented = form.get("csrf").map(String::as_str).unwrap_or("");
    let valid = cookies::session_value(&req).is_some_and(|value| {
        crate::crypto::constant_time_eq(
            logout_csrf(&provider, &value).as_bytes(),
            presented.as_bytes(),
        )
    });
    if !valid {
        return pages::page_error(lang, &PageError::Forged);
    }
    end_browser_session(&provider, &req, lang, true)
        .await
        .unwrap_or_else(|r| r)
}

// ---------------------------------------------------------------- JSON endpoints

fn json_no_store(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .body(serde_json::to_string(body).unwrap_or_default())
}

fn oauth_error(status: StatusCode, error: &OAuthError) -> HttpResponse {
    super::error::json_error(status, error.code.as_str(), &error.description)
}

/// invalid_client: 401 with a Basic challenge (RFC 6749 §5.2).
fn client_error(error: &ClientAuthError) -> HttpResponse {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, &error.error);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Basic realm=\"sesame\""),
    );
    response
}

fn infrastructure(error: OidcError) -> HttpResponse {
    WebError::from(error).error_response()
}

fn authorization_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The form of a JSON endpoint as a map, or the `invalid_request` to answer
/// when a parameter is repeated (RFC 6749 §3.1), before anything is checked.
fn single_form(pairs: Pairs) -> Result<Params, OAuthError> {
    match params::single(pairs) {
        (map, None) => Ok(map),
        (_, Some(name)) => Err(OAuthError::invalid_request(format!(
            "{name} must not be sent more than once"
        ))),
    }
}

pub async fn token(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Pairs>,
) -> HttpResponse {
    let form = match single_form(form.into_inner()) {
        Ok(form) => form,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, &e),
    };
    match token::exchange(&provider, authorization_header(&req), &form).await {
        Ok(Ok(response)) => json_no_store(StatusCode::OK, &response),
        Ok(Err(TokenError::Client(e))) => client_error(&e),
        Ok(Err(TokenError::Grant(e))) => oauth_error(StatusCode::BAD_REQUEST, &e),
        Err(e) => infrastructure(e),
    }
}

fn bearer_challenge(error: Option<&OAuthError>) -> HttpResponse {
    let challenge = match error {
        Some(e) => format!(
            "Bearer realm=\"sesame\", error=\"{}\", error_description=\"{}\"",
            e.code.as_str(),
            e.description.replace('"', "'")
        ),
        None => "Bearer realm=\"sesame\"".to_owned(),
    };
    let mut response = match error {
        Some(e) => oauth_error(StatusCode::UNAUTHORIZED, e),
        None => HttpResponse::Unauthorized()
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
    };
    if let Ok(value) = challenge.parse() {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

async fn userinfo(provider: &Provider, token: Option<String>) -> HttpResponse {
    let Some(token) = token else {
        return bearer_challenge(None);
    };
    match userinfo::userinfo(provider, &token).await {
        Ok(Ok(Userinfo::Json(body))) => json_no_store(StatusCode::OK, &body),
        Ok(Ok(Userinfo::Jwt(jwt))) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/jwt"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(jwt),
        Ok(Err(e)) => bearer_challenge(Some(&e)),
        Err(e) => infrastructure(e),
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    authorization_header(req)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

pub async fn userinfo_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    userinfo(&provider, bearer_token(&req)).await
}

pub async fn userinfo_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: Option<web::Form<Params>>,
) -> HttpResponse {
    let from_body = form
        .and_then(|f| f.get("access_token").cloned())
        .filter(|t| !t.is_empty());
    userinfo(&provider, bearer_token(&req).or(from_body)).await
}

pub async fn revoke(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Pairs>,
) -> HttpResponse {
    let form = match single_form(form.into_inner()) {
        Ok(form) => form,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, &e),
    };
    match revocation::revoke(&provider, authorization_header(&req), &form).await {
        Ok(Revocation::Done) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Revocation::Client(e)) => client_error(&e),
        Ok(Revocation::Invalid(e)) => oauth_error(StatusCode::BAD_REQUEST, &e),
        Err(e) => infrastructure(e),
    }
}

pub async fn introspect(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Pairs>,
) -> HttpResponse {
    let form = match single_form(form.into_inner()) {
        Ok(form) => form,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, &e),
    };
    match introspection::introspect(&provider, authorization_header(&req), &form).await {
        Ok(Ok(body)) => json_no_store(StatusCode::OK, &body),
        Ok(Err(e)) => client_error(&e),
        Err(e) => infrastructure(e),
    }
}
