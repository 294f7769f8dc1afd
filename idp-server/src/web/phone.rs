//! The eidas2 login in the browser: phone number → waiting page (number to
//! pick on the phone, followed by SSE, polling or a plain refresh) → consent
//! → back to the relying party. Every page is bound to the browser that
//! started the request (`tx` + browser cookie), every form to its CSRF token.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::client_ip;
use super::csrf::CsrfForm;
use super::device::user_agent;
use super::drain::Drain;
use super::error::{OnRefusal, OrPage, PageError};
use super::oidc::{logged_in, see_other};
use super::pages;
use super::pending::LoginRequest;
use crate::device::challenge::{self, BrowserStatus};
use crate::oidc::Provider;
use crate::oidc::phone::{self as phone_login, Typed, Waiting};
use crate::oidc::types::AuthRequest;

type Page = Result<HttpResponse, PageError>;
type Answer = Result<HttpResponse, crate::device::DeviceError>;

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
}

pub async fn phone_get(pending: LoginRequest) -> HttpResponse {
    let hint = pending.request.login_hint.clone();
    let phone = hint.filter(|h| !h.contains('@')).unwrap_or_default();
    pages::phone(&pending, &phone, None)
}

pub async fn phone_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    posted: CsrfForm<PhoneForm, LoginRequest>,
) -> Page {
    let (form, mut pending) = (posted.form, posted.bound);
    let (lang, ip) = (pending.lang(), client_ip(&req));
    let typed = Typed {
        phone: &form.phone,
        ip: &ip,
        user_agent: user_agent(&req),
    };
    let started = phone_login::start(&provider, &mut pending.request, &pending.client, typed);
    Ok(match started.await.refusal_or_page(lang)? {
        Ok(()) => see_other(&format!(
            "/login/telephone/attente?tx={}",
            pending.request.id
        )),
        Err(refusal) => pages::phone(&pending, &form.phone, Some(&refusal)),
    })
}

/// The waiting page; once the approval is decided, it moves on (or explains).
pub async fn wait_get(provider: web::Data<Provider>, mut pending: LoginRequest) -> Page {
    let lang = pending.lang();
    match phone_login::wait(&provider, &mut pending.request)
        .await
        .or_page(lang)?
    {
        Waiting::NotStarted => Ok(see_other(&format!(
            "/login/telephone?tx={}",
            pending.request.id
        ))),
        Waiting::Pending { number, expires_at } => Ok(pages::wait(&pending, number, expires_at)),
        Waiting::Approved(auth) => {
            logged_in(&provider, pending.request, pending.client, auth).await
        }
        Waiting::Ended(status) => Ok(pages::phone_end(&pending, status)),
    }
}

/// The login request of `tx` for the waiting page's script: answers a JSON
/// 404 (not a page) when this browser has no such request.
pub struct ForScript(AuthRequest);

impl FromRequest for ForScript {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let pending = LoginRequest::from_request(req, payload);
        Box::pin(async move {
            match pending.await {
                Ok(pending) => Ok(ForScript(pending.request)),
                Err(_) => Err(actix_web::error::InternalError::from_response(
                    "unknown login request",
                    super::error::json_error(
                        StatusCode::NOT_FOUND,
                        "unknown_request",
                        "no such login request in this browser",
                    ),
                )
                .into()),
            }
        })
    }
}

/// The request's approval status, as JSON, for the polling fallback.
pub async fn status_get(provider: web::Data<Provider>, script: ForScript) -> Answer {
    let status = phone_login::status(&provider, &script.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "state": status.as_str() })))
}

/// Browsers re-read the status at least this often while waiting.
const BROWSER_RECHECK: Duration = Duration::from_secs(10);

struct Watch {
    provider: web::Data<Provider>,
    request: AuthRequest,
    wake: crate::ephemeral::Subscription,
    last: Option<BrowserStatus>,
    done: bool,
    /// The stream ends when the replica shuts down (EventSource reconnects).
    drain: Drain,
    /// Counts the stream as open until the response body is dropped.
    _open: crate::metrics::OpenStream,
}

async fn next_state(mut w: Watch) -> Option<(Result<Bytes, actix_web::Error>, Watch)> {
    if w.done || w.drain.is_draining() {
        return None;
    }
    loop {
        let status = phone_login::status(&w.provider, &w.request)
            .await
            .unwrap_or(BrowserStatus::Pending);
        if w.last != Some(status) {
            w.last = Some(status);
            w.done = status.is_final();
            let chunk = Bytes::from(format!("event: state\ndata: {}\n\n", status.as_str()));
            return Some((Ok(chunk), w));
        }
        tokio::select! {
            _ = tokio::time::timeout(BROWSER_RECHECK, w.wake.recv()) => {}
            () = w.drain.started() => return None,
        }
    }
}

/// Server-Sent Events for the waiting page: `event: state` on each change,
/// until the approval is decided or expires.
pub async fn events_get(
    provider: web::Data<Provider>,
    drain: web::Data<Drain>,
    script: ForScript,
) -> HttpResponse {
    let watch = Watch::new(provider, drain.get_ref().clone(), script.0);
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(watch, next_state))
}

impl Watch {
    fn new(provider: web::Data<Provider>, drain: Drain, request: AuthRequest) -> Self {
        Watch {
            _open: provider
                .core
                .metrics
                .open_stream(crate::metrics::Stream::PhoneEvents),
            wake: challenge::subscribe_challenge(
                &provider,
                request.challenge.as_deref().unwrap_or(""),
            ),
            provider,
            request,
            last: None,
            done: false,
            drain,
        }
    }
}

pub async fn wait_script() -> HttpResponse {
    let script = include_str!("../../static/attente.js");
    super::wellknown::asset(super::wellknown::JAVASCRIPT, 300, script)
}
