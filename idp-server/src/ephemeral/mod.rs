//! Short-lived state with TTLs: authorization requests, codes, OTP counters,
//! rate limits, replay caches, sessions — and cross-replica wake-ups.
//!
//! [`EphemeralStore`] is the contract; [`MemoryStore`] (embedded default, one
//! process) and [`RedisStore`] (any number of replicas) implement it with the same
//! semantics, checked by one shared test suite. Services hold an [`Ephemeral`],
//! which dispatches to either without boxing.
//!
//! Pub/sub is best-effort, as in Redis: a message published while a subscriber's
//! connection is down is lost, so waiters must also re-read state on a timer.

mod hub;
pub mod keys;
mod memory;
mod redis_store;

use std::time::Duration;

pub use hub::Subscription;
pub use memory::{Live, MemoryStore};
pub use redis_store::{RedisStore, RedisTarget};

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    /// The store cannot be reached or did not answer in time.
    #[error("ephemeral store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something unexpected (a bug, not an outage).
    #[error("ephemeral store error: {0}")]
    Protocol(String),
}

/// What a value must satisfy before a [`EphemeralStore::compare_and_set`].
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    Absent,
    Value(&'a [u8]),
}

/// What to leave behind when a compare-and-set succeeds.
#[derive(Debug, Clone, Copy)]
pub enum Replace<'a> {
    Delete,
    Value(&'a [u8], Duration),
}

/// One write of [`EphemeralStore::apply`].
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// As [`EphemeralStore::set`]: key, value, TTL.
    Set(&'a str, &'a [u8], Duration),
    /// As [`EphemeralStore::swap`]: its reply is the value it replaced.
    Swap(&'a str, &'a [u8], Duration),
    /// As [`EphemeralStore::delete`].
    Delete(&'a str),
    /// As [`EphemeralStore::publish`]: topic, payload.
    Publish(&'a str, &'a [u8]),
}

/// One counter of [`EphemeralStore::incr_in_turn`]: its key, the window its
/// first increment opens (as [`EphemeralStore::incr`]) and the count above
/// which the counters after it are left alone.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    pub key: &'a str,
    pub window: Duration,
    pub max: i64,
}

/// A [`Write::Set`] that owns its key and value: prepared in one place,
/// applied with other writes in another.
#[derive(Debug, Clone)]
pub struct PreparedSet {
    pub key: String,
    pub value: Vec<u8>,
    pub ttl: Duration,
}

impl PreparedSet {
    pub fn write(&self) -> Write<'_> {
        Write::Set(&self.key, &self.value, self.ttl)
    }
}

/// The ephemeral-store contract. Keys and topics are relative to the store's
/// namespace; every operation is atomic on its own.
#[allow(async_fn_in_trait)]
pub trait EphemeralStore {
    /// Stores `value` for `ttl`, replacing any previous value and TTL.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError>;
    /// Stores `value` only if `key` is absent; true if it was stored.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// [`Self::set_if_absent`] of `key`, then [`Self::get`] of `then_get`, in
    /// that order, in one round trip to Redis (a pipeline on one connection):
    /// the read sees the store as it is after the write. Each is atomic on its
    /// own; the pair is not a transaction (another client may write in
    /// between, as with two calls).
    async fn set_if_absent_then_get(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        then_get: &str,
    ) -> Result<(bool, Option<Vec<u8>>), EphemeralError>;
    /// Returns the value and deletes it, atomically: of concurrent callers exactly one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// True if something was deleted.
    async fn delete(&self, key: &str) -> Result<bool, EphemeralError>;
    /// Adds one and returns the new count. The first increment starts a window of
    /// `ttl` after which the counter disappears (fixed-window rate limiting).
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError>;
    /// [`Self::incr`] of each counter in order, stopping after the first
    /// whose new count is above its `max`; returns the new counts of those
    /// incremented. One round trip to Redis (one script); each increment is
    /// atomic as [`Self::incr`] is.
    async fn incr_in_turn(&self, counters: &[Counter<'_>]) -> Result<Vec<i64>, EphemeralError>;
    /// Applies `replace` only if the current value matches `expect`; true if applied.
    async fn compare_and_set(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
    ) -> Result<bool, EphemeralError>;
    /// [`Self::compare_and_set`], then, only if it applied, [`Self::publish`]
    /// of `payload` to `topic`, as one step (one round trip to Redis).
    async fn compare_and_set_publish(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
        topic: &str,
        payload: &[u8],
    ) -> Result<bool, EphemeralError>;
    /// Stores `value` for `ttl` and returns the value it replaced, atomically.
    async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// Applies `writes` in order as one step: one round trip to Redis, in a
    /// MULTI/EXEC transaction, so other clients see all of them or none.
    /// Returns, for each write, the value a [`Write::Swap`] replaced (`None`
    /// for the other writes).
    async fn apply(&self, writes: &[Write<'_>]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError>;
    /// Remaining time to live, `None` if the key is absent.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, EphemeralError>;
    /// Sends `payload` to every current subscriber of `topic`, on every replica.
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), EphemeralError>;
    /// Starts receiving messages published to `topic` from now on.
    fn subscribe(&self, topic: &str) -> Subscription;
    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), EphemeralError>;
}

/// The configured store. Cheap to clone.
#[derive(Clone)]
pub enum Ephemeral {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Ephemeral {
    /// Builds the store: in-process for `None`, else Redis (direct or through
    /// Sentinel). Never waits for Redis: an unreachable server shows up as
    /// `Unavailable` on use and in /readyz.
    pub fn connect(
        target: Option<RedisTarget>,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Self, EphemeralError> {
        match target {
            None => Ok(Ephemeral::Memory(MemoryStore::new())),
            Some(target) => Ok(Ephemeral::Redis(RedisStore::connect_target(
                target, namespace, timeout,
            )?)),
        }
    }

    /// A JSON value; `None` when absent or no longer readable (for instance
    /// written by an older version).
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, EphemeralError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|raw| serde_json::from_slice(&raw).ok()))
    }

    /// Stores `value` as JSON for `ttl`.
    pub async fn set_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let raw = serde_json::to_vec(value)
            .map_err(|e| EphemeralError::Protocol(format!("serialising {key}: {e}")))?;
        self.set(key, &raw, ttl).await
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Ephemeral::Memory(_) => "memory",
            Ephemeral::Redis(_) => "redis",
        }
    }

    /// Redis's command latency and failures (`None` for the in-memory store).
    pub fn timings(&self) -> Option<crate::metrics::StoreTimings> {
        match self {
            Ephemeral::Memory(_) => None,
            Ephemeral::Redis(s) => Some(s.timings.clone()),
        }
    }
}

/// Each Redis call is timed here, around the store, in one place.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Ephemeral::Memory($s) => $call,
            Ephemeral::Redis($s) => {
                let started = std::time::Instant::now();
                let result = $call;
                $s.timings.observe(started.elapsed(), result.is_ok());
                result
            }
        }
    };
}

impl EphemeralStore for Ephemeral {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        dispatch!(self, s => s.set(key, value, ttl).await)
    }
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        dispatch!(self, s => s.set_if_absent(key, value, ttl).await)
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        dispatch!(self, s => s.get(key).await)
    }
    async fn set_if_absent_then_get(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        then_get: &str,
    ) -> Result<(bool, Option<Vec<u8>>), EphemeralError> {
        dispatch!(self, s => s.set_if_absent_then_get(key, value, ttl, then_get).await)
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        dispatch!(self, s => s.take(key).await)
    }
    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        dispatch!(self, s => s.delete(key).await)
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError> {
        dispatch!(self, s => s.incr(key, ttl).await)
    }
    async fn incr_in_turn(&self, counters: &[Counter<'_>]) -> Result<Vec<i64>, EphemeralError> {
        dispatch!(self, s => s.incr_in_turn(counters).await)
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
    ) -> Result<bool, EphemeralError> {
        dispatch!(self, s => s.compare_and_set(key, expect, replace).await)
    }
    async fn compare_and_set_publish(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
        topic: &str,
        payload: &[u8],
    ) -> Result<bool, EphemeralError> {
        dispatch!(self, s => s.compare_and_set_publish(key, expect, replace, topic, payload).await)
    }
    async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, EphemeralError> {
        dispatch!(self, s => s.swap(key, value, ttl).await)
    }
    async fn apply(&self, writes: &[Write<'_>]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        dispatch!(self, s => s.apply(writes).await)
    }
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, EphemeralError> {
        dispatch!(self, s => s.ttl(key).await)
    }
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        dispatch!(self, s => s.publish(topic, payload).await)
    }
    fn subscribe(&self, topic: &str) -> Subscription {
        match self {
            Ephemeral::Memory(s) => s.subscribe(topic),
            Ephemeral::Redis(s) => s.subscribe(topic),
        }
    }
    async fn ping(&self) -> Result<(), EphemeralError> {
        dispatch!(self, s => s.ping().await)
    }
}

/// TTLs are kept in whole milliseconds, at least one.
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
