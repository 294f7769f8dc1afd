//! How console pages are rendered: every page is an askama template in
//! `idp-admin/templates/` extending `base.html` through its [`Frame`], and
//! every failure a handler can meet becomes a response here ([`Failure`]).

use std::fmt::Display;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use idp_server::domain::agent::Role;
use idp_server::store::agents::AgentRow;

/// What every page shows around its content: title, who is logged in, one
/// error (an alert) and one notice (a status).
pub struct Frame {
    pub title: String,
    pub who: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

impl Frame {
    /// A page seen before login (no agent named in the header).
    pub fn anonymous(title: impl Into<String>) -> Self {
        Frame {
            title: title.into(),
            who: None,
            error: None,
            notice: None,
        }
    }

    /// A page for the logged-in `agent`.
    pub fn of(title: impl Into<String>, agent: &AgentRow) -> Self {
        let office = agent
            .office
            .as_ref()
            .map(|o| format!(", {o}"))
            .unwrap_or_default();
        Frame {
            who: Some(format!(
                "{} ({}{office})",
                agent.display_name,
                role_label(agent.role)
            )),
            ..Frame::anonymous(title)
        }
    }

    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    pub fn notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    /// An error shown on the page if there is one.
    pub fn maybe_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Clerk => "guichet",
        Role::Reviewer => "revue en ligne",
        Role::Admin => "administration",
    }
}

/// A page with nothing but the frame and, maybe, one link back.
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub frame: Frame,
    pub back: Option<(String, String)>,
}

impl Message {
    /// The frame alone.
    pub fn bare(frame: Frame) -> Self {
        Message { frame, back: None }
    }

    /// The frame and one link.
    pub fn linked(frame: Frame, href: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            frame,
            back: Some((href.into(), text.into())),
        }
    }
}

/// Renders `page` with `status`; never cached.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub fn ok(page: &impl Template) -> Result<HttpResponse, Failure> {
    Ok(render(StatusCode::OK, page))
}

pub fn with_status(status: StatusCode, page: &impl Template) -> Result<HttpResponse, Failure> {
    Ok(render(status, page))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// The 503 page (the cause is logged, never shown).
pub fn unavailable(error: impl Display) -> HttpResponse {
    tracing::warn!(error = %error, "console answered 503");
    let frame = Frame::anonymous("Service indisponible")
        .error("Le service est momentanément indisponible. Réessayez dans quelques instants.");
    render(StatusCode::SERVICE_UNAVAILABLE, &Message::bare(frame))
}

/// Why a console handler could not answer with its page.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Storage, the ephemeral store, randomness…: a 503 page.
    #[error("{0}")]
    Unavailable(String),
    /// Nothing here (an unknown action or medium).
    #[error("not found")]
    NotFound,
}

impl Failure {
    pub fn unavailable(e: impl Display) -> Self {
        Failure::Unavailable(e.to_string())
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::NotFound => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::Unavailable(detail) => unavailable(detail),
            Failure::NotFound => HttpResponse::NotFound().finish(),
        }
    }
}

macro_rules! unavailable_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::unavailable(e)
            }
        }
    )*};
}

unavailable_from!(
    idp_server::agents::AgentError,
    idp_server::support::SupportError,
    idp_server::store::StoreError,
    idp_server::enrol::EnrolError,
    idp_server::keys::KeyError,
    idp_server::crypto::CryptoError,
    tokio::task::JoinError
);
