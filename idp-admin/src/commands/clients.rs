//! `idp-admin clients …`: register and manage relying parties.

use std::io::Write;
use std::sync::Arc;

use clap::{Args, Subcommand};
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::domain::acr::Acr;
use idp_server::domain::client::{ClientAuthMethod, ClientMetadata, Encryption, SubjectType};
use idp_server::ephemeral::{Ephemeral, EphemeralStore};
use idp_server::oidc::clients::{self, CLIENTS_TOPIC};

use crate::{AdminError, actor, blocking, format_time};

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Register a client; its secret is printed once.
    Add {
        client_id: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: ClientArgs,
    },
    /// List registered clients.
    List,
    /// Show one client's registration.
    Show { client_id: String },
    /// Change a client's registration; options not given keep their value.
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: ClientArgs,
    },
    /// Issue a new secret (the old one stops working at once).
    RotateSecret { client_id: String },
    /// Delete a client with its consents and refresh tokens.
    Remove { client_id: String },
}

/// Registration options; each one given replaces that setting.
#[derive(Args, Debug, Default)]
pub struct ClientArgs {
    /// Exact redirect URI (repeat for several).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt or none.
    #[arg(long)]
    pub auth_method: Option<String>,
    /// Allowed scopes, space or comma separated (default: all).
    #[arg(long)]
    pub scopes: Option<String>,
    /// Allowed levels, e.g. "eidas1,eidas2".
    #[arg(long)]
    pub allowed_acr: Option<String>,
    /// Level used when the request names none.
    #[arg(long)]
    pub default_acr: Option<String>,
    /// pairwise (default) or public.
    #[arg(long)]
    pub subject_type: Option<String>,
    #[arg(long)]
    pub sector_identifier: Option<String>,
    /// ES256 (default), RS256 or PS256.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Sign userinfo responses with this alg (answers application/jwt).
    #[arg(long)]
    pub userinfo_alg: Option<String>,
    /// Encrypt ID tokens: ALG/ENC, e.g. RSA-OAEP-256/A256GCM.
    #[arg(long)]
    pub id_token_encryption: Option<String>,
    /// Encrypt userinfo JWTs: ALG/ENC.
    #[arg(long)]
    pub userinfo_encryption: Option<String>,
    /// The client's public JWK Set, inline JSON or @file.
    #[arg(long)]
    pub jwks: Option<String>,
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// Do not require PKCE (confidential clients only).
    #[arg(long)]
    pub no_pkce: bool,
    #[arg(long)]
    pub access_token_ttl: Option<u64>,
    #[arg(long)]
    pub id_token_ttl: Option<u64>,
    #[arg(long)]
    pub refresh_token_ttl: Option<u64>,
}

fn usage(message: String) -> AdminError {
    AdminError::Usage(message)
}

fn parse_acrs(raw: &str) -> Result<Vec<Acr>, AdminError> {
    raw.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| {
            Acr::parse(s)
                .ok_or_else(|| usage(format!("unknown acr {s} (use eidas1, eidas2, eidas3)")))
        })
        .collect()
}

fn parse_encryption(raw: &str) -> Result<Encryption, AdminError> {
    let (alg, enc) = raw.split_once('/').ok_or_else(|| {
        usage(format!(
            "encryption must be ALG/ENC, e.g. RSA-OAEP-256/A256GCM, got {raw}"
        ))
    })?;
    Ok(Encryption {
        alg: alg.to_owned(),
        enc: enc.to_owned(),
    })
}

impl ClientArgs {
    /// Applies the options given to `metadata`.
    pub fn apply(&self, metadata: &mut ClientMetadata) -> Result<(), AdminError> {
        if !self.redirect_uris.is_empty() {
            metadata.redirect_uris = self.redirect_uris.clone();
        }
        if !self.post_logout_redirect_uris.is_empty() {
            metadata.post_logout_redirect_uris = self.post_logout_redirect_uris.clone();
        }
        if let Some(method) = &self.auth_method {
            metadata.auth_method = ClientAuthMethod::parse(method)
                .ok_or_else(|| usage(format!("unknown auth method {method}")))?;
        }
        if let Some(scopes) = &self.scopes {
            metadata.allowed_scopes = scopes
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(acrs) = &self.allowed_acr {
            metadata.allowed_acr = parse_acrs(acrs)?;
        }
        if let Some(acr) = &self.default_acr {
            metadata.default_acr =
                Acr::parse(acr).ok_or_else(|| usage(format!("unknown acr {acr}")))?;
        }
        if let Some(kind) = &self.subject_type {
            metadata.subject_type = match kind.as_str() {
                "pairwise" => SubjectType::Pairwise,
                "public" => SubjectType::Public,
                other => {
                    return Err(usage(format!(
                        "unknown subject type {other} (pairwise or public)"
                    )));
                }
            };
        }
        if let Some(sector) = &self.sector_identifier {
            metadata.sector_identifier = Some(sector.clone());
        }
        if let Some(alg) = &self.id_token_alg {
            metadata.id_token_signed_response_alg = alg.clone();
        }
        if let Some(alg) = &self.userinfo_alg {
            metadata.userinfo_signed_response_alg = Some(alg.clone());
        }
        if let Some(raw) = &self.id_token_encryption {
            metadata.id_token_encryption = Some(parse_encryption(raw)?);
        }
        if let Some(raw) = &self.userinfo_encryption {
            metadata.userinfo_encryption = Some(parse_encryption(raw)?);
        }
        if let Some(raw) = &self.jwks {
            let text = match raw.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("cannot read {path}: {e}")))?,
                None => raw.clone(),
            };
            metadata.jwks = Some(
                serde_json::from_str(&text)
                    .map_err(|e| usage(format!("--jwks is not JSON: {e}")))?,
            );
        }
        if let Some(uri) = &self.jwks_uri {
            metadata.jwks_uri = Some(uri.clone());
        }
        if self.no_pkce {
            metadata.require_pkce = false;
        }
        if let Some(ttl) = self.access_token_ttl {
            metadata.access_token_ttl_secs = ttl;
        }
        if let Some(ttl) = self.id_token_ttl {
            metadata.id_token_ttl_secs = ttl;
        }
        if let Some(ttl) = self.refresh_token_ttl {
            metadata.refresh_token_ttl_secs = ttl;
        }
        Ok(())
    }
}

/// Tells running replicas to drop their cached copy (through Redis; the
/// in-process store reaches no other process).
pub(crate) async fn announce(ephemeral: &Ephemeral, client_id: &str) {
    if let Err(e) = ephemeral.publish(CLIENTS_TOPIC, client_id.as_bytes()).await {
        tracing::warn!(error = %e, "could not signal replicas; their cache expires within 30 s");
    }
}

pub async fn run(
    command: ClientsCommand,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let core = Core::init(config, master_key_env).await?;
    let db = core.db.clone();
    let key = core.subkeys.client_secret_key;
    match command {
        ClientsCommand::Add {
            client_id,
            name,
            settings,
        } => {
            let mut metadata = ClientMetadata::default();
            settings.apply(&mut metadata)?;
            let metadata = Arc::new(metadata);
            let (id, m, who) = (client_id.clone(), Arc::clone(&metadata), actor());
            let secret =
                blocking(move || clients::register_blocking(&db, &key, &id, &name, &m, &who))
                    .await?;
            announce(&core.ephemeral, &client_id).await;
            print_secret(out, json, &client_id, secret.as_deref())?;
        }
        ClientsCommand::List => {
            let list = blocking(move || clients::list_blocking(&db)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(out, "{:<24} {:<20} {:<14} NAME", "CLIENT_ID", "AUTH", "ACR")?;
                for c in list {
                    let acr: Vec<&str> =
                        c.metadata.allowed_acr.iter().map(|a| a.as_str()).collect();
                    writeln!(
                        out,
                        "{:<24} {:<20} {:<14} {}",
                        c.client_id,
                        c.metadata.auth_method.as_str(),
                        acr.join(","),
                        c.name
                    )?;
                }
            }
        }
        ClientsCommand::Show { client_id } => {
            let view = blocking(move || clients::show_blocking(&db, &client_id)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
            } else {
                writeln!(out, "client_id   {}", view.client_id)?;
                writeln!(out, "name        {}", view.name)?;
                writeln!(out, "created     {}", format_time(view.created_at))?;
                writeln!(out, "updated     {}", format_time(view.updated_at))?;
                writeln!(out, "{}", serde_json::to_string_pretty(&view.metadata)?)?;
            }
        }
        ClientsCommand::Update {
            client_id,
            name,
            settings,
        } => {
            let (lookup_db, id) = (db.clone(), client_id.clone());
            let current = blocking(move || clients::show_blocking(&lookup_db, &id)).await?;
            let mut metadata = current.metadata;
            settings.apply(&mut metadata)?;
            let name = name.unwrap_or(current.name);
            let (id, who) = (client_id.clone(), actor());
            let secret =
                blocking(move || clients::update_blocking(&db, &key, &id, &name, &metadata, &who))
                    .await?;
            announce(&core.ephemeral, &client_id).await;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "client_id": client_id, "client_secret": secret })
                )?;
            } else {
                writeln!(out, "{client_id} updated")?;
                if let Some(secret) = secret {
                    writeln!(out, "client secret (shown once): {secret}")?;
                }
            }
        }
        ClientsCommand::RotateSecret { client_id } => {
            let (id, who) = (client_id.clone(), actor());
            let secret =
                blocking(move || clients::rotate_secret_blocking(&db, &key, &id, &who)).await?;
            announce(&core.ephemeral, &client_id).await;
            print_secret(out, json, &client_id, Some(&secret))?;
        }
        ClientsCommand::Remove { client_id } => {
            let (id, who) = (client_id.clone(), actor());
            blocking(move || clients::remove_blocking(&db, &id, &who)).await?;
            announce(&core.ephemeral, &client_id).await;
            if json {
                writeln!(out, "{}", serde_json::json!({ "removed": client_id }))?;
            } else {
                writeln!(out, "{client_id} removed")?;
            }
        }
    }
    Ok(())
}

fn print_secret(
    out: &mut impl Write,
    json: bool,
    client_id: &str,
    secret: Option<&str>,
) -> Result<(), AdminError> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "client_id": client_id, "client_secret": secret })
        )?;
    } else {
        writeln!(out, "client_id: {client_id}")?;
        if let Some(secret) = secret {
            writeln!(out, "client secret (shown once, store it now): {secret}")?;
        }
    }
    Ok(())
}
