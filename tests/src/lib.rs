//! Test kit: start the real IdP in-process on port 0 with its own database and
//! ephemeral namespace, on either backend, and clean up afterwards.
//!
//! Backends:
//! - [`Backend::Embedded`]: a SQLite file in a temporary directory + the in-process store.
//! - [`Backend::PostgresRedis`]: a fresh database on the server of `DATABASE_URL`
//!   and a fresh key namespace on the Redis of `REDIS_URL`.
//!
//! Without those variables the PostgreSQL/Redis variant of a test is skipped
//! with a message — unless `CI` is set, where that is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod authenticator;
pub mod browser;
pub mod console;
pub mod enrolment;
pub mod oidc;
pub mod phone;
pub mod rp;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use idp_server::app::{Application, Core};
use idp_server::config::Config;
use idp_server::ephemeral::{Ephemeral, RedisStore};

/// Declares `NAME::embedded` and `NAME::postgres_redis` tests that run the
/// async function `NAME(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                if $crate::Backend::PostgresRedis.available() {
                    super::$name($crate::Backend::PostgresRedis).await
                }
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    PostgresRedis,
}

impl Backend {
    /// True if this backend's services are configured. Outside CI a missing
    /// service skips the test (with a message); under CI it fails it.
    pub fn available(self) -> bool {
        if self == Backend::Embedded {
            return true;
        }
        let missing: Vec<&str> = ["DATABASE_URL", "REDIS_URL"]
            .into_iter()
            .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
            .collect();
        if missing.is_empty() {
            return true;
        }
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
            panic!(
                "CI is set but {} is not: the PostgreSQL/Redis tests must run (use `make test`)",
                missing.join(" and ")
            );
        }
        eprintln!(
            "skipping the PostgreSQL/Redis variant: {} not set (run `make test`)",
            missing.join(" and ")
        );
        false
    }
}

pub fn postgres_server_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL")
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL")
}

/// Path of a file in the repository's `config/` directory.
pub fn config_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name)
}

/// A PostgreSQL database created for one test and dropped (with its
/// connections) when this value is dropped.
pub struct PgDatabase {
    server_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let server_url = postgres_server_url();
        let name = format!("idp_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&server_url).expect("connect to DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create test database");
        let mut url = url::Url::parse(&server_url).expect("DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        PgDatabase {
            server_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Separate thread: this may run inside an async test.
        let _ = std::thread::spawn(move || {
            if let Ok(mut conn) = PgConnection::establish(&server_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        })
        .join();
    }
}

/// A Redis key namespace for one test, emptied when dropped.
pub struct RedisNamespace {
    pub url: String,
    pub name: String,
}

impl RedisNamespace {
    pub fn new() -> Self {
        RedisNamespace {
            url: redis_url(),
            name: format!("t-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl RedisNamespace {
    /// Deletes every key of the namespace, as a Redis restart without
    /// persistence (or a `FLUSHALL`) would.
    pub fn wipe(&self) {
        let (url, pattern) = (self.url.clone(), format!("{}:*", self.name));
        std::thread::spawn(move || purge(&url, &pattern))
            .join()
            .expect("purge thread")
            .expect("namespace wiped");
    }
}

impl Default for RedisNamespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisNamespace {
    fn drop(&mut self) {
        let url = self.url.clone();
        let pattern = format!("{}:*", self.name);
        let _ = std::thread::spawn(move || purge(&url, &pattern)).join();
    }
}

fn purge(url: &str, pattern: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500)
            .query(&mut conn)?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The durable and ephemeral resources of one test; they outlive any number
/// of server starts (restart tests) and are cleaned up on drop.
pub struct TestEnv {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    pub redis: Option<RedisNamespace>,
}

impl TestEnv {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Embedded => TestEnv {
                backend,
                dir,
                pg: None,
                redis: None,
            },
            Backend::PostgresRedis => TestEnv {
                backend,
                dir,
                pg: Some(PgDatabase::create()),
                redis: Some(RedisNamespace::new()),
            },
        }
    }

    /// The test configuration pointed at this environment's resources.
    pub fn config(&self) -> Config {
        let mut config = Config::load_from(Some(&config_path("test.toml")), Vec::new())
            .expect("config/test.toml is valid");
        match (&self.pg, &self.redis) {
            (Some(pg), Some(redis)) => {
                config.database.url = pg.url.clone();
                config.ephemeral.url = redis.url.clone();
                config.ephemeral.namespace = redis.name.clone();
            }
            _ => {
                config.database.url =
                    format!("sqlite://{}", self.dir.path().join("idp.db").display());
                config.ephemeral.url = "memory://".to_owned();
            }
        }
        config.keys.master_key_file = self.master_key_path();
        config.notify.outbox_dir = self.dir.path().join("outbox");
        config
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.dir.path().join("keys/master.key")
    }

    /// Starts the server with this environment's configuration.
    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(self.config()).await
    }

    /// Starts the server with `config` (whose `server` section is overridden).
    pub async fn spawn_with(&self, config: Config) -> TestApp {
        self.spawn_on(config, None).await
    }

    /// Starts another replica of `issuer`'s deployment: same database, same
    /// ephemeral namespace, same public URL, its own listener and process state.
    pub async fn spawn_replica(&self, issuer: &str) -> TestApp {
        self.spawn_on(self.config(), Some(issuer)).await
    }

    /// [`Self::spawn_replica`] with `config` (whose `server` section is overridden).
    pub async fn spawn_replica_with(&self, config: Config, issuer: &str) -> TestApp {
        self.spawn_on(config, Some(issuer)).await
    }

    async fn spawn_on(&self, mut config: Config, public_url: Option<&str>) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let base = format!("http://127.0.0.1:{port}");
        config.server.public_url = public_url.unwrap_or(&base).to_owned();
        config.server.bind = listener.local_addr().expect("local addr");
        let app = Application::build_with_listener(config, listener, None)
            .await
            .expect("server starts");
        let core = app.core().clone();
        let handle = app.handle();
        tokio::spawn(app.run());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestApp {
            base,
            http,
            core,
            handle,
        }
    }
}

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, which is also the issuer.
    pub base: String,
    /// HTTP client with redirects off.
    pub http: reqwest::Client,
    pub core: Core,
    handle: ServerHandle,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the runtime shutdown at the end of the test does the rest.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// A standalone ephemeral store of `backend` in a fresh namespace.
pub fn ephemeral_store(backend: Backend) -> (Ephemeral, Option<RedisNamespace>) {
    match backend {
        Backend::Embedded => (
            Ephemeral::Memory(idp_server::ephemeral::MemoryStore::new()),
            None,
        ),
        Backend::PostgresRedis => {
            let ns = RedisNamespace::new();
            let store = RedisStore::connect(&ns.url, &ns.name, Duration::from_millis(500))
                .expect("redis store");
            (Ephemeral::Redis(store), Some(ns))
        }
    }
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that two interleaved series of timings (`a[i]` measured right
/// before `b[i]`) cannot tell the two paths apart: the median of the paired
/// differences is within 5 ms. Pairing cancels the load of the other tests,
/// which moves both members of a pair alike; the medians are printed too.
pub fn assert_same_time(what: &str, a: &[Duration], b: &[Duration]) {
    assert_eq!(a.len(), b.len(), "{what}: paired samples");
    assert!(a.len() >= 20, "{what}: at least 20 pairs");
    let mut diffs: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.as_secs_f64() - y.as_secs_f64())
        .collect();
    diffs.sort_by(f64::total_cmp);
    let gap = diffs[diffs.len() / 2];
    let median = |s: &[Duration]| {
        let mut s = s.to_vec();
        s.sort();
        s[s.len() / 2]
    };
    eprintln!(
        "{what}: medians {:?} and {:?}, median paired difference {:.3} ms",
        median(a),
        median(b),
        gap * 1000.0
    );
    assert!(
        gap.abs() <= 0.005,
        "{what}: the median paired difference is {:.3} ms",
        gap * 1000.0
    );
}
