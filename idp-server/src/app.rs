//! Start-up: everything a process needs before it serves (or before an
//! `idp-admin` command runs), in one place and in a fixed order:
//! database + migrations → master key (checked against the database) →
//! ephemeral store → signing keys.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};

use crate::config::{Config, ConfigError, redact_url};
use crate::crypto::{CryptoError, MASTER_KEY_ENV, MasterKey, MasterKeySource, Subkeys};
use crate::ephemeral::{Ephemeral, EphemeralError, EphemeralStore};
use crate::keys::{KEYS_TOPIC, KeyError, KeyService};
use crate::metrics::Metrics;
use crate::notify::{Notifier, NotifyError};
use crate::oidc::Provider;
use crate::store::{Db, StoreError, audit, settings, signing_keys};
use crate::web;

/// Name of the setting that holds the master-key check value.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// Why the process could not start; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error(transparent)]
    Oidc(#[from] crate::oidc::error::OidcError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    #[error(
        "the master key does not match the one this database was created with (wrong keys/master.key or {MASTER_KEY_ENV})"
    )]
    MasterKeyMismatch,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The durable store, migrated and unlocked: the master key resolved and
/// checked against the database, the audit key installed on the handle and
/// the keyed audit chain started. The first steps of [`Core::init`], alone
/// for the CLI commands that need no more (`audit verify`).
pub async fn open_store(
    config: &Config,
    master_key_env: Option<&str>,
) -> Result<(Db, Subkeys), StartupError> {
    let db = Db::new(config)?;
    let url = config.database.url.clone();
    let migrate_db = db.clone();
    let applied = tokio::task::spawn_blocking(move || migrate_db.migrate_blocking(&url))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }

    let (stored_check, key_rows) = db
        .read(|conn| {
            Ok((
                settings::get(conn, MASTER_KEY_CHECK)?,
                signing_keys::count(conn)?,
            ))
        })
        .await?;
    let has_encrypted_data = stored_check.is_some() || key_rows > 0;
    let (master, source) = MasterKey::resolve(
        master_key_env,
        &config.keys.master_key_file,
        config.keys.generate_if_missing,
        has_encrypted_data,
    )?;
    match source {
        MasterKeySource::Generated => tracing::warn!(
            file = %config.keys.master_key_file.display(),
            "generated a new master key; back it up apart from the database"
        ),
        MasterKeySource::File => tracing::debug!("master key read from file"),
        MasterKeySource::Environment => {
            tracing::debug!("master key read from {MASTER_KEY_ENV}")
        }
    }
    let subkeys = master.subkeys();
    drop(master);
    let check = subkeys.check.clone();
    let stored = db
        // Not in a transaction: on PostgreSQL the losing replica's unique
        // violation would abort it before it could read the winner's value.
        .read(move |conn| settings::insert_if_absent(conn, MASTER_KEY_CHECK, &check))
        .await?;
    if stored != subkeys.check {
        return Err(StartupError::MasterKeyMismatch);
    }
    db.install_audit_key(subkeys.audit_key);
    db.write(audit::start_keyed_chain).await?;
    Ok((db, subkeys))
}

/// The services shared by every request handler and CLI command.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub db: Db,
    pub ephemeral: Ephemeral,
    pub subkeys: Arc<Subkeys>,
    pub keys: Arc<KeyService>,
    pub notifier: Notifier,
    /// Counters, gauges and histograms of `/metrics` (see `metrics.rs`).
    pub metrics: Arc<Metrics>,
    /// Web Push to the app (VAPID keys, subscriptions, delivery).
    pub push: Arc<crate::push::PushService>,
}

impl Core {
    /// Whether the database and the ephemeral store answer within the longer
    /// of their timeouts (both asked at once).
    pub async fn probe(&self) -> (bool, bool) {
        let limit = Duration::from_millis(self.config.database.acquire_timeout_ms)
            .max(self.config.ephemeral_timeout());
        let (database, ephemeral) = tokio::join!(
            tokio::time::timeout(limit, self.db.ping()),
            tokio::time::timeout(limit, self.ephemeral.ping()),
        );
        (
            matches!(database, Ok(Ok(()))),
            matches!(ephemeral, Ok(Ok(()))),
        )
    }

    /// Opens everything; `master_key_env` is normally `IDP_MASTER_KEY`'s value.
    pub async fn init(
        config: Config,
        master_key_env: Option<String>,
    ) -> Result<Self, StartupError> {
        let (db, subkeys) = open_store(&config, master_key_env.as_deref()).await?;

        let ephemeral = Ephemeral::connect(
            config.ephemeral_target()?,
            &config.ephemeral.namespace,
            config.ephemeral_timeout(),
        )?;

        let subkeys = Arc::new(subkeys);
        let keys = Arc::new(KeyService::new(
            db.clone(),
            Arc::clone(&subkeys.kek),
            &config.keys,
        ));
        let created = keys.ensure_active_keys().await?;
        if !created.is_empty() {
            tracing::info!(kids = ?created, "signing keys generated");
        }
        keys.reload().await?;

        let mut metrics = Metrics::new();
        metrics.register_backends(&db, &ephemeral);
        let notifier = Notifier::from_config(&config.notify)?.counting(metrics.notify_counters());

        let metrics = Arc::new(metrics);
        let push = crate::push::PushService::start(
            &config,
            db.clone(),
            Arc::clone(&subkeys.kek),
            Arc::clone(&metrics),
        )
        .await?;

        Ok(Core {
            config: Arc::new(config),
            db,
            ephemeral,
            subkeys,
            keys,
            notifier,
            metrics,
            push: Arc::new(push),
        })
    }

    /// Keeps the key set fresh: reloads on the pub/sub signal and on a timer
    /// (the timer covers signals lost while Redis was unreachable).
    pub fn spawn_key_reloader(&self) -> tokio::task::JoinHandle<()> {
        let keys = Arc::clone(&self.keys);
        let push = Arc::clone(&self.push);
        let mut signal = self.ephemeral.subscribe(KEYS_TOPIC);
        let period = Duration::from_secs(self.config.keys.reload_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = signal.recv() => {}
                    _ = tick.tick() => {}
                }
                match keys.reload().await {
                    Ok(true) => tracing::info!("signing key set reloaded"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "signing key reload failed; keeping the current set")
                    }
                }
                if let Err(e) = push.reload().await {
                    tracing::warn!(error = %e, "VAPID key reload failed; keeping the current keys");
                }
            }
        })
    }
}

/// The services the HTTP handlers call, built once at start-up and given to
/// actix as app data (`web::Data<Services>`; each one is also registered on
/// its own, so a handler takes only what it uses).
///
/// `enrol`, `device` and `verification` are still function modules over the
/// [`Provider`]; they get their own fields here when they become services
/// (as `agents` and `support` of the console).
#[derive(Clone)]
pub struct Services {
    /// The OpenID Connect provider (authorize, logins, tokens, sessions) and
    /// the handle the enrolment, device and verification functions take.
    pub oidc: Provider,
    /// Signing keys (rotation, the published key set).
    pub keys: Arc<KeyService>,
}

impl Services {
    pub fn new(oidc: Provider) -> Self {
        let keys = Arc::clone(&oidc.core.keys);
        Services { oidc, keys }
    }

    pub fn core(&self) -> &Core {
        &self.oidc.core
    }
}

/// A running IdP: the HTTP server plus its background tasks.
pub struct Application {
    port: u16,
    server: Server,
    core: Core,
    background: Vec<tokio::task::JoinHandle<()>>,
    drain: web::drain::DrainTrigger,
}

impl Application {
    /// Binds `server.bind` and builds the server (not yet running).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let addr = config.server.bind;
        let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Self::build_with_listener(config, listener, std::env::var(MASTER_KEY_ENV).ok()).await
    }

    /// Builds the server on an already bound listener (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
        master_key_env: Option<String>,
    ) -> Result<Self, StartupError> {
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: "listener".into(),
            source,
        })?;
        tracing::info!(
            database = %redact_url(&config.database.url),
            ephemeral = %redact_url(&config.ephemeral.url),
            "starting"
        );
        let core = Core::init(config, master_key_env).await?;
        if let Some(dir) = core.notifier.outbox_dir() {
            let (email, sms) = core.notifier.channels();
            tracing::info!(outbox = %dir.display(), email, sms, "development outbox: messages are written there, not sent");
        }
        let provider = Provider::new(core.clone()).await?;
        crate::device::request::prime_replay_floor(&provider).await;
        let background = vec![
            core.spawn_key_reloader(),
            provider.spawn_client_invalidation(),
        ];
        let metrics = Arc::clone(&core.metrics);
        let (drain, draining) = web::drain::channel();
        let services = Services::new(provider);
        let server = web::server(services, metrics, draining, listener).map_err(|source| {
            StartupError::Bind {
                addr: addr.to_string(),
                source,
            }
        })?;
        Ok(Application {
            port: addr.port(),
            server,
            core,
            background,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or Ctrl-C, then drains: long waits end at once so
    /// their clients reconnect to another replica, and in-flight requests get
    /// `server.shutdown_grace_secs` to finish.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let (drain, handle) = (self.drain.clone(), self.server.handle());
        let grace = self.core.config.server.shutdown_grace_secs;
        tokio::spawn(async move {
            web::drain::termination_signal().await;
            tracing::info!(
                grace_secs = grace,
                "shutting down: ending long waits, draining requests"
            );
            drain.start();
            handle.stop(true).await;
        });
        self.run().await
    }

    /// Serves until the server is stopped through its handle.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

/// Checks that the ephemeral store answers (used by /readyz).
pub async fn ephemeral_ready(ephemeral: &Ephemeral) -> bool {
    ephemeral.ping().await.is_ok()
}
