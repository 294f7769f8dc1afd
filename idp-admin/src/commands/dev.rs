//! `idp-admin dev seed`: a ready-made demo relying party and citizen for
//! `make run`. Refused unless `dev.enabled = true`.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::crypto::hmac_hex;
use idp_server::domain::acr::Acr;
use idp_server::domain::client::ClientMetadata;
use idp_server::oidc::{clients, login};
use idp_server::store::accounts::{self, IdentityRow, NewAccount};
use idp_server::store::audit::{self, AuditEvent};
use idp_server::store::now_unix;

use crate::{AdminError, blocking};

pub const DEMO_CLIENT_ID: &str = "demo-rp";
pub const DEMO_EMAIL: &str = "marie.martin@demo.sesame.test";
pub const DEMO_PASSWORD: &str = "Demo-Sesame-2026!";

#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Create (or refresh) the demo client and the demo citizen; print their credentials.
    Seed {
        /// Base URL of the demo relying party.
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        rp_url: String,
    },
}

pub async fn run(
    command: DevCommand,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    if !config.dev.enabled {
        return Err(AdminError::Usage(
            "dev commands are only available when dev.enabled = true".into(),
        ));
    }
    let DevCommand::Seed { rp_url } = command;
    let rp_url = rp_url.trim_end_matches('/').to_owned();
    let core = Core::init(config, master_key_env).await?;
    let key = core.subkeys.client_secret_key;
    // Stable per installation, so `make run` can print it every time.
    let secret = URL_SAFE_NO_PAD
        .encode(&hmac_hex(&core.subkeys.token_hash_key, b"demo-client-secret").as_bytes()[..32]);
    let metadata = ClientMetadata {
        redirect_uris: vec![format!("{rp_url}/callback")],
        post_logout_redirect_uris: vec![format!("{rp_url}/")],
        allowed_acr: vec![Acr::Eidas1, Acr::Eidas2],
        default_acr: Acr::Eidas1,
        ..ClientMetadata::default()
    };
    let (db, s) = (core.db.clone(), secret.clone());
    blocking(move || {
        clients::ensure_blocking(
            &db,
            &key,
            DEMO_CLIENT_ID,
            "Mon compte formation (démo)",
            &metadata,
            Some(&s),
            "cli:dev-seed",
        )
    })
    .await?;
    crate::commands::clients::announce(&core.ephemeral, DEMO_CLIENT_ID).await;

    let password_hash = blocking(|| {
        login::hash_password(DEMO_PASSWORD).map_err(|e| AdminError::Usage(e.to_string()))
    })
    .await?;
    let db = core.db.clone();
    blocking(move || {
        db.write_blocking(|conn| {
            if accounts::by_email(conn, DEMO_EMAIL)?.is_some() {
                return Ok(());
            }
            let id = uuid::Uuid::new_v4().to_string();
            accounts::insert(
                conn,
                &NewAccount {
                    id: &id,
                    state: "verified",
                    email: DEMO_EMAIL,
                    password_hash: Some(&password_hash),
                    phone: Some("+33612345678"),
                },
            )?;
            accounts::insert_identity(
                conn,
                &IdentityRow {
                    account_id: id.clone(),
                    given_name: "Marie Louise".into(),
                    family_name: "MARTIN".into(),
                    preferred_username: Some("DUPONT".into()),
                    birthdate: "1990-05-14".into(),
                    gender: "female".into(),
                    birthplace: "75056".into(),
                    birthcountry: "99100".into(),
                    verified_at: Some(now_unix()),
                    verification_method: Some(
                        idp_server::domain::account::VerificationMethod::FaceToFace,
                    ),
                },
            )?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: "cli:dev-seed",
                    action: "accounts.seed_demo",
                    subject: &id,
                    details: serde_json::json!({ "email": DEMO_EMAIL }),
                },
            )?;
            Ok(())
        })
    })
    .await?;

    let activation_code = demo_activation_code(&core).await?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "client_id": DEMO_CLIENT_ID,
                "client_secret": secret,
                "email": DEMO_EMAIL,
                "password": DEMO_PASSWORD,
                "activation_code": activation_code,
            })
        )?;
    } else {
        writeln!(out, "DEMO_CLIENT_ID={DEMO_CLIENT_ID}")?;
        writeln!(out, "DEMO_CLIENT_SECRET={secret}")?;
        writeln!(out, "DEMO_EMAIL={DEMO_EMAIL}")?;
        writeln!(out, "DEMO_PASSWORD={DEMO_PASSWORD}")?;
        if let Some(code) = &activation_code {
            writeln!(out, "DEMO_ACTIVATION_CODE={code}")?;
        }
    }
    Ok(())
}

/// While the demo citizen has no app (verified, or locked out), a fresh
/// activation code, stable per installation so `make run` can print it.
async fn demo_activation_code(core: &Core) -> Result<Option<String>, AdminError> {
    use idp_server::store::agents;
    let digest = hmac_hex(&core.subkeys.token_hash_key, b"demo-activation-code");
    let number = u32::from_str_radix(&digest[..8], 16).unwrap_or(0) % 1_000_000;
    let code = format!("{number:06}");
    let db = core.db.clone();
    let core = core.clone();
    blocking(move || {
        db.write_blocking(|conn| {
            let Some(account) = accounts::by_email(conn, DEMO_EMAIL)? else {
                return Ok(None);
            };
            if !matches!(account.state.as_str(), "verified" | "device_locked") {
                return Ok(None);
            }
            let hash = idp_server::verification::activation_hash(&core, &account.id, &code);
            let expires_at = now_unix() + idp_server::verification::ACTIVATION_TTL.as_secs() as i64;
            agents::put_activation(conn, &account.id, &hash, expires_at)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: "cli:dev-seed",
                    action: "activation.code_issued",
                    subject: &account.id,
                    details: serde_json::json!({ "expires_at": expires_at, "demo": true }),
                },
            )?;
            Ok(Some(code))
        })
    })
    .await
}
