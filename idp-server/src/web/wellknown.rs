//! Discovery and JWKS: public, cacheable, served from memory.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use super::DiscoveryDocument;
use crate::app::Core;

pub async fn openid_configuration(doc: web::Data<DiscoveryDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(doc.0.clone())
}

/// Active and retiring public keys. Short cache lifetime so that relying parties
/// pick up a rotated key quickly.
pub async fn jwks(core: web::Data<Core>) -> HttpResponse {
    let keys = core.keys.current();
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=60"))
        .body(keys.jwks_json().to_owned())
}

/// Static assets, compiled into the binary.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/sesame.css"))
}

pub async fn form_post_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/form_post.js"))
}

pub async fn video_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/video.js"))
}

/// No icon yet: answer "nothing here" cheaply instead of a JSON 404 on every page.
pub async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}
