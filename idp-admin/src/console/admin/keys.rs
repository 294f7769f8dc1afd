//! `/admin/cles`: the signing keys and their rotation.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::crypto::SigningAlg;
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;

use super::super::Console;
use super::super::page::{Failure, Frame, render, see_other};
use super::super::session::AdminSession;
use super::blocking;

struct KeyRow {
    alg: String,
    state: idp_server::domain::key_state::KeyState,
    created: String,
    kid: String,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct KeysPage {
    frame: Frame,
    csrf: String,
    keys: Vec<KeyRow>,
}

async fn page(
    console: &Console,
    s: &AdminSession,
    status: StatusCode,
    frame: Frame,
) -> Result<HttpResponse, Failure> {
    let db = console.core.db.clone();
    let keys = blocking(move || idp_server::keys::list_blocking(&db))
        .await??
        .into_iter()
        .map(|k| KeyRow {
            created: crate::format_time(k.created_at),
            alg: k.alg,
            state: k.state,
            kid: k.kid,
        })
        .collect();
    let csrf = s.csrf().to_owned();
    Ok(render(status, &KeysPage { frame, csrf, keys }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KeysQuery {
    fait: String,
}

pub async fn keys_get(
    console: web::Data<Console>,
    s: AdminSession,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, Failure> {
    let notice = (query.fait == "1").then(|| {
        "Nouvelle clé active ; l'ancienne reste publiée le temps que ses jetons expirent."
            .to_owned()
    });
    page(
        &console,
        &s,
        StatusCode::OK,
        s.frame("Clés de signature").notice(notice),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RotateForm {
    alg: Option<String>,
}

/// The configured algorithms `alg` names (`all`, or absent: every one).
fn targets(console: &Console, alg: Option<&str>) -> Vec<SigningAlg> {
    let configured = console.core.config.keys.algorithms.iter();
    let configured: Vec<SigningAlg> = configured.filter_map(|a| SigningAlg::parse(a)).collect();
    match alg {
        Some("all") | None => configured,
        Some(alg) => SigningAlg::parse(alg)
            .filter(|a| configured.contains(a))
            .into_iter()
            .collect(),
    }
}

/// Rotates each of `targets`, then tells the replicas.
async fn rotate(console: &Console, targets: Vec<SigningAlg>, actor: String) -> Result<(), Failure> {
    let core = &console.core;
    for alg in targets {
        let (db, kek, who) = (
            core.db.clone(),
            Arc::clone(&core.subkeys.kek),
            actor.clone(),
        );
        let secs = core.config.keys.retiring_publish_secs;
        blocking(move || idp_server::keys::rotate_blocking(&db, &kek, alg, secs, &who)).await??;
    }
    // Replicas reload at once (on Redis; in memory only this process hears it).
    if let Err(e) = idp_server::keys::announce_change(&core.ephemeral).await {
        tracing::warn!(error = %e, "key change not announced; replicas reload on their timer");
    }
    Ok(())
}

pub async fn keys_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<RotateForm, AdminSession>,
) -> Result<HttpResponse, Failure> {
    let targets = targets(&console, form.alg.as_deref());
    if targets.is_empty() {
        let frame = s.frame("Clés de signature");
        let frame = frame.error("Cet algorithme n'est pas configuré.");
        return page(&console, &s, StatusCode::BAD_REQUEST, frame).await;
    }
    rotate(&console, targets, s.actor()).await?;
    Ok(see_other("/admin/cles?fait=1"))
}
