//! The eidas2 login in the browser: phone number → waiting page (number to
//! pick on the phone, followed by SSE, polling or a plain refresh) → consent
//! → back to the relying party. Every page is bound to the browser that
//! started the request (`tx` + browser cookie), every form to its CSRF token.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::client_ip;
use super::device::user_agent;
use super::drain::Drain;
use super::error::WebError;
use super::i18n::{Texts, texts};
use super::oidc::{logged_in, page_failure, resume, see_other, with_retry_after};
use super::pages::{self, PhoneEndPage, PhonePage, WaitPage, html};
use crate::device::DeviceError;
use crate::device::challenge::{self, BrowserStatus, StartRefusal, StartRequest};
use crate::domain::acr::Acr;
use crate::ephemeral::EphemeralStore;
use crate::oidc::types::{AuthRequest, Lang};
use crate::oidc::{Provider, authorize};
use crate::store::now_unix;

type Params = HashMap<String, String>;

fn device_failure(lang: Lang, error: DeviceError) -> HttpResponse {
    let web_error = match error {
        DeviceError::Store(e) => WebError::from(e),
        DeviceError::Ephemeral(e) => WebError::from(e),
        other => WebError::Internal(other.to_string()),
    };
    pages::failure_page(lang, web_error)
}

fn phone_page(
    request: &AuthRequest,
    client_name: &str,
    phone: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    pages::allow_form_redirect(
        html(
            status,
            &PhonePage {
                t: texts(request.lang),
                client_name,
                tx: &request.id,
                csrf: &request.csrf,
                phone,
                error,
                password_allowed: request.min_acr <= Acr::Eidas1,
            },
        ),
        &request.redirect_uri,
    )
}

pub async fn phone_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (request, client) = match resume(&provider, &req, &query, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let hint = request
        .login_hint
        .clone()
        .filter(|h| !h.contains('@'))
        .unwrap_or_default();
    phone_page(&request, &client.name, &hint, None, StatusCode::OK)
}

pub async fn phone_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (mut request, client) = match resume(&provider, &req, &form, true).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lang = request.lang;
    let t = texts(lang);
    let phone = form.get("phone").map(String::as_str).unwrap_or("");
    let ip = client_ip(&req);
    // The request is stored pointing at the new challenge in the same step
    // as the challenge; if none starts, the stored request stays as it was.
    let challenge_id = match challenge::new_id() {
        Ok(id) => id,
        Err(e) => return device_failure(lang, e),
    };
    let previous = request.challenge.replace(challenge_id.clone());
    let save = match authorize::prepare_save(&request) {
        Ok(save) => save,
        Err(e) => return page_failure(lang, e),
    };
    let started = challenge::start(
        &provider,
        StartRequest {
            challenge_id: &challenge_id,
            also: &[save.write()],
            request_id: &request.id,
            client_id: &client.id,
            client_name: &client.name,
            phone,
            ip: &ip,
            user_agent: user_agent(&req),
        },
    )
    .await;
    if let Ok(Err(_)) = &started {
        // The person stays on the phone page: the request lives on (as it
        // was, without the challenge that did not start).
        request.challenge = previous;
        if let Err(e) = authorize::keep(&provider, &request).await {
            return page_failure(lang, e);
        }
    }
    match started {
        Ok(Ok(_)) => see_other(&format!("/login/telephone/attente?tx={}", request.id)),
        Ok(Err(StartRefusal::InvalidPhone)) => phone_page(
            &request,
            &client.name,
            phone,
            Some(t.phone_invalid),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(StartRefusal::Throttled { retry_after })) => with_retry_after(
            phone_page(
                &request,
                &client.name,
                phone,
                Some(t.throttled),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            retry_after,
        ),
        Err(e) => device_failure(lang, e),
    }
}

fn end_message(t: &'static Texts, status: BrowserStatus) -> &'static str {
    match status {
        BrowserStatus::Denied => t.end_denied,
        BrowserStatus::FraudReported => t.end_fraud,
        BrowserStatus::WrongNumber => t.end_wrong_number,
        BrowserStatus::Locked => t.end_locked,
        BrowserStatus::Cancelled => t.end_cancelled,
        BrowserStatus::Pending | BrowserStatus::Approved | BrowserStatus::Expired => t.end_expired,
    }
}

fn end_page(request: &AuthRequest, status: BrowserStatus) -> HttpResponse {
    let t = texts(request.lang);
    let page = html(
        StatusCode::OK,
        &PhoneEndPage {
            t,
            tx: &request.id,
            csrf: &request.csrf,
            status: status.as_str(),
            message: end_message(t, status),
            // After a fraud report or a lock, trying again makes no sense.
            retry: !matches!(status, BrowserStatus::FraudReported | BrowserStatus::Locked),
        },
    );
    pages::allow_form_redirect(page, &request.redirect_uri)
}

fn remaining(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The waiting page; once the approval is decided, it moves on (or explains).
pub async fn wait_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (mut request, client) = match resume(&provider, &req, &query, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lang = request.lang;
    let Some(challenge_id) = request.challenge.clone() else {
        return see_other(&format!("/login/telephone?tx={}", request.id));
    };
    let found = match challenge::for_request(&provider, &challenge_id, &request.id).await {
        Ok(found) => found,
        Err(e) => return device_failure(lang, e),
    };
    let Some((raw, challenge)) = found else {
        return end_page(&request, BrowserStatus::Expired);
    };
    match challenge::browser_status(&challenge) {
        BrowserStatus::Pending => {
            let left = remaining(challenge.expires_at - now_unix());
            let page = html(
                StatusCode::OK,
                &WaitPage {
                    t: texts(lang),
                    client_name: &client.name,
                    tx: &request.id,
                    csrf: &request.csrf,
                    number: challenge.number,
                    expires_at: challenge.expires_at,
                    remaining: &left,
                },
            );
            pages::allow_form_redirect(page, &request.redirect_uri)
        }
        BrowserStatus::Approved => {
            let auth = match challenge::complete(&provider, &raw, challenge).await {
                Ok(Some(auth)) => auth,
                Ok(None) => return end_page(&request, BrowserStatus::Expired),
                Err(e) => return device_failure(lang, e),
            };
            request.challenge = None;
            logged_in(&provider, lang, request, client, auth).await
        }
        other => end_page(&request, other),
    }
}

/// The request of `tx` for the page's script (JSON errors, not pages).
async fn resume_for_script(
    provider: &Provider,
    req: &HttpRequest,
    query: &Params,
) -> Result<AuthRequest, HttpResponse> {
    match resume(provider, req, query, false).await {
        Ok((request, _)) => Ok(request),
        Err(_) => Err(super::error::json_error(
            StatusCode::NOT_FOUND,
            "unknown_request",
            "no such login request in this browser",
        )),
    }
}

/// The request's approval status, as JSON, for the polling fallback.
async fn current_status(
    provider: &Provider,
    request: &AuthRequest,
) -> Result<BrowserStatus, DeviceError> {
    let Some(id) = request.challenge.as_deref() else {
        return Ok(BrowserStatus::Expired);
    };
    Ok(challenge::for_request(provider, id, &request.id)
        .await?
        .map_or(BrowserStatus::Expired, |(_, c)| {
            challenge::browser_status(&c)
        }))
}

pub async fn status_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let request = match resume_for_script(&provider, &req, &query).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    match current_status(&provider, &request).await {
        Ok(status) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "state": status.as_str() })),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
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
        let status = current_status(&w.provider, &w.request)
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
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let request = match resume_for_script(&provider, &req, &query).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let topic = challenge::challenge_topic(request.challenge.as_deref().unwrap_or(""));
    let watch = Watch {
        _open: provider
            .core
            .metrics
            .open_stream(crate::metrics::Stream::PhoneEvents),
        wake: provider.core.ephemeral.subscribe(&topic),
        provider,
        request,
        last: None,
        done: false,
        drain: drain.get_ref().clone(),
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(watch, next_state))
}

pub async fn wait_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(include_str!("../../static/attente.js"))
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
