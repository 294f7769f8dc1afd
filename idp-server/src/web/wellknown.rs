//! Discovery and JWKS: public, cacheable, served from memory.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use super::DiscoveryDocument;
use crate::keys::KeyService;

pub async fn openid_configuration(doc: web::Data<DiscoveryDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(doc.0.clone())
}

/// Active and retiring public keys. Short cache lifetime so that relying parties
/// pick up a rotated key quickly.
pub async fn jwks(keys: web::Data<KeyService>) -> HttpResponse {
    let keys = keys.current();
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=60"))
        .body(keys.jwks_json().to_owned())
}

/// A static asset compiled into the binary, cached for `max_age` seconds.
pub(crate) fn asset(content_type: &'static str, max_age: u32, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, format!("public, max-age={max_age}")))
        .body(body)
}

pub(crate) const CSS: &str = "text/css; charset=utf-8";
pub(crate) const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

pub async fn stylesheet() -> HttpResponse {
    asset(CSS, 3600, include_str!("../../static/sesame.css"))
}

pub async fn form_post_script() -> HttpResponse {
    asset(JAVASCRIPT, 3600, include_str!("../../static/form_post.js"))
}

pub async fn video_script() -> HttpResponse {
    asset(JAVASCRIPT, 3600, include_str!("../../static/video.js"))
}

pub async fn suggest_script() -> HttpResponse {
    asset(JAVASCRIPT, 3600, include_str!("../../static/suggest.js"))
}

/// No icon yet: answer "nothing here" cheaply instead of a JSON 404 on every page.
pub async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}
