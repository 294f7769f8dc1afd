//! `idp-admin`: the operator CLI and the agents' console (`console`).
//!
//! Every command is a function over [`Cli`] writing to any `Write`, so the test
//! suite runs exactly what the binary runs.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::io::Write;
use std::path::PathBuf;

pub mod commands;
pub mod console;

use clap::{Parser, Subcommand, ValueEnum};
use idp_server::app::{Core, StartupError, open_store};
use idp_server::config::{Config, ConfigError};
use idp_server::crypto::{MASTER_KEY_ENV, SigningAlg};
use idp_server::ephemeral::Ephemeral;
use idp_server::keys::{self, KeyError};
use idp_server::store::audit::{self, ChainStatus};
use idp_server::store::{Db, StoreError};

#[derive(Parser, Debug)]
#[command(name = "idp-admin", version, about = "Sésame operator CLI")]
pub struct Cli {
    /// Configuration file layered over the embedded defaults (same as idp-server).
    #[arg(long, short, global = true, env = "IDP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Relying parties (OIDC clients).
    #[command(subcommand)]
    Clients(Box<commands::clients::ClientsCommand>),
    /// Run the agents' console (console.bind, default 127.0.0.1:8081).
    Serve,
    /// Console agents (clerks, reviewers, admins).
    #[command(subcommand)]
    Agents(commands::agents::AgentsCommand),
    /// Record a face-to-face verification decision.
    Verify(commands::verify::VerifyArgs),
    /// Pending face-to-face requests; --home-visit: only the postman's home visits.
    Requests(commands::requests::RequestsArgs),
    /// Citizens' accounts: show, suspend, unsuspend, reissue the activation code.
    #[command(subcommand)]
    Accounts(commands::accounts::AccountsCommand),
    /// Development helpers (only with dev.enabled = true).
    #[command(subcommand)]
    Dev(commands::dev::DevCommand),
    /// Remove what is past its retention period ([retention]); safe from cron.
    Purge,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List every signing key with its state (never the private part).
    List,
    /// Make a new key active; the previous one stays published while tokens it signed may live.
    Rotate {
        /// Algorithm to rotate; `all` rotates every configured algorithm.
        #[arg(long, value_enum, default_value_t = AlgArg::All)]
        alg: AlgArg,
    },
    /// Make a new VAPID (Web Push) key active; subscriptions made with the
    /// previous one keep working until the app renews them with the new key.
    RotateVapid,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first entry that does not hold; with
    /// --export, check an exported range instead (offline, no database).
    Verify {
        /// A file written by `audit export` (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
    /// Stream entries as JSON lines for a SIEM, each with its chain position
    /// (seq, prev_hash, hash) so that the range can be verified.
    Export {
        /// First moment to export: RFC 3339, YYYY-MM-DD (UTC) or unix seconds.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Output format (one JSON object per line).
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgArg {
    All,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "PS256")]
    Ps256,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Push(#[from] idp_server::push::PushError),
    #[error("{0} is not among keys.algorithms in the configuration")]
    AlgorithmNotConfigured(SigningAlg),
    #[error("audit chain broken at entry {seq}: {reason}")]
    AuditBroken { seq: i64, reason: String },
    #[error(transparent)]
    Clients(#[from] idp_server::oidc::clients::ClientAdminError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode output: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<idp_server::support::SupportError> for AdminError {
    fn from(e: idp_server::support::SupportError) -> Self {
        match e {
            idp_server::support::SupportError::Refused(m) => AdminError::Usage(m),
            idp_server::support::SupportError::Store(s) => AdminError::Store(s),
        }
    }
}

impl From<idp_server::agents::AgentError> for AdminError {
    fn from(e: idp_server::agents::AgentError) -> Self {
        use idp_server::agents::AgentError;
        match e {
            AgentError::Refused(m) | AgentError::Internal(m) => AdminError::Usage(m),
            AgentError::Store(s) => AdminError::Store(s),
            AgentError::Ephemeral(e) => AdminError::Usage(e.to_string()),
            AgentError::Login(f) => AdminError::Usage(format!("login refused: {f:?}")),
        }
    }
}

/// Who the audit log names for CLI actions.
pub(crate) fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

/// Runs one command with the process environment.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), AdminError> {
    let config = Config::load(cli.config.as_deref())?;
    // Warnings only: the CLI's own output is what the operator reads.
    idp_server::telemetry::init(&idp_server::config::LogConfig {
        format: config.log.format,
        filter: "warn".to_owned(),
    });
    run_with(cli, config, std::env::var(MASTER_KEY_ENV).ok(), out).await
}

/// Runs one command with an explicit configuration and master key (tests).
pub async fn run_with(
    cli: Cli,
    config: Config,
    master_key_env: Option<String>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match cli.command {
        Command::Migrate => {
            let db = Db::new(&config)?;
            let url = config.database.url.clone();
            let applied = blocking(move || db.migrate_blocking(&url)).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::json!({ "applied": applied }))?;
            } else {
                writeln!(out, "{applied} migration(s) applied")?;
            }
        }
        Command::Keys(KeysCommand::List) => {
            let core = Core::init(config, master_key_env).await?;
            let db = core.db.clone();
            let list = blocking(move || keys::list_blocking(&db)).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(out, "{:<8} {:<9} {:<20} KID", "ALG", "STATE", "CREATED")?;
                for key in list {
                    writeln!(
                        out,
                        "{:<8} {:<9} {:<20} {}",
                        key.alg,
                        key.state,
                        format_time(key.created_at),
                        key.kid
                    )?;
                }
            }
        }
        Command::Keys(KeysCommand::RotateVapid) => {
            let core = Core::init(config, master_key_env).await?;
            let (new_kid, previous) = core.push.rotate().await?;
            // Replicas reload VAPID keys with the signing keys (signal or timer).
            let announced = match &core.ephemeral {
                Ephemeral::Redis(_) => keys::announce_change(&core.ephemeral).await.is_ok(),
                Ephemeral::Memory(_) => false,
            };
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "new_kid": new_kid,
                        "previous_kid": previous,
                        "replicas_notified": announced,
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "new active VAPID key {new_kid}; {} keeps signing for the subscriptions made with it",
                    previous.as_deref().unwrap_or("no previous key")
                )?;
            }
        }
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let configured: Vec<SigningAlg> = config
                .keys
                .algorithms
                .iter()
                .filter_map(|a| SigningAlg::parse(a))
                .collect();
            let targets = match alg {
                AlgArg::All => configured.clone(),
                AlgArg::Es256 => vec![SigningAlg::Es256],
                AlgArg::Rs256 => vec![SigningAlg::Rs256],
                AlgArg::Ps256 => vec![SigningAlg::Ps256],
            };
            if let Some(missing) = targets.iter().find(|a| !configured.contains(a)) {
                return Err(AdminError::AlgorithmNotConfigured(*missing));
            }
            let publish_secs = config.keys.retiring_publish_secs;
            let core = Core::init(config, master_key_env).await?;
            let mut rotations = Vec::new();
            for alg in targets {
                let db = core.db.clone();
                let kek = std::sync::Arc::clone(&core.subkeys.kek);
                let who = actor();
                rotations.push(
                    blocking(move || keys::rotate_blocking(&db, &kek, alg, publish_secs, &who))
                        .await?,
                );
            }
            // Only Redis reaches other processes; an in-process store would
            // only "notify" this CLI process itself.
            let announced = match &core.ephemeral {
                Ephemeral::Redis(_) => keys::announce_change(&core.ephemeral).await.is_ok(),
                Ephemeral::Memory(_) => false,
            };
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "rotations": rotations, "replicas_notified": announced })
                )?;
            } else {
                for r in &rotations {
                    match (&r.previous_kid, r.previous_published_until) {
                        (Some(old), Some(until)) => writeln!(
                            out,
                            "{}: new active key {}; {} stays published until {}",
                            r.alg,
                            r.new_kid,
                            old,
                            format_time(until)
                        )?,
                        _ => writeln!(out, "{}: new active key {}", r.alg, r.new_kid)?,
                    }
                }
                if !announced {
                    writeln!(
                        out,
                        "running servers were not signalled ({}); they reload within {} s",
                        match &core.ephemeral {
                            Ephemeral::Redis(_) => "Redis unreachable",
                            Ephemeral::Memory(_) => "in-process ephemeral store",
                        },
                        core.config.keys.reload_secs
                    )?;
                }
            }
        }
        Command::Clients(command) => {
            commands::clients::run(*command, config, master_key_env, cli.json, out).await?
        }
        Command::Agents(command) => {
            commands::agents::run(command, config, master_key_env, cli.json, out).await?
        }
        Command::Serve => {
            let bind = config.console.bind;
            let core = Core::init(config, master_key_env).await?;
            let listener = std::net::TcpListener::bind(bind)
                .map_err(|e| AdminError::Usage(format!("cannot listen on {bind}: {e}")))?;
            writeln!(out, "Sésame agents' console on http://{bind}")?;
            out.flush()?;
            console::server(core, listener).await?.await?;
        }
        Command::Verify(args) => {
            commands::verify::run(args, config, master_key_env, cli.json, out).await?
        }
        Command::Requests(args) => {
            commands::requests::run(args, config, master_key_env, cli.json, out).await?
        }
        Command::Accounts(command) => {
            commands::accounts::run(command, config, master_key_env, cli.json, out).await?
        }
        Command::Dev(command) => {
            commands::dev::run(command, config, master_key_env, cli.json, out).await?
        }
        Command::Purge => commands::purge::run(config, master_key_env, cli.json, out).await?,
        Command::Audit(AuditCommand::Export { since, format: _ }) => {
            commands::audit::export(&config, since.as_deref(), out).await?
        }
        Command::Audit(AuditCommand::Verify { export: Some(file) }) => {
            let (db, _) = open_store(&config, master_key_env.as_deref()).await?;
            let mac = blocking(move || db.read_blocking(audit::chain_mac)).await?;
            let mac = mac.map_err(|reason| AdminError::AuditBroken { seq: 1, reason })?;
            commands::audit::verify_export(&file, mac, cli.json, out)?
        }
        Command::Audit(AuditCommand::Verify { export: None }) => {
            let (db, _) = open_store(&config, master_key_env.as_deref()).await?;
            let status = blocking(move || db.read_blocking(audit::verify)).await?;
            match status {
                ChainStatus::Intact { entries } => {
                    if cli.json {
                        writeln!(
                            out,
                            "{}",
                            serde_json::json!({ "intact": true, "entries": entries })
                        )?;
                    } else {
                        writeln!(out, "audit chain intact: {entries} entries")?;
                    }
                }
                ChainStatus::Broken { seq, reason } => {
                    return Err(AdminError::AuditBroken { seq, reason });
                }
            }
        }
    }
    Ok(())
}

/// Runs blocking database work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, AdminError>
where
    AdminError: From<E>,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(AdminError::from),
        Err(e) => Err(AdminError::Store(StoreError::Unavailable(e.to_string()))),
    }
}

pub(crate) fn format_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix.to_string())
}
