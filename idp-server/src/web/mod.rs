//! HTTP surface (actix-web). Handlers stay thin: parse, call one service, render.

pub mod citizen;
pub mod cookies;
pub mod credentials;
pub mod csrf;
pub mod device;
pub mod drain;
pub mod enrol;
pub mod error;
pub mod extract;
pub mod guidance;
pub mod health;
pub mod i18n;
pub mod metrics;
pub mod middleware;
pub mod oidc;
pub mod pages;
pub mod params;
pub mod pending;
pub mod phone;
pub mod wellknown;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::oidc::discovery::{self, JWKS_PATH};
use crate::oidc::paths;
use metrics::Metrics;

/// Pre-rendered discovery document (it only changes with the configuration).
pub struct DiscoveryDocument(pub String);

pub fn server(
    services: crate::app::Services,
    metrics: Arc<Metrics>,
    drain: drain::Drain,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let core = services.core().clone();
    let workers = match core.config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let discovery = web::Data::new(DiscoveryDocument(
        discovery::metadata(&core.config).to_string(),
    ));
    let grace = core.config.server.shutdown_grace_secs;
    let drain = web::Data::new(drain);
    let core = web::Data::new(core);
    let provider = web::Data::new(services.oidc.clone());
    let keys = web::Data::from(std::sync::Arc::clone(&services.keys));
    let services = web::Data::new(services);
    let metrics = web::Data::from(metrics);
    let transport = web::Data::new(middleware::TransportSecurity::for_public_url(
        &core.config.server.public_url,
    ));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(core.clone())
            .app_data(provider.clone())
            .app_data(keys.clone())
            .app_data(services.clone())
            .app_data(
                web::FormConfig::default()
                    .limit(csrf::FORM_LIMIT)
                    .error_handler(form_error),
            )
            .app_data(metrics.clone())
            .app_data(drain.clone())
            .app_data(discovery.clone())
            .app_data(transport.clone())
            .wrap(actix_web::middleware::from_fn(middleware::observe))
            .configure(routes)
    })
    .workers(workers)
    // Signals are handled by the application (`Application::run_until_signal`),
    // which ends long waits first; then in-flight requests get this long.
    .disable_signals()
    .shutdown_timeout(grace)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A form that cannot be read: 413 or 400 in the OAuth JSON shape.
fn form_error(
    err: actix_web::error::UrlencodedError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::http::StatusCode;
    let response = match err {
        actix_web::error::UrlencodedError::Overflow { limit, .. } => error::json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            &format!("the request body is larger than {limit} bytes"),
        ),
        _ => error::json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("the request body is not a valid form: {err}"),
        ),
    };
    actix_web::error::InternalError::from_response(err, response).into()
}

fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    let pages = [
        ("/healthz", Some(get().to(health::healthz)), None),
        ("/readyz", Some(get().to(health::readyz)), None),
        ("/metrics", Some(get().to(metrics::render)), None),
        (
            "/.well-known/openid-configuration",
            Some(get().to(wellknown::openid_configuration)),
            None,
        ),
        (JWKS_PATH, Some(get().to(wellknown::jwks)), None),
        (
            paths::AUTHORIZE,
            Some(get().to(oidc::authorize_get)),
            Some(post().to(oidc::authorize_post)),
        ),
        (paths::TOKEN, None, Some(post().to(oidc::token))),
        (
            paths::USERINFO,
            Some(get().to(oidc::userinfo_get)),
            Some(post().to(oidc::userinfo_post)),
        ),
        (
            paths::END_SESSION,
            Some(get().to(oidc::logout_get)),
            Some(post().to(oidc::logout_post)),
        ),
        (
            "/logout/confirm",
            None,
            Some(post().to(oidc::logout_confirm)),
        ),
        (paths::REVOCATION, None, Some(post().to(oidc::revoke))),
        (
            paths::INTROSPECTION,
            None,
            Some(post().to(oidc::introspect)),
        ),
        (
            "/login",
            Some(get().to(oidc::login_get)),
            Some(post().to(oidc::login_post)),
        ),
        ("/login/cancel", None, Some(post().to(oidc::login_cancel))),
        (
            "/login/telephone",
            Some(get().to(phone::phone_get)),
            Some(post().to(phone::phone_post)),
        ),
        (
            "/login/telephone/attente",
            Some(get().to(phone::wait_get)),
            None,
        ),
        (
            "/login/telephone/etat",
            Some(get().to(phone::status_get)),
            None,
        ),
        (
            "/login/telephone/evenements",
            Some(get().to(phone::events_get)),
            None,
        ),
        (
            "/static/attente.js",
            Some(get().to(phone::wait_script)),
            None,
        ),
        ("/app", Some(get().to(device::app_index)), None),
        ("/app/", Some(get().to(device::app_index)), None),
        ("/app/{file}", Some(get().to(device::app_asset)), None),
        (
            "/api/device/v1/activation",
            None,
            Some(post().to(device::activate)),
        ),
        (
            "/api/device/v1/activation/code",
            None,
            Some(post().to(device::request_code)),
        ),
        (
            "/api/device/v1/challenges",
            Some(get().to(device::challenges)),
            None,
        ),
        (
            "/api/device/v1/challenges/events",
            Some(get().to(device::challenge_events)),
            None,
        ),
        (
            "/api/device/v1/challenges/{id}/decision",
            None,
            Some(post().to(device::decision)),
        ),
        (
            "/api/device/v1/devices",
            Some(get().to(device::list_devices)),
            None,
        ),
        (
            "/api/device/v1/history",
            Some(get().to(device::history)),
            None,
        ),
        (
            "/api/device/v1/openapi.yaml",
            Some(get().to(device::openapi)),
            None,
        ),
        (
            "/consent",
            Some(get().to(oidc::consent_get)),
            Some(post().to(oidc::consent_post)),
        ),
        (
            "/niveau",
            Some(get().to(oidc::level_get)),
            Some(post().to(oidc::level_post)),
        ),
        (
            "/static/video.js",
            Some(get().to(wellknown::video_script)),
            None,
        ),
        (
            "/static/sesame.css",
            Some(get().to(wellknown::stylesheet)),
            None,
        ),
        (
            "/static/form_post.js",
            Some(get().to(wellknown::form_post_script)),
            None,
        ),
        (
            "/static/suggest.js",
            Some(get().to(wellknown::suggest_script)),
            None,
        ),
    ];
    for (path, on_get, on_post) in pages
        .into_iter()
        .chain(enrol::routes())
        .chain(citizen::routes())
        .chain(guidance::routes())
    {
        // Each path answers 405 (not the app-wide 404) to other methods.
        let mut resource = web::resource(path).default_service(web::to(method_not_allowed));
        if let Some(route) = on_get {
            resource = resource.route(route);
        }
        if let Some(route) = on_post {
            resource = resource.route(route);
        }
        cfg.service(resource);
    }
    cfg.service(
        web::resource("/api/device/v1/push/key")
            .route(web::get().to(device::push_key))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/api/device/v1/push/subscription")
            .route(web::put().to(device::push_subscribe))
            .route(web::delete().to(device::push_unsubscribe))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/api/device/v1/devices/{id}")
            .route(web::patch().to(device::rename_device))
            .route(web::delete().to(device::revoke_device))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.default_service(web::to(not_found));
}

/// The client's IP address, for per-IP limits: the TCP peer, or, when the
/// peer is a trusted reverse proxy (`server.trusted_proxies`), the right-most
/// `X-Forwarded-For` address that is not a trusted proxy. A malformed entry
/// stops the walk at the proxy (never trust what the client could forge).
pub(crate) fn client_ip(req: &actix_web::HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    let trusted = req
        .app_data::<web::Data<crate::app::Core>>()
        .map(|core| core.config.server.trusted_proxies.as_slice())
        .unwrap_or(&[]);
    forwarded_client(peer, trusted, req.headers().get_all("x-forwarded-for")).to_string()
}

fn forwarded_client<'a>(
    peer: std::net::IpAddr,
    trusted: &[std::net::IpAddr],
    headers: impl Iterator<Item = &'a actix_web::http::header::HeaderValue>,
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

async fn method_not_allowed() -> HttpResponse {
    error::json_error(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed on this endpoint",
    )
}

async fn not_found() -> HttpResponse {
    error::json_error(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, trusted: &[&str], xff: &[&str]) -> IpAddr {
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| ip(t)).collect();
        let values: Vec<HeaderValue> = xff
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        super::forwarded_client(ip(peer), &trusted, values.iter())
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        // No proxy configured: the peer, whatever the header says.
        assert_eq!(
            client("203.0.113.9", &[], &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        // An untrusted peer cannot choose its address.
        assert_eq!(
            client("203.0.113.9", &["10.0.0.5"], &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        // Through the trusted proxy: the address it saw.
        assert_eq!(
            client("10.0.0.5", &["10.0.0.5"], &["198.51.100.1"]),
            ip("198.51.100.1")
        );
        // A client forging the header: its forgery is left of the real hop.
        assert_eq!(
            client("10.0.0.5", &["10.0.0.5"], &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Two proxies in a row, headers split over two lines.
        assert_eq!(
            client(
                "10.0.0.5",
                &["10.0.0.5", "10.0.0.6"],
                &["198.51.100.1", "10.0.0.6"]
            ),
            ip("198.51.100.1")
        );
        // Garbage stops the walk at the last trusted hop; no header: the proxy.
        assert_eq!(
            client("10.0.0.5", &["10.0.0.5"], &["1.2.3.4, nonsense"]),
            ip("10.0.0.5")
        );
        assert_eq!(client("10.0.0.5", &["10.0.0.5"], &[]), ip("10.0.0.5"));
    }
}
