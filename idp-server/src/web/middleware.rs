//! One middleware around every request: request id, tracing span, access log,
//! metrics, and the security headers every response carries. Behind an https
//! public URL ([`TransportSecurity`]) it also sends HSTS and marks every
//! cookie `Secure`, whichever handler set it.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderMap, HeaderName, HeaderValue, REFERRER_POLICY,
    SET_COOKIE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use super::error::DeviceErrorCode;
use super::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Default policy; a page that needs another (e.g. form_post to a relying
/// party) sets its own `Content-Security-Policy` and it is left alone.
/// `media-src blob:` lets the video page play back the recording its script
/// made (a URL of the page's own memory) before it is sent.
const DEFAULT_CSP: &str = "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'self'; object-src 'none'";

/// One year, subdomains included: browsers then refuse plain HTTP to the host.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Whether the listener is reached through https (its public URL): the TLS
/// ends in front of it (proxy), so the URL, not the socket, decides. Plain
/// http public URLs (local development) get neither HSTS nor `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct TransportSecurity {
    pub https: bool,
}

impl TransportSecurity {
    pub fn for_public_url(url: &str) -> Self {
        TransportSecurity {
            https: url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
        }
    }
}

/// Adds `Secure` to every `Set-Cookie` of the response.
fn secure_cookies(headers: &mut HeaderMap) {
    let set: Vec<HeaderValue> = headers.get_all(SET_COOKIE).cloned().collect();
    if set.is_empty() {
        return;
    }
    headers.remove(SET_COOKIE);
    for value in set {
        let secured = value
            .to_str()
            .ok()
            .and_then(|raw| Cookie::parse(raw.to_owned()).ok())
            .and_then(|mut cookie| {
                cookie.set_secure(true);
                HeaderValue::from_str(&cookie.to_string()).ok()
            });
        // A header that does not parse as a cookie is dropped rather than
        // sent without `Secure`.
        if let Some(secured) = secured {
            headers.append(SET_COOKIE, secured);
        }
    }
}

/// Keeps a caller's request id if it is short and plain, else makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let https = req
        .app_data::<web::Data<TransportSecurity>>()
        .is_some_and(|t| t.https);
    let span = tracing::info_span!("request", id = %id, method = %method, path = %req.path());
    let mut res = next.call(req).instrument(span.clone()).await?;

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
        let code = res
            .response()
            .extensions()
            .get::<DeviceErrorCode>()
            .copied();
        if let Some(DeviceErrorCode(code)) = code {
            metrics.device_error(code);
        }
    }
    let quiet = matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics");
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if quiet {
        tracing::debug!(parent: &span, status, micros, "served");
    } else {
        tracing::info!(parent: &span, status, micros, "served");
    }

    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    // Anything that did not opt into caching may carry a token or personal data.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
        secure_cookies(headers);
    }
    Ok(res)
}
