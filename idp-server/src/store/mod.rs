//! Durable state in SQL through diesel, one code path for PostgreSQL and SQLite.
//!
//! Every call goes through [`Db::read`] or [`Db::write`], which run the closure on
//! tokio's blocking pool with a pooled connection, so diesel never blocks an async
//! worker. `write` wraps the closure in a transaction; on SQLite it is
//! `BEGIN IMMEDIATE`, so a read-then-write transaction waits for the write lock
//! (busy_timeout) instead of failing when it tries to upgrade.

/// `INSERT INTO table VALUES` the rows: one multi-row statement on
/// PostgreSQL, one statement per row on SQLite (in process: a row costs no
/// round trip there). Diesel has no multi-row INSERT for a connection that may
/// be either, hence the match. Errors return from the enclosing function.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::store::DbConnection::Pg(pg) => {
                diesel::insert_into($table).values($rows).execute(pg)?;
            }
            $crate::store::DbConnection::Sqlite(sqlite) => {
                for row in $rows {
                    diesel::insert_into($table).values(row).execute(sqlite)?;
                }
            }
        }
    };
}

/// Stores a domain enum as its text (`as_str` / `parse`) on both backends:
/// the per-backend `ToSql`/`FromSql` impls and the `MultiBackend` ones
/// that dispatch to them. The enum derives `AsExpression` and `FromSqlRow`
/// with `sql_type = Text`. A stored value the enum does not know is a
/// deserialisation error (corrupt data), never a default.
macro_rules! text_enum {
    ($t:ty) => {
        const _: () = {
            use diesel::backend::Backend;
            use diesel::deserialize::{self, FromSql};
            use diesel::pg::Pg;
            use diesel::serialize::{self, IsNull, Output, ToSql};
            use diesel::sql_types::Text;
            use diesel::sqlite::Sqlite;

            use $crate::store::MultiBackend;

            fn parse(s: &str) -> deserialize::Result<$t> {
                <$t>::parse(s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($t)).into())
            }

            impl ToSql<Text, Pg> for $t {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
                }
            }

            impl ToSql<Text, Sqlite> for $t {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                    <str as ToSql<Text, Sqlite>>::to_sql(self.as_str(), out)
                }
            }

            impl FromSql<Text, Pg> for $t {
                fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                    parse(&<String as FromSql<Text, Pg>>::from_sql(bytes)?)
                }
            }

            impl FromSql<Text, Sqlite> for $t {
                fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                    parse(&<String as FromSql<Text, Sqlite>>::from_sql(bytes)?)
                }
            }

            impl ToSql<Text, MultiBackend> for $t {
                fn to_sql<'b>(
                    &'b self,
                    out: &mut Output<'b, '_, MultiBackend>,
                ) -> serialize::Result {
                    out.set_value((Text, self));
                    Ok(IsNull::No)
                }
            }

            impl FromSql<Text, MultiBackend> for $t {
                fn from_sql(
                    bytes: <MultiBackend as Backend>::RawValue<'_>,
                ) -> deserialize::Result<Self> {
                    bytes.from_sql::<$t, Text>()
                }
            }
        };
    };
}

text_enum!(crate::domain::account::AccountState);
text_enum!(crate::domain::account::RequestStatus);
text_enum!(crate::domain::account::VerificationMethod);
text_enum!(crate::domain::account::RefusalCategory);
text_enum!(crate::domain::agent::Role);
text_enum!(crate::domain::device::DeviceState);
text_enum!(crate::domain::key_state::KeyState);
text_enum!(crate::domain::history::LoginResult);

pub mod accounts;
pub mod agents;
pub mod audit;
pub mod clients;
pub mod consents;
pub mod desk;
pub mod devices;
pub mod enrolment;
pub mod erasure;
pub mod login_history;
pub mod push;
pub mod refresh_tokens;
pub mod schema;
pub mod settings;
pub mod signing_keys;
pub mod token_revocations;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{Config, DatabaseTarget, redact_url};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// A connection to either backend. Queries written against it compile only if
/// they are valid on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, the connection broke, or no connection
    /// was free in time: the same call may succeed shortly (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other query error (a bug, a constraint): not worth retrying.
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A row holds something this version cannot read (or that fails authentication).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// The one place where driver errors are sorted: a lost connection (the
/// server was killed, restarted or is shutting down), a lock that stayed busy
/// or a serialization failure is [`StoreError::Unavailable`]; the rest is a
/// [`StoreError::Query`].
impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        if is_transient(&e) {
            StoreError::Unavailable(one_line(&e.to_string()))
        } else {
            StoreError::Query(e)
        }
    }
}

/// SQLSTATE classes and libpq/SQLite messages of failures that say nothing
/// about the query, only that the server (or the lock) is not there now.
fn is_transient(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match e {
        Error::DatabaseError(
            Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::SerializationFailure,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            const MESSAGES: &[&str] = &[
                // libpq, when the socket closes or the server goes away.
                "server closed the connection unexpectedly",
                "no connection to the server",
                "could not receive data from server",
                "could not send data to server",
                "connection to server",
                "terminating connection",
                "the database system is",
                "SSL SYSCALL error",
                // PostgreSQL, a lock held too long elsewhere (lock_timeout,
                // statement_timeout) or a deadlock: retrying can succeed.
                "canceling statement due to lock timeout",
                "canceling statement due to statement timeout",
                "deadlock detected",
                // SQLite, when busy_timeout expired.
                "database is locked",
            ];
            let message = info.message();
            MESSAGES.iter().any(|m| message.contains(m))
        }
        // A transaction whose BEGIN, COMMIT or ROLLBACK met a dead connection.
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => is_transient(commit_error) || is_transient(rollback_error),
        _ => false,
    }
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Builds connections of the configured backend explicitly (never by guessing
/// from the URL, which would turn a mistyped PostgreSQL URL into a SQLite file).
///
/// `generation` counts connection losses: every connection remembers the
/// generation it was opened in, and when one of them finds the server gone,
/// the generation moves on, so every connection opened before (all dead if
/// the server was restarted) is discarded at its next check-out or return,
/// without a round trip. (Diesel already marks a connection broken once it
/// failed on it; without generations each dead connection in the pool would
/// fail one request of its own after a restart.)
#[derive(Debug)]
pub struct Manager {
    target: DatabaseTarget,
    generation: Arc<AtomicU64>,
}

/// A pooled connection and the generation it was opened in.
pub struct Pooled {
    conn: DbConnection,
    generation: u64,
    /// A transaction could not be ended (a failed `ROLLBACK` on SQLite's
    /// hand-written `BEGIN IMMEDIATE` path, which diesel's own transaction
    /// manager does not see): the connection may still be inside it, so the
    /// pool discards it instead of lending it out again.
    broken: bool,
}

impl Manager {
    fn outdated(&self, conn: &Pooled) -> bool {
        conn.generation < self.generation.load(Ordering::Acquire)
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let generation = self.generation.load(Ordering::Acquire);
        self.open().map(|conn| Pooled {
            conn,
            generation,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        if self.outdated(conn) {
            return Err(r2d2::Error::QueryError(
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ClosedConnection,
                    Box::new("connection opened before the database was lost".to_owned()),
                ),
            ));
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        // A panic in the middle of a closure may leave a transaction open.
        std::thread::panicking()
            || conn.broken
            || self.outdated(conn)
            || r2d2::R2D2Connection::is_broken(&mut conn.conn)
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConnection::Pg)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseTarget::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Handle on the durable store; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    /// The pool manager's connection generation (see [`Manager`]).
    generation: Arc<AtomicU64>,
    /// Callers waiting for a pooled connection (a metric).
    waiting: prometheus_client::metrics::gauge::Gauge,
    /// The audit chain's MAC key, once the master key is known
    /// ([`Db::install_audit_key`]); every closure sees it (`audit::KeyScope`).
    audit_key: Arc<std::sync::OnceLock<[u8; 32]>>,
}

impl Db {
    /// Creates the pool without connecting; [`Db::migrate`] is the first use.
    pub fn new(config: &Config) -> Result<Self, StoreError> {
        let target = config
            .database_target()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let backend = match &target {
            DatabaseTarget::Postgres(_) => Backend::Postgres,
            DatabaseTarget::Sqlite(path) => {
                create_parent_dir(path)?;
                Backend::Sqlite
            }
        };
        let generation = Arc::new(AtomicU64::new(0));
        let pool = Pool::builder()
            .max_size(config.database.pool_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(config.database.acquire_timeout_ms))
            // `is_valid` only compares generations: no round trip.
            .test_on_check_out(true)
            .build_unchecked(Manager {
                target,
                generation: Arc::clone(&generation),
            });
        Ok(Db {
            pool,
            backend,
            generation,
            waiting: Default::default(),
            audit_key: Default::default(),
        })
    }

    /// Gives this handle (and its clones) the key that `audit::append` and
    /// `audit::verify` use. The first key installed stays.
    pub fn install_audit_key(&self, key: [u8; 32]) {
        let _ = self.audit_key.set(key);
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations; returns how many ran. Safe when several
    /// processes start at once: on PostgreSQL an advisory lock lets one migrate
    /// while the others wait; SQLite is single-node, so a process-wide lock suffices.
    pub fn migrate_blocking(&self, url_for_errors: &str) -> Result<usize, StoreError> {
        static SQLITE_MIGRATION_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        /// Arbitrary constant naming Sésame's migration lock.
        const PG_MIGRATION_LOCK: i64 = 0x5e5a_3e00_0001;
        let mut conn = self.conn().map_err(|e| {
            StoreError::Unavailable(format!("{} ({e})", redact_url(url_for_errors)))
        })?;
        let migration_error =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
        match &mut conn.conn {
            DbConnection::Pg(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
                let applied = c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
                applied.map_err(migration_error)
            }
            DbConnection::Sqlite(c) => {
                let _guard = SQLITE_MIGRATION_LOCK
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|v| v.len())
                    .map_err(migration_error)
            }
        }
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.waiting.inc();
        let conn = self.pool.get();
        self.waiting.dec();
        conn.map_err(|e| StoreError::Unavailable(one_line(&e.to_string())))
    }

    /// The gauge of callers waiting for a connection.
    pub fn waiting(&self) -> prometheus_client::metrics::gauge::Gauge {
        self.waiting.clone()
    }

    /// Connections (in use, idle) right now.
    pub fn pool_state(&self) -> (i64, i64) {
        let state = self.pool.state();
        let idle = i64::from(state.idle_connections);
        (i64::from(state.connections) - idle, idle)
    }

    /// Runs `f` on a pooled connection, on the calling thread. For the CLI and
    /// start-up only; request paths use [`Db::read`] / [`Db::write`].
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let _key = audit::KeyScope::enter(self.audit_key.get().copied());
        let result = f(&mut conn.conn);
        self.note_loss(&conn, &result);
        result
    }

    /// Runs `f` inside one transaction, on the calling thread (CLI and start-up).
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let _key = audit::KeyScope::enter(self.audit_key.get().copied());
        let result = transaction(&mut conn, f);
        self.note_loss(&conn, &result);
        result
    }

    /// After a failure that says the server is gone, retires `conn` and
    /// every connection opened before it (see [`Manager`]).
    fn note_loss<T>(&self, conn: &Pooled, result: &Result<T, StoreError>) {
        if let Err(StoreError::Unavailable(detail)) = result {
            let before = self
                .generation
                .fetch_max(conn.generation + 1, Ordering::AcqRel);
            if before <= conn.generation {
                tracing::warn!(error = %detail, "database connection lost; reconnecting");
            }
        }
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// Runs a short read: a few rows by primary key or unique index, the
    /// kind a login step makes. On SQLite, when a pooled connection is open
    /// and idle, `f` runs on the calling worker: such a read is a few microseconds in
    /// the page cache (WAL readers do not wait for the writer), less than
    /// the two thread switches through the blocking pool. Otherwise
    /// (PostgreSQL, whose reads wait on the network, or no idle
    /// connection) it is [`Db::read`]. Scans and exports use [`Db::read`].
    pub async fn read_short<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend == Backend::Sqlite
            && let Some(mut conn) = self.pool.try_get()
        {
            let _key = audit::KeyScope::enter(self.audit_key.get().copied());
            let result = f(&mut conn.conn);
            self.note_loss(&conn, &result);
            return result;
        }
        self.read(f).await
    }

    /// Runs `f` in one transaction on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// True when a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
    }
}

fn transaction<T>(
    pooled: &mut Pooled,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let conn = &mut pooled.conn;
    match conn {
        DbConnection::Pg(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE")?;
            let (result, rolled_back) = match f(conn) {
                Ok(value) => match conn.batch_execute("COMMIT") {
                    Ok(()) => return Ok(value),
                    Err(e) => (Err(e.into()), conn.batch_execute("ROLLBACK")),
                },
                Err(e) => (Err(e), conn.batch_execute("ROLLBACK")),
            };
            if let Err(e) = rolled_back {
                // The connection may still be inside the transaction (and
                // hold the write lock): never lend it out again.
                tracing::warn!(error = %one_line(&e.to_string()), "ROLLBACK failed; discarding the connection");
                pooled.broken = true;
            }
            result
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}

/// Folds a multi-line driver message (libpq adds hints on new lines) into one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Current UTC time in unix seconds, the unit of every `*_at` column.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// UTC unix milliseconds, where seconds are too coarse to order two events
/// (an access token issued just after its account's tokens were revoked).
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> Pooled {
        let conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        Pooled {
            conn: DbConnection::Sqlite(conn),
            generation: 0,
            broken: false,
        }
    }

    fn manager() -> Manager {
        Manager {
            target: DatabaseTarget::Sqlite(":memory:".into()),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    #[test]
    fn text_enums_round_trip_and_refuse_unknown_values() {
        use crate::domain::account::RequestStatus;
        use crate::domain::agent::Role;
        use diesel::dsl::sql;
        use diesel::sql_types::Text;
        let mut conn = sqlite().conn;
        let stored: RequestStatus = diesel::select(RequestStatus::Cancelled.into_sql::<Text>())
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(stored, RequestStatus::Cancelled);
        let text: String = diesel::select(Role::Reviewer.into_sql::<Text>())
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(text, "reviewer", "stored as the same text as before");
        let read: Role = diesel::select(sql::<Text>("'clerk'"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(read, Role::Clerk);
        let unknown = diesel::select(sql::<Text>("'superuser'")).get_result::<Role>(&mut conn);
        assert!(unknown.is_err(), "{unknown:?}");
    }

    /// A pool of one SQLite connection, as `Db::new` builds it.
    fn one_connection_db() -> Db {
        let generation = Arc::new(AtomicU64::new(0));
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            .test_on_check_out(true)
            .build_unchecked(Manager {
                target: DatabaseTarget::Sqlite(":memory:".into()),
                generation: Arc::clone(&generation),
            });
        Db {
            pool,
            backend: Backend::Sqlite,
            generation,
            waiting: Default::default(),
            audit_key: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_short_read_runs_in_place_when_a_connection_is_idle_and_waits_for_one_otherwise() {
        let db = one_connection_db();
        let caller = std::thread::current().id();
        // The pool opens connections lazily; a short read does not wait for
        // one to be opened either.
        let ran_on = db
            .read_short(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(
            ran_on, caller,
            "no connection open yet: on the blocking pool"
        );
        let ran_on = db
            .read_short(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(ran_on, caller, "an idle connection: on the calling thread");

        // The only connection is busy: the read goes to the blocking pool
        // and gets the connection once it is released.
        let (taken, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let holder = db.clone();
        let held = std::thread::spawn(move || {
            holder.read_blocking(|_| {
                taken.0.send(()).unwrap();
                release.1.recv().unwrap();
                Ok(())
            })
        });
        taken.1.recv().unwrap();
        let waiting = tokio::spawn({
            let db = db.clone();
            async move { db.read_short(|_| Ok(std::thread::current().id())).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits for the busy connection");
        release.0.send(()).unwrap();
        held.join().unwrap().unwrap();
        let ran_on = waiting.await.unwrap().unwrap();
        assert_ne!(ran_on, caller, "no idle connection: on the blocking pool");
    }

    #[test]
    fn a_failed_rollback_marks_the_connection_broken() {
        use r2d2::ManageConnection;
        // An ordinary failure rolls back and keeps the connection.
        let mut pooled = sqlite();
        let failed: Result<(), _> =
            transaction(&mut pooled, |_| Err(StoreError::Corrupt("no".into())));
        assert!(failed.is_err());
        assert!(!pooled.broken);
        assert!(!manager().has_broken(&mut pooled));

        // The closure ended the transaction itself, so our ROLLBACK fails.
        let mut pooled = sqlite();
        let failed: Result<(), _> = transaction(&mut pooled, |conn| {
            conn.batch_execute("ROLLBACK")?;
            Err(StoreError::Corrupt("no".into()))
        });
        assert!(matches!(failed, Err(StoreError::Corrupt(_))));
        assert!(pooled.broken);
        assert!(manager().has_broken(&mut pooled));

        // COMMIT fails (no transaction any more), then ROLLBACK fails too.
        let mut pooled = sqlite();
        let failed = transaction(&mut pooled, |conn| {
            conn.batch_execute("COMMIT")?;
            Ok(())
        });
        assert!(failed.is_err());
        assert!(pooled.broken);
    }
}
