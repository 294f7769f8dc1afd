//! `/admin/agents`: the roster, new agents, disable / enable / reset TOTP.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::agents::{self, AgentError, Change, NewAgentInput};
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::super::Console;
use super::super::page::{Failure, Frame, render};
use super::super::session::AdminSession;

struct AgentView {
    username: String,
    name: String,
    role: String,
    office: String,
    state: &'static str,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_agents.html")]
struct AgentsPage {
    frame: Frame,
    csrf: String,
    agents: Vec<AgentView>,
}

async fn page(
    console: &Console,
    s: &AdminSession,
    status: StatusCode,
    frame: Frame,
) -> Result<HttpResponse, Failure> {
    let agents = agents::all(&console.core.db)
        .await?
        .into_iter()
        .map(|a| AgentView {
            state: match (a.disabled, a.has_totp) {
                (true, _) => "désactivé",
                (false, true) => "actif",
                (false, false) => "TOTP à configurer",
            },
            username: a.username,
            name: a.display_name,
            role: a.role.as_str().to_owned(),
            office: a.office.unwrap_or_else(|| "—".into()),
            disabled: a.disabled,
        });
    let (csrf, agents) = (s.csrf().to_owned(), agents.collect());
    Ok(render(
        status,
        &AgentsPage {
            frame,
            csrf,
            agents,
        },
    ))
}

/// The page after an attempt: a refusal as its error, an infrastructure fault as a 503.
async fn after(
    console: &Console,
    s: &AdminSession,
    outcome: Result<Option<String>, AgentError>,
) -> Result<HttpResponse, Failure> {
    let frame = s.frame("Agents");
    match outcome {
        Ok(notice) => page(console, s, StatusCode::OK, frame.notice(notice)).await,
        Err(AgentError::Refused(m)) => {
            page(console, s, StatusCode::BAD_REQUEST, frame.error(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn agents_get(
    console: web::Data<Console>,
    s: AdminSession,
) -> Result<HttpResponse, Failure> {
    page(&console, &s, StatusCode::OK, s.frame("Agents")).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewAgentForm {
    username: String,
    name: String,
    role: String,
    office: String,
}

pub async fn agents_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<NewAgentForm, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let (username, office) = (form.username.trim(), form.office.trim());
    let input = NewAgentInput {
        username,
        name: form.name.trim(),
        role: form.role.trim(),
        office: Some(office).filter(|o| !o.is_empty()),
    };
    // The initial password is shown once, on this page only (never in a URL).
    let created = agents::add(&console.core.db, &input, &s.actor()).await.map(|c| {
        Some(format!(
            "Agent {username} créé. Mot de passe initial (à transmettre, affiché une seule fois) : {}",
            c.password
        ))
    });
    after(&console, &s, created).await
}

pub async fn agent_action(
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    CsrfForm { bound: s, .. }: CsrfForm<IgnoredAny, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let (username, action) = path.into_inner();
    let change = match action.as_str() {
        "desactiver" => Change::Disable,
        "activer" => Change::Enable,
        "totp" => Change::ResetTotp,
        _ => return Err(Failure::NotFound),
    };
    let done = agents::change(&console.core.db, &username, change, &s.actor()).await;
    after(&console, &s, done.map(|()| None)).await
}
