//! Development only: the messages the file outbox holds (codes, references).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::enrol::EnrolError;
use crate::notify::OutboxEntry;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::error::{OrPage, PageError, json_error};
use crate::web::i18n::{self, Texts};
use crate::web::pages::html;

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    t: &'static Texts,
    dir: String,
    /// (sent at, kind/subject, to, text)
    entries: Vec<(String, String, String, String)>,
}

impl OutboxPage {
    fn new(lang: Lang, dir: Option<String>, entries: Vec<OutboxEntry>) -> Self {
        let entry = |e: OutboxEntry| {
            let kind = e.subject.unwrap_or_else(|| "SMS".into());
            (e.sent_at, kind, e.to, e.text)
        };
        OutboxPage {
            t: i18n::texts(lang),
            dir: dir.unwrap_or_default(),
            entries: entries.into_iter().map(entry).collect(),
        }
    }
}

pub async fn outbox(provider: web::Data<Provider>, lang: Lang) -> Result<HttpResponse, PageError> {
    if !provider.core.config.dev.enabled {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ));
    }
    let notifier = &provider.core.notifier;
    let dir = notifier.outbox_dir().map(|d| d.display().to_string());
    let entries = notifier.recent_outbox(50).await.map_err(EnrolError::from);
    let page = OutboxPage::new(lang, dir, entries.or_page(lang)?);
    Ok(html(StatusCode::OK, &page))
}
