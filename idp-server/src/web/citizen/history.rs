//! `/compte/historique`: the connection history, newest first, 20 logins
//! a page (`?page=2` for older ones), as a list that fits a 360 px phone.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::citizen::history::{self, HistoryPage, Login};
use crate::domain::history::LoginResult;
use crate::oidc::Provider;
use crate::web::enrol::extract::Session;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, LifeTexts, Texts};
use crate::web::pages::html;

pub const HISTORY: &str = "/compte/historique";

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
}

struct Item {
    partner: String,
    outcome: &'static str,
    label: &'static str,
    when: String,
    iso: String,
    acr: String,
    ip: String,
    user_agent: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryTemplate {
    t: &'static Texts,
    items: Vec<Item>,
    newer: Option<String>,
    older: Option<String>,
}

/// How an outcome reads.
pub fn outcome_label(l: &LifeTexts, outcome: LoginResult) -> &'static str {
    match outcome {
        LoginResult::Approved => l.outcome_approved,
        LoginResult::Refused => l.outcome_refused,
        LoginResult::FraudReported => l.outcome_fraud,
        LoginResult::Expired => l.outcome_expired,
    }
}

fn item(l: &LifeTexts, login: Login) -> Item {
    let seconds = login.at_ms.div_euclid(1000);
    Item {
        partner: login.partner,
        outcome: login.outcome.as_str(),
        label: outcome_label(l, login.outcome),
        when: crate::domain::paris::format(seconds),
        iso: chrono::DateTime::from_timestamp(seconds, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        acr: login.acr,
        ip: login.ip,
        user_agent: login.user_agent,
    }
}

fn render(t: &'static Texts, page: HistoryPage) -> HttpResponse {
    let link = |n: u32| format!("{HISTORY}?page={n}");
    let template = HistoryTemplate {
        t,
        newer: (page.page > 1).then(|| link(page.page - 1)),
        older: page.has_next.then(|| link(page.page + 1)),
        items: page.logins.into_iter().map(|l| item(t.life, l)).collect(),
    };
    html(StatusCode::OK, &template)
}

pub async fn history_get(
    provider: web::Data<Provider>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let number = query.page.unwrap_or(1);
    let page = history::page(&provider.core, &session.account_id, number).await;
    Ok(render(
        i18n::texts(session.lang),
        page.or_page(session.lang)?,
    ))
}
