//! `/metrics`: the registry of [`crate::metrics`] as OpenMetrics text.
//! Request counts and latency are per route pattern (never per raw path,
//! which would let clients create unbounded label values).

pub use crate::metrics::Metrics;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

pub async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(metrics.encode())
}
