//! The device API (`/api/device/v1`, documented in `docs/device-api.yaml`)
//! and the files of the app served at `/app`.

use std::time::Duration;

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, USER_AGENT};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::client_ip;
use super::drain::Drain;
use crate::device::DeviceError;
use crate::device::activation::{self, ActivationRequest};
use crate::device::challenge::{self, ChallengeView};
use crate::device::devices::{self, DeviceView};
use crate::device::request::{self, DECISION_TYP, REQUEST_TYP};
use crate::oidc::Provider;
use crate::store::devices::DeviceRow;

type Answer = Result<HttpResponse, DeviceError>;

/// Longest long-poll a device may ask for.
const MAX_WAIT_SECS: u64 = 30;
/// An event stream is closed after this long; the app reconnects.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
const KEEPALIVE: Duration = Duration::from_secs(15);

fn json(status: actix_web::http::StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(serde_json::to_string(body).unwrap_or_default())
}

/// Largest request body of the device API (a signed decision or an
/// activation with its public key is well under 4 KiB).
pub const MAX_BODY: usize = 16 * 1024;

/// A device-API request body of at most [`MAX_BODY`] bytes; a larger one is
/// refused with 413 in the API's JSON error shape.
pub struct Body(Bytes);

impl actix_web::FromRequest for Body {
    type Error = DeviceError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, DeviceError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::StreamExt;
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_BODY) {
                return Err(DeviceError::BodyTooLarge { limit: MAX_BODY });
            }
            let mut body = actix_web::web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    DeviceError::InvalidRequest("the request body could not be read".into())
                })?;
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(DeviceError::BodyTooLarge { limit: MAX_BODY });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Body(body.freeze()))
        })
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, DeviceError> {
    serde_json::from_slice(body)
        .map_err(|e| DeviceError::InvalidRequest(format!("the body is not the expected JSON: {e}")))
}

/// A request signed by a device in its `Authorization: Device` header: the
/// verified device, and the body `B` (a [`Body`], or [`NoBody`]).
///
/// The body is read first, so an oversized one is a 413 before any signature
/// is checked; then the JWS (`typ`, `htm`, `htu`, `iat`, `jti`) is checked in
/// the one database read that loads the device.
pub struct SignedDevice<B = NoBody> {
    pub device: DeviceRow,
    pub body: B,
}

/// No body to read.
pub struct NoBody;

impl actix_web::FromRequest for NoBody {
    type Error = DeviceError;
    type Future = std::future::Ready<Result<Self, DeviceError>>;

    fn from_request(_: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(NoBody))
    }
}

impl<B> actix_web::FromRequest for SignedDevice<B>
where
    B: actix_web::FromRequest<Error = DeviceError> + 'static,
{
    type Error = DeviceError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, DeviceError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = B::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let provider = req
                .app_data::<web::Data<Provider>>()
                .ok_or_else(|| DeviceError::Internal("the provider is not app data".into()))?;
            let device = signed_by(provider, &req).await?;
            Ok(SignedDevice { device, body })
        })
    }
}

/// The device that signed this request's `Authorization: Device` header.
async fn signed_by(provider: &Provider, req: &HttpRequest) -> Result<DeviceRow, DeviceError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let jws = request::from_header(header)?;
    let (device, _) = request::authenticate(
        provider,
        jws,
        REQUEST_TYP,
        req.method().as_str(),
        req.path(),
    )
    .await?;
    Ok(device)
}

pub async fn activate(provider: web::Data<Provider>, req: HttpRequest, body: Body) -> Answer {
    let request: ActivationRequest = parse_json(&body)?;
    let activated = activation::activate(&provider, request, &client_ip(&req)).await?;
    Ok(json(actix_web::http::StatusCode::CREATED, &activated))
}

#[derive(Deserialize)]
struct CodeRequest {
    email: String,
    password: String,
}

pub async fn request_code(provider: web::Data<Provider>, req: HttpRequest, body: Body) -> Answer {
    let request: CodeRequest = parse_json(&body)?;
    activation::request_code(
        &provider,
        &request.email,
        &request.password,
        &client_ip(&req),
    )
    .await?;
    Ok(json(
        actix_web::http::StatusCode::ACCEPTED,
        &serde_json::json!({ "sent": true }),
    ))
}

#[derive(Deserialize)]
pub struct WaitQuery {
    wait: Option<String>,
}

#[derive(Serialize)]
struct Challenges {
    challenges: Vec<ChallengeView>,
}

pub async fn challenges(
    provider: web::Data<Provider>,
    drain: web::Data<Drain>,
    query: web::Query<WaitQuery>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    let wait = query.seconds()?;
    let found = wait_for(&provider, drain.get_ref().clone(), &device.account_id, wait).await?;
    Ok(json(
        actix_web::http::StatusCode::OK,
        &Challenges {
            challenges: found.iter().map(ChallengeView::from).collect(),
        },
    ))
}

impl WaitQuery {
    /// How long the device asked to wait, at most [`MAX_WAIT_SECS`].
    fn seconds(&self) -> Result<u64, DeviceError> {
        let Some(raw) = self.wait.as_deref() else {
            return Ok(0);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_SECS)
            .ok_or_else(|| {
                DeviceError::InvalidRequest(format!("wait must be 0 to {MAX_WAIT_SECS} seconds"))
            })
    }
}

/// The account's pending challenge, waiting up to `wait` seconds for one. A
/// replica shutting down answers at once (empty): the app polls again,
/// through the load balancer, on another replica.
async fn wait_for(
    provider: &Provider,
    mut drain: Drain,
    account_id: &str,
    wait: u64,
) -> Result<Option<challenge::Challenge>, DeviceError> {
    let _open = (wait > 0).then(|| {
        provider
            .core
            .metrics
            .open_stream(crate::metrics::Stream::ChallengeWait)
    });
    let found = tokio::select! {
        found = challenge::wait_for(provider, account_id, Duration::from_secs(wait)) => found?,
        () = drain.started() => None,
    };
    if let Some(c) = &found {
        crate::push::observe_fetch(&provider.core.metrics, c);
    }
    Ok(found)
}

struct Stream {
    provider: web::Data<Provider>,
    account_id: String,
    wake: crate::ephemeral::Subscription,
    last_sent: Option<String>,
    deadline: tokio::time::Instant,
    next_keepalive: tokio::time::Instant,
    /// The stream ends when the replica shuts down (the app reconnects).
    drain: Drain,
    /// Counts the stream as open until the response body is dropped.
    _open: crate::metrics::OpenStream,
}

/// The next chunk of the event stream: a challenge not sent yet, a
/// keep-alive comment, or the end.
async fn next_event(mut s: Stream) -> Option<(Result<Bytes, actix_web::Error>, Stream)> {
    loop {
        let now = tokio::time::Instant::now();
        if now >= s.deadline || s.drain.is_draining() {
            return None;
        }
        match challenge::pending_for(&s.provider, &s.account_id).await {
            Ok(Some(c)) if s.last_sent.as_deref() != Some(c.id.as_str()) => {
                s.last_sent = Some(c.id.clone());
                crate::push::observe_fetch(&s.provider.core.metrics, &c);
                let data = serde_json::to_string(&ChallengeView::from(&c)).unwrap_or_default();
                let chunk = Bytes::from(format!("event: challenge\ndata: {data}\n\n"));
                return Some((Ok(chunk), s));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "device event stream ended");
                return None;
            }
        }
        if now >= s.next_keepalive {
            s.next_keepalive = now + KEEPALIVE;
            return Some((Ok(Bytes::from_static(b": keepalive\n\n")), s));
        }
        let until = s
            .deadline
            .min(s.next_keepalive)
            .min(now + challenge::RECHECK);
        tokio::select! {
            _ = tokio::time::timeout_at(until, s.wake.recv()) => {}
            () = s.drain.started() => return None,
        }
    }
}

pub async fn challenge_events(
    provider: web::Data<Provider>,
    drain: web::Data<Drain>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    let state = Stream::new(provider, drain.get_ref().clone(), device.account_id);
    let stream = futures_util::stream::unfold(state, next_event);
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

impl Stream {
    fn new(provider: web::Data<Provider>, drain: Drain, account_id: String) -> Self {
        let now = tokio::time::Instant::now();
        Stream {
            _open: provider
                .core
                .metrics
                .open_stream(crate::metrics::Stream::ChallengeEvents),
            wake: challenge::subscribe_device(&provider, &account_id),
            provider,
            account_id,
            last_sent: None,
            deadline: now + STREAM_LIFETIME,
            next_keepalive: now + KEEPALIVE,
            drain,
        }
    }
}

pub async fn decision(
    provider: web::Data<Provider>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Body,
) -> Answer {
    let jws = std::str::from_utf8(&body)
        .map(str::trim)
        .map_err(|_| DeviceError::InvalidDeviceRequest("the body must be a compact JWS"))?;
    let (device, claims) =
        request::authenticate(&provider, jws, DECISION_TYP, "POST", req.path()).await?;
    let decided = challenge::decide(&provider, &device, &path, &claims).await?;
    Ok(json(
        actix_web::http::StatusCode::OK,
        &serde_json::json!({ "status": decided }),
    ))
}

pub async fn list_devices(
    provider: web::Data<Provider>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    let views = devices::views(&provider.core, &device.account_id, &device.id).await?;
    Ok(json(
        actix_web::http::StatusCode::OK,
        &serde_json::json!({ "devices": views }),
    ))
}

/// `?page=` of the history (1 = the newest logins).
#[derive(Deserialize)]
pub struct HistoryQuery {
    page: Option<u32>,
}

/// "Mes connexions": the account's connection history, a page at a time.
pub async fn history(
    provider: web::Data<Provider>,
    query: web::Query<HistoryQuery>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    let page = query.page.unwrap_or(1);
    let page = crate::citizen::history::page(&provider.core, &device.account_id, page)
        .await
        .map_err(DeviceError::from)?;
    Ok(json(actix_web::http::StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

pub async fn rename_device(
    provider: web::Data<Provider>,
    path: web::Path<String>,
    SignedDevice { device, body }: SignedDevice<Body>,
) -> Answer {
    let rename: Rename = parse_json(&body)?;
    let row = devices::rename(&provider.core, &device.account_id, &path, &rename.name).await?;
    Ok(json(
        actix_web::http::StatusCode::OK,
        &DeviceView::new(row, &device.id),
    ))
}

pub async fn revoke_device(
    provider: web::Data<Provider>,
    path: web::Path<String>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    let actor = format!("account:{}", device.account_id);
    devices::revoke(&provider.core, &device.account_id, &path, &actor, None).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

// ---------------------------------------------------------------- Web Push

/// The VAPID public key the app subscribes with (`applicationServerKey`).
pub async fn push_key(provider: web::Data<Provider>) -> Answer {
    let push = &provider.core.push;
    let key = if push.enabled() {
        push.public_key().await.map_err(DeviceError::from)?
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(serde_json::json!({ "enabled": key.is_some(), "public_key": key }).to_string()))
}

/// Registers or renews this device's push subscription.
pub async fn push_subscribe(
    provider: web::Data<Provider>,
    SignedDevice { device, body }: SignedDevice<Body>,
) -> Answer {
    let request: crate::push::SubscribeRequest = parse_json(&body)?;
    provider
        .core
        .push
        .subscribe(&device, request)
        .await
        .map_err(DeviceError::from)?;
    Ok(json(
        actix_web::http::StatusCode::OK,
        &serde_json::json!({ "notifications": true }),
    ))
}

/// Turns this device's notifications off.
pub async fn push_unsubscribe(
    provider: web::Data<Provider>,
    SignedDevice { device, .. }: SignedDevice,
) -> Answer {
    provider
        .core
        .push
        .unsubscribe(&device)
        .await
        .map_err(DeviceError::from)?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

pub async fn openapi() -> HttpResponse {
    let spec = include_str!("../../../docs/device-api.yaml");
    super::wellknown::asset("application/yaml; charset=utf-8", 3600, spec)
}

// ---------------------------------------------------------------- the app

/// The app's files: (name, content type, body).
const APP_FILES: [(&str, &str, &str); 7] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../static/app/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app/app.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app/i18n.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app/app.css"),
    ),
    (
        "sw.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app/sw.js"),
    ),
    (
        "manifest.webmanifest",
        "application/manifest+json",
        include_str!("../../static/app/manifest.webmanifest"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../static/app/icon.svg"),
    ),
];

fn app_file(name: &str) -> HttpResponse {
    match APP_FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((CONTENT_TYPE, *content_type));
            // The shell is small and must update with the server: revalidate.
            response.insert_header((CACHE_CONTROL, "no-cache"));
            if name == "sw.js" {
                response.insert_header(("Service-Worker-Allowed", "/app/"));
            }
            response.body(*body)
        }
        None => super::error::json_error(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such file",
        ),
    }
}

pub async fn app_index() -> HttpResponse {
    app_file("index.html")
}

pub async fn app_asset(path: web::Path<String>) -> HttpResponse {
    app_file(&path)
}

/// The user agent of a request, for the approval screen.
pub(crate) fn user_agent(req: &HttpRequest) -> &str {
    req.headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
