//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::app::Core;
use crate::ephemeral::EphemeralStore;

/// Liveness: the process answers HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body("ok\n")
}

/// Readiness: the database and the ephemeral store both answer in time.
pub async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let (database_ok, ephemeral_ok) = probe(&core).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = serde_json::json!({
        "status": if database_ok && ephemeral_ok { "ready" } else { "unavailable" },
        "database": word(database_ok),
        "ephemeral": word(ephemeral_ok),
        "database_backend": core.db.backend().name(),
        "ephemeral_backend": core.ephemeral.kind(),
    });
    let mut response = match database_ok && ephemeral_ok {
        true => HttpResponse::Ok(),
        false => HttpResponse::ServiceUnavailable(),
    };
    response
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

/// Whether the database and the ephemeral store answer within the longer
/// of their timeouts (both asked at once).
async fn probe(core: &Core) -> (bool, bool) {
    let limit = Duration::from_millis(core.config.database.acquire_timeout_ms)
        .max(core.config.ephemeral_timeout());
    let (database, ephemeral) = tokio::join!(
        tokio::time::timeout(limit, core.db.ping()),
        tokio::time::timeout(limit, core.ephemeral.ping()),
    );
    (
        matches!(database, Ok(Ok(()))),
        matches!(ephemeral, Ok(Ok(()))),
    )
}
