//! Liveness and readiness probes.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::app::Core;

/// Liveness: the process answers HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body("ok\n")
}

/// Readiness: the database and the ephemeral store both answer in time.
pub async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let (database_ok, ephemeral_ok) = core.probe().await;
    let body = readiness(&core, database_ok, ephemeral_ok);
    let mut response = match database_ok && ephemeral_ok {
        true => HttpResponse::Ok(),
        false => HttpResponse::ServiceUnavailable(),
    };
    response
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

/// The readiness document: each dependency's answer and the backends in use.
fn readiness(core: &Core, database_ok: bool, ephemeral_ok: bool) -> serde_json::Value {
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    serde_json::json!({
        "status": if database_ok && ephemeral_ok { "ready" } else { "unavailable" },
        "database": word(database_ok),
        "ephemeral": word(ephemeral_ok),
        "database_backend": core.db.backend().name(),
        "ephemeral_backend": core.ephemeral.kind(),
    })
}
