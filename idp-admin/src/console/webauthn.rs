//! Security keys (WebAuthn): the agent's own page (`/cle`), registering a
//! key, and logging in with one. The ceremonies are
//! `idp_server::agents::webauthn`; the JSON calls carry the CSRF token in an
//! `x-csrf-token` header.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use idp_server::agents::{self, sessions, webauthn};
use idp_server::web::csrf::{self, Binding};
use serde::Deserialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::Console;
use super::page::{Failure, Frame, ok};
use super::session::{AnySession, PreLogin, SESSION_COOKIE, cookie, with_cookie};

#[derive(Template)]
#[template(path = "security_keys.html")]
struct KeysPage {
    frame: Frame,
    csrf: String,
    count: usize,
}

pub async fn keys_page(
    console: web::Data<Console>,
    s: AnySession,
) -> Result<HttpResponse, Failure> {
    let count = agents::key_count(&console.core, &s.agent.id).await?;
    ok(&KeysPage {
        frame: s.frame("Clés de sécurité"),
        csrf: s.csrf().to_owned(),
        count,
    })
}

fn json_status(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

fn refused(error: &str) -> HttpResponse {
    json_status(StatusCode::BAD_REQUEST, json!({ "error": error }))
}

fn challenge(value: impl serde::Serialize) -> Result<HttpResponse, Failure> {
    let body = serde_json::to_value(value).map_err(Failure::unavailable)?;
    Ok(json_status(StatusCode::OK, body))
}

/// Whether the `x-csrf-token` header carries `bound`'s token.
fn header_ok(req: &HttpRequest, bound: &impl Binding) -> bool {
    let presented = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    csrf::matches(bound.csrf_token(), presented)
}

pub async fn register_start(
    console: web::Data<Console>,
    s: AnySession,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    if !header_ok(&req, &s) {
        return Ok(refused("csrf"));
    }
    challenge(webauthn::start_registration(&console.core, &s.agent).await?)
}

pub async fn register_finish(
    console: web::Data<Console>,
    s: AnySession,
    req: HttpRequest,
    answer: web::Json<RegisterPublicKeyCredential>,
) -> Result<HttpResponse, Failure> {
    if !header_ok(&req, &s) {
        return Ok(refused("csrf"));
    }
    Ok(
        match webauthn::finish_registration(&console.core, &s.agent, &answer).await? {
            true => json_status(StatusCode::OK, json!({ "ok": true })),
            false => refused("registration_failed"),
        },
    )
}

/// The login page's browser, checked for the JSON calls; else the error code to answer.
fn pre_login(pre: Option<PreLogin>, req: &HttpRequest) -> Result<PreLogin, &'static str> {
    let pre = pre.ok_or("no_session")?;
    if header_ok(req, &pre) {
        Ok(pre)
    } else {
        Err("csrf")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KeyLogin {
    username: String,
}

pub async fn login_start(
    console: web::Data<Console>,
    pre: Option<PreLogin>,
    req: HttpRequest,
    body: web::Json<KeyLogin>,
) -> Result<HttpResponse, Failure> {
    let pre = match pre_login(pre, &req) {
        Ok(pre) => pre,
        Err(code) => return Ok(refused(code)),
    };
    match webauthn::start_login(&console.core, &pre.cookie, body.username.trim()).await? {
        Some(c) => challenge(c),
        None => Ok(refused("no_key")),
    }
}

pub async fn login_finish(
    console: web::Data<Console>,
    pre: Option<PreLogin>,
    req: HttpRequest,
    answer: web::Json<PublicKeyCredential>,
) -> Result<HttpResponse, Failure> {
    let pre = match pre_login(pre, &req) {
        Ok(pre) => pre,
        Err(code) => return Ok(refused(code)),
    };
    let Some(agent) = webauthn::finish_login(&console.core, &pre.cookie, &answer).await? else {
        return Ok(refused("not_recognised"));
    };
    // A key with user verification is both factors: the session opens fully.
    let (value, _) = sessions::open(&console.core, agent.id, agent.session_epoch, true).await?;
    let response = json_status(StatusCode::OK, json!({ "redirect": "/" }));
    Ok(with_cookie(response, cookie(SESSION_COOKIE, value)))
}
