//! HTTP surface (actix-web). Handlers stay thin: parse, call one service, render.

pub mod error;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod wellknown;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::app::Core;
use crate::oidc::discovery::{self, JWKS_PATH};
use metrics::Metrics;

/// Pre-rendered discovery document (it only changes with the configuration).
pub struct DiscoveryDocument(pub String);

pub fn server(core: Core, metrics: Arc<Metrics>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = match core.config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let discovery = web::Data::new(DiscoveryDocument(
        discovery::metadata(&core.config).to_string(),
    ));
    let core = web::Data::new(core);
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(core.clone())
            .app_data(metrics.clone())
            .app_data(discovery.clone())
            .wrap(actix_web::middleware::from_fn(middleware::observe))
            .configure(routes)
    })
    .workers(workers)
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::render))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(wellknown::openid_configuration),
        )
        .route(JWKS_PATH, web::get().to(wellknown::jwks))
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    error::json_error(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}
