//! Handlers of the OIDC endpoints and of the login pages. Each extracts its
//! input (the pending request, a typed form, credentials), calls one service
//! of `crate::oidc`, and renders what it returns; refusals become responses
//! in `web/error.rs` (pages: `PageError`, protocol: `ProtocolError`).

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};

use super::cookies;
use super::credentials::{Basic, Bearer};
use super::csrf::{self, Binding, CsrfForm, Purpose};
use super::error::{OnRefusal, OrPage, PageError, ProtocolError, UserFacing};
use super::extract::lang_of;
use super::i18n::Texts;
use super::pages;
use super::params::{self, OAuthForm, Pairs};
use super::pending::LoginRequest;
use crate::oidc::authorize::{self, Next, Refusal};
use crate::oidc::clients::Client;
use crate::oidc::end_session::{self, Logout};
use crate::oidc::introspection;
use crate::oidc::login;
use crate::oidc::revocation::{self, Revocation};
use crate::oidc::token;
use crate::oidc::types::{AuthRequest, Authenticated, Lang};
use crate::oidc::userinfo::{self, Userinfo};
use crate::oidc::{Provider, session};

type Params = HashMap<String, String>;
type Page = Result<HttpResponse, PageError>;
type Protocol = Result<HttpResponse, ProtocolError>;

pub(crate) fn accept_language(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// The language of a protocol request whose `ui_locales` may be in its body.
fn lang_of_params(params: &Params, req: &HttpRequest) -> Lang {
    Lang::negotiate(
        params.get("ui_locales").map(String::as_str),
        accept_language(req),
    )
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// The person has just logged in for `request`: their SSO session starts
/// (cookie set) and the request moves on (consent, or back to the client).
pub(super) async fn logged_in(
    provider: &Provider,
    request: AuthRequest,
    client: Arc<Client>,
    auth: Authenticated,
) -> Page {
    let lang = request.lang;
    let (next, cookie) = authorize::after_login(provider, request, client, auth)
        .await
        .or_page(lang)?;
    let mut response = render_next(lang, next).unwrap_or_else(|e| e.error_response());
    let _ = response.add_cookie(&cookies::session(provider, cookie));
    Ok(response)
}

pub(crate) fn render_next(lang: Lang, next: Next) -> Page {
    Ok(match next {
        Next::Page(refusal) => return Err(PageError::refused(lang, &refusal)),
        Next::Login(request) if request.wants_phone_login() => {
            see_other(&format!("/login/telephone?tx={}", request.id))
        }
        Next::Login(request) => see_other(&format!("/login?tx={}", request.id)),
        Next::Consent(request, _) => see_other(&format!("/consent?tx={}", request.id)),
        Next::AcrUnreachable(request, _) => see_other(&format!("/niveau?tx={}", request.id)),
        Next::Respond(response) => pages::respond(lang, &response),
    })
}

// ---------------------------------------------------------------- authorize

pub async fn authorize_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Pairs>,
) -> Page {
    authorize(&provider, &req, query.into_inner()).await
}

pub async fn authorize_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Pairs>,
) -> Page {
    authorize(&provider, &req, form.into_inner()).await
}

async fn authorize(provider: &Provider, req: &HttpRequest, pairs: Pairs) -> Page {
    let (params, repeated) = params::single(pairs);
    let lang = lang_of_params(&params, req);
    let (browser, new_cookie) = cookies::browser(provider, req).or_page(lang)?;
    let hash = cookies::browser_hash(provider, &browser);
    let answer = start(provider, req, &params, repeated.as_deref(), &hash, lang).await;
    // Whatever the answer, the browser keeps the cookie that binds it.
    let mut response = answer.unwrap_or_else(|e| e.error_response());
    if let Some(cookie) = new_cookie {
        let _ = response.add_cookie(&cookie);
    }
    Ok(response)
}

async fn start(
    provider: &Provider,
    req: &HttpRequest,
    params: &Params,
    repeated: Option<&str>,
    hash: &str,
    lang: Lang,
) -> Page {
    let session = current_session(provider, req).await.or_page(lang)?;
    let ip = super::client_ip(req);
    let from = authorize::Browser {
        hash,
        accept_language: accept_language(req),
        ip: &ip,
        user_agent: super::device::user_agent(req),
    };
    let next = authorize::start(provider, params, repeated, &from, session).await;
    render_next(lang, next.or_page(lang)?)
}

/// The SSO session the browser's cookie names, if it is still there.
async fn current_session(
    provider: &Provider,
    req: &HttpRequest,
) -> Result<Option<Authenticated>, crate::oidc::error::OidcError> {
    match cookies::session_value(req) {
        Some(value) => session::load(provider, &value).await,
        None => Ok(None),
    }
}

// ---------------------------------------------------------------- login

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    decision: String,
}

/// A form with nothing but its `tx` and `csrf`.
#[derive(Deserialize)]
pub struct Empty {}

pub async fn login_get(pending: LoginRequest) -> HttpResponse {
    let hint = pending.request.login_hint.clone();
    let email = hint.filter(|h| h.contains('@')).unwrap_or_default();
    pages::login(&pending, &email, None)
}

/// The partner a login page is for (the connection history).
fn partner<'a>(bound: &'a LoginRequest, req: &'a HttpRequest) -> login::Partner<'a> {
    login::Partner {
        client_id: &bound.client.id,
        client_name: &bound.client.name,
        user_agent: super::device::user_agent(req),
    }
}

pub async fn login_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    posted: CsrfForm<LoginForm, LoginRequest>,
) -> Page {
    let CsrfForm { form, bound } = posted;
    let (lang, ip) = (bound.lang(), super::client_ip(&req));
    let partner = Some(partner(&bound, &req));
    let outcome = login::password(&provider, &form.email, &form.password, &ip, partner).await;
    match outcome.refusal_or_page(lang)? {
        Ok(auth) => logged_in(&provider, bound.request, bound.client, auth).await,
        Err(failure) => {
            // The person stays on the login page: the request lives on.
            authorize::keep(&provider, &bound.request)
                .await
                .or_page(lang)?;
            Ok(pages::login(&bound, &form.email, Some(&failure)))
        }
    }
}

/// "Annuler et revenir au site": access_denied.
pub async fn login_cancel(
    provider: web::Data<Provider>,
    posted: CsrfForm<Empty, LoginRequest>,
) -> Page {
    cancel(&provider, posted.bound, authorize::Cancel::ByPerson).await
}

/// "Revenir au site" on the level page: access_denied, saying why.
pub async fn level_post(
    provider: web::Data<Provider>,
    posted: CsrfForm<Empty, LoginRequest>,
) -> Page {
    cancel(&provider, posted.bound, authorize::Cancel::LevelUnreachable).await
}

async fn cancel(provider: &Provider, pending: LoginRequest, reason: authorize::Cancel) -> Page {
    let lang = pending.lang();
    let next = authorize::cancel(provider, pending.request, reason).await;
    render_next(lang, next.or_page(lang)?)
}

// ---------------------------------------------------------------- consent

pub async fn consent_get(provider: web::Data<Provider>, pending: LoginRequest) -> Page {
    let lang = pending.lang();
    let Some(auth) = pending.request.authenticated.as_ref() else {
        return Err(PageError::refused(lang, &Refusal::UnknownRequest));
    };
    let sharing = crate::oidc::claims::sharing(&provider, &auth.account_id, &pending.request);
    let sharing = sharing.await.or_page(lang)?;
    let sharing = sharing.ok_or_else(|| PageError::refused(lang, &Refusal::UnknownRequest))?;
    Ok(pages::consent(&pending, &sharing))
}

pub async fn consent_post(
    provider: web::Data<Provider>,
    posted: CsrfForm<ConsentForm, LoginRequest>,
) -> Page {
    let CsrfForm { form, bound } = posted;
    let lang = bound.lang();
    let approved = form.decision == "approve";
    let next = authorize::consent(&provider, bound.request, bound.client, approved).await;
    render_next(lang, next.or_page(lang)?)
}

// ---------------------------------------------------------------- level

pub async fn level_get(pending: LoginRequest) -> HttpResponse {
    pages::level(&pending)
}

// ---------------------------------------------------------------- logout

/// A logout request that cannot be honoured.
struct InvalidLogout;

impl UserFacing for InvalidLogout {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        t.invalid_logout.to_owned()
    }
}

/// The logout confirmation's binding: the SSO session cookie.
pub struct SessionCookie {
    value: Option<String>,
    token: String,
}

impl FromRequest for SessionCookie {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = cookies::session_value(req);
        let token = match (req.app_data::<web::Data<Provider>>(), &value) {
            (Some(provider), Some(value)) => csrf::derive(provider, Purpose::Logout, value),
            _ => String::new(),
        };
        ready(Ok(SessionCookie { value, token }))
    }
}

impl Binding for SessionCookie {
    fn csrf_token(&self) -> &str {
        &self.token
    }
    fn forged(&self, req: &HttpRequest) -> HttpResponse {
        PageError::refused(lang_of(req), &Refusal::Forged).error_response()
    }
}

/// The session (if any) ends and its cookie is cleared on `response`.
async fn end_session(
    provider: &Provider,
    session: Option<&str>,
    lang: Lang,
    mut response: HttpResponse,
) -> Page {
    if let Some(value) = session {
        session::destroy(provider, value).await.or_page(lang)?;
    }
    let _ = response.add_cookie(&cookies::clear_session(provider));
    Ok(response)
}

pub async fn logout_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> Page {
    logout(&provider, &req, &query).await
}

pub async fn logout_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> Page {
    logout(&provider, &req, &form).await
}

async fn logout(provider: &Provider, req: &HttpRequest, params: &Params) -> Page {
    let lang = lang_of_params(params, req);
    let session = cookies::session_value(req);
    let ends = |response| end_session(provider, session.as_deref(), lang, response);
    let decision = end_session::decide(provider, params).await.or_page(lang)?;
    match (decision, session.as_deref()) {
        (Logout::Redirect(target), _) => ends(see_other(&target)).await,
        (Logout::Confirm, Some(value)) => Ok(confirm_logout(provider, lang, value)),
        (Logout::Page | Logout::Confirm, _) => ends(pages::logged_out(lang)).await,
        (Logout::Invalid(reason), _) => invalid_logout(lang, reason),
    }
}

/// "Log out?" with its token bound to the session cookie `value`.
fn confirm_logout(provider: &Provider, lang: Lang, value: &str) -> HttpResponse {
    let token = csrf::derive(provider, Purpose::Logout, value);
    pages::logout_confirm(lang, &token)
}

fn invalid_logout(lang: Lang, reason: &str) -> Page {
    tracing::info!(reason, "logout request refused");
    Err(PageError::refused(lang, &InvalidLogout))
}

pub async fn logout_confirm(
    provider: web::Data<Provider>,
    lang: Lang,
    posted: CsrfForm<Empty, SessionCookie>,
) -> Page {
    let session = posted.bound.value.as_deref();
    end_session(&provider, session, lang, pages::logged_out(lang)).await
}

// ---------------------------------------------------------------- JSON endpoints

fn json_no_store(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .body(serde_json::to_string(body).unwrap_or_default())
}

pub async fn token(
    provider: web::Data<Provider>,
    basic: Option<Basic>,
    form: OAuthForm,
) -> Protocol {
    let basic = basic.map(Basic::into_inner);
    let response = token::exchange(&provider, basic, &form).await?;
    Ok(json_no_store(StatusCode::OK, &response))
}

async fn userinfo(provider: &Provider, token: Option<String>) -> Protocol {
    let token = token.ok_or(ProtocolError::Bearer(None))?;
    let info = userinfo::userinfo(provider, &token).await;
    match info.map_err(ProtocolError::bearer)? {
        Userinfo::Json(body) => Ok(json_no_store(StatusCode::OK, &body)),
        Userinfo::Jwt(jwt) => Ok(HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/jwt"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(jwt)),
    }
}

pub async fn userinfo_get(provider: web::Data<Provider>, bearer: Option<Bearer>) -> Protocol {
    userinfo(&provider, bearer.map(|b| b.0)).await
}

pub async fn userinfo_post(
    provider: web::Data<Provider>,
    bearer: Option<Bearer>,
    form: Option<web::Form<Params>>,
) -> Protocol {
    let from_body = form
        .and_then(|f| f.get("access_token").cloned())
        .filter(|t| !t.is_empty());
    userinfo(&provider, bearer.map(|b| b.0).or(from_body)).await
}

pub async fn revoke(
    provider: web::Data<Provider>,
    basic: Option<Basic>,
    form: OAuthForm,
) -> Protocol {
    match revocation::revoke(&provider, basic.map(Basic::into_inner), &form).await? {
        Revocation::Done => Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish()),
        Revocation::Client(e) => Err(ProtocolError::Client(e)),
        Revocation::Invalid(e) => Err(ProtocolError::Invalid(e)),
    }
}

pub async fn introspect(
    provider: web::Data<Provider>,
    basic: Option<Basic>,
    form: OAuthForm,
) -> Protocol {
    let basic = basic.map(Basic::into_inner);
    let body = introspection::introspect(&provider, basic, &form).await?;
    Ok(json_no_store(StatusCode::OK, &body))
}
