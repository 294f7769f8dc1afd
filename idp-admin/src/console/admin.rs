//! Console pages for administrators: signing keys, agents and relying-party
//! clients. They call the same functions as the CLI (`idp-admin keys`,
//! `agents`, `clients`), so both write the same audit entries.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use idp_server::crypto::SigningAlg;
use idp_server::domain::acr::Acr;
use idp_server::domain::agent::Role;
use idp_server::domain::client::{ClientAuthMethod, ClientMetadata};
use idp_server::oidc::clients;

use super::{Console, csrf_ok, esc, hidden_csrf, page, require, see_other, unavailable};
use crate::AdminError;

type Params = HashMap<String, String>;

/// A refusal to show the operator (`Ok`), or an infrastructure fault (`Err`, for a 503).
fn refusal(e: AdminError) -> Result<String, String> {
    match e {
        AdminError::Usage(m) => Ok(m),
        AdminError::Clients(clients::ClientAdminError::Store(s)) => Err(s.to_string()),
        AdminError::Clients(c) => Ok(c.to_string()),
        other => Err(other.to_string()),
    }
}

fn post_button(action: &str, csrf: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}<button type=\"submit\" class=\"secondary\">{}</button></form>",
        esc(action),
        hidden_csrf(csrf),
        esc(label)
    )
}

// ------------------------------------------------------------------ keys

async fn keys_body(console: &Console, csrf: &str) -> Result<String, HttpResponse> {
    let db = console.core.db.clone();
    let list = tokio::task::spawn_blocking(move || idp_server::keys::list_blocking(&db))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    let mut body = String::from(
        "<table><thead><tr><th>Alg.</th><th>État</th><th>Créée</th><th>kid</th></tr></thead><tbody>",
    );
    for k in list {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&k.alg),
            esc(&k.state),
            crate::format_time(k.created_at),
            esc(&k.kid)
        ));
    }
    body.push_str(&format!(
        "</tbody></table><form method=\"post\" action=\"/admin/cles\">{}<label for=\"alg\">Algorithme</label>\
         <select id=\"alg\" name=\"alg\"><option value=\"all\">Tous</option><option>ES256</option><option>RS256</option><option>PS256</option></select>\
         <button type=\"submit\">Faire tourner les clés</button></form>",
        hidden_csrf(csrf)
    ));
    Ok(body)
}

pub async fn keys_get(
    console: web::Data<Console>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let notice = (query.get("fait").map(String::as_str) == Some("1")).then(|| {
        "Nouvelle clé active ; l'ancienne reste publiée le temps que ses jetons expirent."
            .to_owned()
    });
    match keys_body(&console, &session.csrf).await {
        Ok(body) => page(
            StatusCode::OK,
            "Clés de signature",
            Some(&agent),
            None,
            notice,
            body,
        ),
        Err(r) => r,
    }
}

pub async fn keys_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return see_other("/admin/cles");
    }
    let configured: Vec<SigningAlg> = console
        .core
        .config
        .keys
        .algorithms
        .iter()
        .filter_map(|a| SigningAlg::parse(a))
        .collect();
    let targets: Vec<SigningAlg> = match form.get("alg").map(String::as_str) {
        Some("all") | None => configured.clone(),
        Some(alg) => SigningAlg::parse(alg)
            .filter(|a| configured.contains(a))
            .into_iter()
            .collect(),
    };
    if targets.is_empty() {
        return match keys_body(&console, &session.csrf).await {
            Ok(body) => page(
                StatusCode::BAD_REQUEST,
                "Clés de signature",
                Some(&agent),
                Some("Cet algorithme n'est pas configuré.".into()),
                None,
                body,
            ),
            Err(r) => r,
        };
    }
    let actor = format!("agent:{}", agent.username);
    for alg in targets {
        let (db, kek, secs, who) = (
            console.core.db.clone(),
            Arc::clone(&console.core.subkeys.kek),
            console.core.config.keys.retiring_publish_secs,
            actor.clone(),
        );
        let rotated = tokio::task::spawn_blocking(move || {
            idp_server::keys::rotate_blocking(&db, &kek, alg, secs, &who)
        })
        .await;
        match rotated {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return unavailable(e),
            Err(e) => return unavailable(e),
        }
    }
    if let idp_server::ephemeral::Ephemeral::Redis(_) = &console.core.ephemeral {
        let _ = idp_server::keys::announce_change(&console.core.ephemeral).await;
    }
    see_other("/admin/cles?fait=1")
}

// ------------------------------------------------------------------ agents

async fn agents_body(console: &Console, csrf: &str) -> Result<String, HttpResponse> {
    let db = console.core.db.clone();
    let list =
        tokio::task::spawn_blocking(move || db.read_blocking(idp_server::store::agents::all))
            .await
            .map_err(unavailable)?
            .map_err(unavailable)?;
    let mut body = String::from(
        "<table><thead><tr><th>Identifiant</th><th>Nom</th><th>Rôle</th><th>Bureau</th><th>État</th><th></th></tr></thead><tbody>",
    );
    for a in list {
        let base = format!("/admin/agents/{}", a.username);
        let toggle = if a.disabled {
            post_button(&format!("{base}/activer"), csrf, "Réactiver")
        } else {
            post_button(&format!("{base}/desactiver"), csrf, "Désactiver")
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{toggle}{}</td></tr>",
            esc(&a.username),
            esc(&a.display_name),
            esc(a.role.as_str()),
            esc(a.office.as_deref().unwrap_or("—")),
            if a.disabled {
                "désactivé"
            } else if a.totp_sealed.is_some() {
                "actif"
            } else {
                "TOTP à configurer"
            },
            post_button(&format!("{base}/totp"), csrf, "Réinitialiser le TOTP"),
        ));
    }
    body.push_str(&format!(
        "</tbody></table><h2>Nouvel agent</h2><form method=\"post\" action=\"/admin/agents\">{}\
         <label for=\"username\">Identifiant</label><input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"off\">\
         <label for=\"name\">Nom</label><input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"off\">\
         <label for=\"role\">Rôle</label><select id=\"role\" name=\"role\"><option value=\"clerk\">Guichet</option><option value=\"reviewer\">Revue en ligne</option><option value=\"admin\">Administration</option></select>\
         <label for=\"office\">Bureau (guichet)</label><input id=\"office\" name=\"office\" type=\"text\" autocomplete=\"off\">\
         <button type=\"submit\">Créer l'agent</button></form>",
        hidden_csrf(csrf)
    ));
    Ok(body)
}

pub async fn agents_get(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match agents_body(&console, &session.csrf).await {
        Ok(body) => page(StatusCode::OK, "Agents", Some(&agent), None, None, body),
        Err(r) => r,
    }
}

pub async fn agents_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return see_other("/admin/agents");
    }
    let get = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let office = Some(get("office")).filter(|o| !o.is_empty());
    let actor = format!("agent:{}", agent.username);
    let created = crate::commands::agents::add(
        &console.core.db,
        &get("username"),
        &get("name"),
        &get("role"),
        office.as_deref(),
        &actor,
    )
    .await;
    let (status, error, notice) = match created {
        // Shown once, on this page only (never in a URL).
        Ok((password, _, _)) => (
            StatusCode::OK,
            None,
            Some(format!(
                "Agent {} créé. Mot de passe initial (à transmettre, affiché une seule fois) : {password}",
                get("username")
            )),
        ),
        Err(e) => match refusal(e) {
            Ok(message) => (StatusCode::BAD_REQUEST, Some(message), None),
            Err(detail) => return unavailable(detail),
        },
    };
    match agents_body(&console, &session.csrf).await {
        Ok(body) => page(status, "Agents", Some(&agent), error, notice, body),
        Err(r) => r,
    }
}

pub async fn agent_action(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return see_other("/admin/agents");
    }
    let (username, action) = path.into_inner();
    let actor = format!("agent:{}", agent.username);
    use idp_server::store::agents as rows;
    let db = &console.core.db;
    let done = match action.as_str() {
        "desactiver" => {
            crate::commands::agents::change(db, &username, "agents.disable", &actor, |c, id| {
                rows::set_disabled(c, id, true)
            })
            .await
        }
        "activer" => {
            crate::commands::agents::change(db, &username, "agents.enable", &actor, |c, id| {
                rows::set_disabled(c, id, false)
            })
            .await
        }
        "totp" => {
            crate::commands::agents::change(db, &username, "agents.reset_totp", &actor, |c, id| {
                rows::set_totp(c, id, None)
            })
            .await
        }
        _ => return HttpResponse::NotFound().finish(),
    };
    let error = match done {
        Ok(()) => None,
        Err(e) => match refusal(e) {
            Ok(message) => Some(message),
            Err(detail) => return unavailable(detail),
        },
    };
    match agents_body(&console, &session.csrf).await {
        Ok(body) => page(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            "Agents",
            Some(&agent),
            error,
            None,
            body,
        ),
        Err(r) => r,
    }
}

// ------------------------------------------------------------------ clients

async fn clients_body(console: &Console, csrf: &str) -> Result<String, HttpResponse> {
    let db = console.core.db.clone();
    let list = tokio::task::spawn_blocking(move || clients::list_blocking(&db))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    let mut body = String::from(
        "<table><thead><tr><th>client_id</th><th>Nom</th><th>Authentification</th><th>Niveaux</th><th></th></tr></thead><tbody>",
    );
    for c in list {
        let acr: Vec<&str> = c.metadata.allowed_acr.iter().map(|a| a.as_str()).collect();
        let base = format!("/admin/clients/{}", c.client_id);
        let rotate = if c.has_secret {
            post_button(&format!("{base}/secret"), csrf, "Nouveau secret")
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{rotate}{}</td></tr>",
            esc(&c.client_id),
            esc(&c.name),
            c.metadata.auth_method.as_str(),
            acr.join(", "),
            post_button(&format!("{base}/supprimer"), csrf, "Supprimer"),
        ));
    }
    body.push_str(&format!(
        "</tbody></table><h2>Nouveau client</h2><p class=\"hint\">Les réglages avancés (chiffrement, private_key_jwt, durées) se font avec <code>idp-admin clients</code>.</p>\
         <form method=\"post\" action=\"/admin/clients\">{}\
         <label for=\"client_id\">client_id</label><input id=\"client_id\" name=\"client_id\" type=\"text\" autocomplete=\"off\">\
         <label for=\"name\">Nom affiché aux personnes</label><input id=\"name\" name=\"name\" type=\"text\">\
         <label for=\"redirect_uri\">URI de redirection</label><input id=\"redirect_uri\" name=\"redirect_uri\" type=\"text\" autocomplete=\"off\">\
         <label for=\"auth_method\">Authentification</label><select id=\"auth_method\" name=\"auth_method\"><option>client_secret_basic</option><option>client_secret_post</option><option value=\"none\">none (client public, PKCE)</option></select>\
         <label for=\"max_acr\">Niveau le plus élevé autorisé</label><select id=\"max_acr\" name=\"max_acr\"><option>eidas1</option><option selected>eidas2</option><option>eidas3</option></select>\
         <button type=\"submit\">Enregistrer le client</button></form>",
        hidden_csrf(csrf)
    ));
    Ok(body)
}

pub async fn clients_get(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match clients_body(&console, &session.csrf).await {
        Ok(body) => page(
            StatusCode::OK,
            "Clients (fournisseurs de services)",
            Some(&agent),
            None,
            None,
            body,
        ),
        Err(r) => r,
    }
}

async fn clients_result(
    console: &Console,
    agent: &idp_server::store::agents::AgentRow,
    csrf: &str,
    outcome: Result<Option<String>, AdminError>,
    done: &str,
) -> HttpResponse {
    let (status, error, notice) = match outcome {
        Ok(Some(secret)) => (
            StatusCode::OK,
            None,
            Some(format!(
                "{done} Secret (affiché une seule fois, à transmettre au fournisseur) : {secret}"
            )),
        ),
        Ok(None) => (StatusCode::OK, None, Some(done.to_owned())),
        Err(e) => match refusal(e) {
            Ok(message) => (StatusCode::BAD_REQUEST, Some(message), None),
            Err(detail) => return unavailable(detail),
        },
    };
    match clients_body(console, csrf).await {
        Ok(body) => page(
            status,
            "Clients (fournisseurs de services)",
            Some(agent),
            error,
            notice,
            body,
        ),
        Err(r) => r,
    }
}

pub async fn clients_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return see_other("/admin/clients");
    }
    let get = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let max = Acr::parse(&get("max_acr")).unwrap_or(Acr::Eidas2);
    let metadata = ClientMetadata {
        redirect_uris: vec![get("redirect_uri")],
        auth_method: ClientAuthMethod::parse(&get("auth_method"))
            .unwrap_or(ClientAuthMethod::ClientSecretBasic),
        allowed_acr: Acr::ALL.iter().copied().filter(|a| *a <= max).collect(),
        default_acr: Acr::Eidas1,
        ..ClientMetadata::default()
    };
    let (db, key, id, name, who) = (
        console.core.db.clone(),
        console.core.subkeys.client_secret_key,
        get("client_id"),
        get("name"),
        format!("agent:{}", agent.username),
    );
    let announce = id.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        clients::register_blocking(&db, &key, &id, &name, &metadata, &who)
    })
    .await
    .map_err(|e| AdminError::Usage(e.to_string()))
    .and_then(|r| r.map_err(AdminError::from));
    if outcome.is_ok() {
        crate::commands::clients::announce(&console.core.ephemeral, &announce).await;
    }
    clients_result(
        &console,
        &agent,
        &session.csrf,
        outcome,
        "Client enregistré.",
    )
    .await
}

pub async fn client_action(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return see_other("/admin/clients");
    }
    let (client_id, action) = path.into_inner();
    let (db, key, id, who) = (
        console.core.db.clone(),
        console.core.subkeys.client_secret_key,
        client_id.clone(),
        format!("agent:{}", agent.username),
    );
    let (outcome, done) = match action.as_str() {
        "secret" => (
            tokio::task::spawn_blocking(move || {
                clients::rotate_secret_blocking(&db, &key, &id, &who).map(Some)
            })
            .await,
            "Nouveau secret émis ; l'ancien ne fonctionne plus.",
        ),
        "supprimer" => (
            tokio::task::spawn_blocking(move || {
                clients::remove_blocking(&db, &id, &who).map(|()| None)
            })
            .await,
            "Client supprimé.",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    let outcome = outcome
        .map_err(|e| AdminError::Usage(e.to_string()))
        .and_then(|r| r.map_err(AdminError::from));
    if outcome.is_ok() {
        crate::commands::clients::announce(&console.core.ephemeral, &client_id).await;
    }
    clients_result(&console, &agent, &session.csrf, outcome, done).await
}
