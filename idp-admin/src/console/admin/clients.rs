//! `/admin/clients`: relying parties, registered, given a new secret or removed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::domain::acr::Acr;
use idp_server::domain::client::{ClientAuthMethod, ClientMetadata};
use idp_server::ephemeral::EphemeralStore;
use idp_server::oidc::clients::{self, CLIENTS_TOPIC, ClientAdminError};
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::super::Console;
use super::super::page::{Failure, Frame, render};
use super::super::session::AdminSession;
use super::blocking;

const TITLE: &str = "Clients (fournisseurs de services)";

/// A change to a client: a new secret to show once, or nothing to show.
type Outcome = Result<Option<String>, ClientAdminError>;

struct ClientRow {
    client_id: String,
    name: String,
    auth_method: &'static str,
    levels: String,
    has_secret: bool,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage {
    frame: Frame,
    csrf: String,
    clients: Vec<ClientRow>,
}

async fn page(
    console: &Console,
    s: &AdminSession,
    status: StatusCode,
    frame: Frame,
) -> Result<HttpResponse, Failure> {
    let db = console.core.db.clone();
    let list = blocking(move || clients::list_blocking(&db)).await?;
    let clients = list
        .map_err(Failure::unavailable)?
        .into_iter()
        .map(|c| ClientRow {
            auth_method: c.metadata.auth_method.as_str(),
            levels: c
                .metadata
                .allowed_acr
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            client_id: c.client_id,
            name: c.name,
            has_secret: c.has_secret,
        });
    let (csrf, clients) = (s.csrf().to_owned(), clients.collect());
    Ok(render(
        status,
        &ClientsPage {
            frame,
            csrf,
            clients,
        },
    ))
}

/// The page after a change: its notice (with a new secret, shown once), or the refusal.
async fn after(
    console: &Console,
    s: &AdminSession,
    client_id: &str,
    outcome: Outcome,
    done: &str,
) -> Result<HttpResponse, Failure> {
    let frame = s.frame(TITLE);
    let notice = match outcome {
        Ok(Some(secret)) => format!(
            "{done} Secret (affiché une seule fois, à transmettre au fournisseur) : {secret}"
        ),
        Ok(None) => done.to_owned(),
        Err(ClientAdminError::Store(e)) => return Err(e.into()),
        Err(refusal) => {
            return page(
                console,
                s,
                StatusCode::BAD_REQUEST,
                frame.error(refusal.to_string()),
            )
            .await;
        }
    };
    // Replicas drop their cached copy at once (on Redis; otherwise within 30 s).
    if let Err(e) = console
        .core
        .ephemeral
        .publish(CLIENTS_TOPIC, client_id.as_bytes())
        .await
    {
        tracing::warn!(error = %e, "could not signal replicas; their cache expires within 30 s");
    }
    page(console, s, StatusCode::OK, frame.notice(Some(notice))).await
}

pub async fn clients_get(
    console: web::Data<Console>,
    s: AdminSession,
) -> Result<HttpResponse, Failure> {
    page(&console, &s, StatusCode::OK, s.frame(TITLE)).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewClientForm {
    client_id: String,
    name: String,
    redirect_uri: String,
    auth_method: String,
    max_acr: String,
}

impl NewClientForm {
    fn metadata(&self) -> ClientMetadata {
        let max = Acr::parse(self.max_acr.trim()).unwrap_or(Acr::Eidas2);
        ClientMetadata {
            redirect_uris: vec![self.redirect_uri.trim().to_owned()],
            auth_method: ClientAuthMethod::parse(self.auth_method.trim())
                .unwrap_or(ClientAuthMethod::ClientSecretBasic),
            allowed_acr: Acr::ALL.iter().copied().filter(|a| *a <= max).collect(),
            default_acr: Acr::Eidas1,
            ..ClientMetadata::default()
        }
    }
}

pub async fn clients_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<NewClientForm, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let (db, key, metadata) = (
        console.core.db.clone(),
        console.core.subkeys.client_secret_key,
        form.metadata(),
    );
    let (id, name, who) = (
        form.client_id.trim().to_owned(),
        form.name.trim().to_owned(),
        s.actor(),
    );
    let registered = {
        let id = id.clone();
        blocking(move || clients::register_blocking(&db, &key, &id, &name, &metadata, &who)).await?
    };
    after(&console, &s, &id, registered, "Client enregistré.").await
}

/// What an action on a client gave, and the notice that says it; `None` for an unknown action.
async fn perform(
    console: &Console,
    client_id: &str,
    action: &str,
    who: String,
) -> Result<Option<(Outcome, &'static str)>, Failure> {
    let (db, key, id) = (
        console.core.db.clone(),
        console.core.subkeys.client_secret_key,
        client_id.to_owned(),
    );
    Ok(Some(match action {
        "secret" => (
            blocking(move || clients::rotate_secret_blocking(&db, &key, &id, &who).map(Some))
                .await?,
            "Nouveau secret émis ; l'ancien ne fonctionne plus.",
        ),
        "supprimer" => (
            blocking(move || clients::remove_blocking(&db, &id, &who).map(|()| None)).await?,
            "Client supprimé.",
        ),
        _ => return Ok(None),
    }))
}

pub async fn client_action(
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    CsrfForm { bound: s, .. }: CsrfForm<IgnoredAny, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let (client_id, action) = path.into_inner();
    let done = perform(&console, &client_id, &action, s.actor()).await?;
    let (outcome, notice) = done.ok_or(Failure::NotFound)?;
    after(&console, &s, &client_id, outcome, notice).await
}
