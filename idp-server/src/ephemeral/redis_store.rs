//! Redis-backed ephemeral store, shared by every replica.
//!
//! Commands go through a `ConnectionManager` (multiplexed, reconnects by itself)
//! with a short response timeout, so an outage turns into fast `Unavailable`
//! errors rather than hung requests. Pub/sub uses one Redis channel per
//! namespace (`<ns>:bus`, messages `topic \0 payload`) and one subscriber
//! connection per process, re-established in the background after any loss;
//! local fan-out is the shared [`Hub`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{Client, RedisError, Script};
use tokio::sync::watch;

use super::hub::{Hub, Subscription};
use super::{EphemeralError, EphemeralStore, Expect, Replace, Write, ttl_millis};

/// INCR, starting the expiry window on the first increment.
const INCR_SCRIPT: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v";

/// ARGV: expect_present (0/1), expected, replace_with_value (0/1), value,
/// ttl_ms, and optionally a channel and a message to publish once applied.
const CAS_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
else
  if (not cur) or cur ~= ARGV[2] then return 0 end
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
if ARGV[6] then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return 1";

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
    pub(super) timings: crate::metrics::StoreTimings,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    hub: Arc<Hub>,
    incr: Script,
    cas: Script,
    subscribed: watch::Receiver<bool>,
    subscriber: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

fn map_err(e: RedisError) -> EphemeralError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        EphemeralError::Unavailable(e.to_string())
    } else {
        EphemeralError::Protocol(e.to_string())
    }
}

impl RedisStore {
    /// Prepares the connection without waiting for Redis; must run inside a
    /// tokio runtime (it starts the subscriber task).
    pub fn connect(url: &str, namespace: &str, timeout: Duration) -> Result<Self, EphemeralError> {
        let client = Client::open(url)
            .map_err(|e| EphemeralError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(map_err)?;
        let hub = Arc::new(Hub::default());
        let channel = format!("{namespace}:bus");
        let (tx, subscribed) = watch::channel(false);
        let subscriber = tokio::spawn(run_subscriber(
            client,
            channel.clone(),
            Arc::clone(&hub),
            timeout,
            tx,
        ))
        .abort_handle();
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: format!("{namespace}:"),
                channel,
                hub,
                incr: Script::new(INCR_SCRIPT),
                cas: Script::new(CAS_SCRIPT),
                subscribed,
                subscriber,
            }),
            timings: Default::default(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    /// `SET key value PX ttl`, to which callers may add NX or GET.
    fn set_command(&self, key: &str, value: &[u8], ttl: Duration) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl));
        cmd
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// True while the pub/sub subscriber connection is established.
    pub fn is_subscribed(&self) -> bool {
        *self.inner.subscribed.borrow()
    }

    /// Waits until the subscriber connection is up (tests use it so that a
    /// message published right after start is not lost).
    pub async fn wait_subscribed(&self, limit: Duration) -> bool {
        let mut rx = self.inner.subscribed.clone();
        tokio::time::timeout(limit, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Deletes every key of this namespace (test clean-up).
    pub async fn purge_namespace(&self) -> Result<u64, EphemeralError> {
        let mut conn = self.conn();
        let pattern = format!("{}*", self.inner.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(map_err)?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// A message on the namespace's channel: `topic \0 payload`.
fn bus_message(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(topic.len() + 1 + payload.len());
    message.extend_from_slice(topic.as_bytes());
    message.push(0);
    message.extend_from_slice(payload);
    message
}

impl RedisStore {
    async fn cas(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
        message: Option<Vec<u8>>,
    ) -> Result<bool, EphemeralError> {
        let (present, expected): (u8, &[u8]) = match expect {
            Expect::Absent => (0, b""),
            Expect::Value(v) => (1, v),
        };
        let (set, value, ttl): (u8, &[u8], u64) = match replace {
            Replace::Delete => (0, b"", 1),
            Replace::Value(v, ttl) => (1, v, ttl_millis(ttl)),
        };
        let mut invocation = self.inner.cas.key(self.key(key));
        invocation
            .arg(present)
            .arg(expected)
            .arg(set)
            .arg(value)
            .arg(ttl);
        if let Some(message) = message {
            invocation.arg(&self.inner.channel).arg(message);
        }
        let applied: i64 = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(applied == 1)
    }
}

async fn run_subscriber(
    client: Client,
    channel: String,
    hub: Arc<Hub>,
    timeout: Duration,
    subscribed: watch::Sender<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let connected = tokio::time::timeout(
            timeout.max(Duration::from_secs(1)),
            client.get_async_pubsub(),
        )
        .await;
        if let Ok(Ok(mut pubsub)) = connected
            && pubsub.subscribe(&channel).await.is_ok()
        {
            subscribed.send_replace(true);
            tracing::info!(channel = %channel, "pub/sub subscriber connected");
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let data = msg.get_payload_bytes();
                if let Some(pos) = data.iter().position(|b| *b == 0)
                    && let Ok(topic) = std::str::from_utf8(&data[..pos])
                {
                    hub.deliver(topic, &data[pos + 1..]);
                }
            }
            subscribed.send_replace(false);
            tracing::warn!(channel = %channel, "pub/sub connection lost; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl EphemeralStore for RedisStore {
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        self.set_command(key, value, ttl)
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let reply: Option<String> = self
            .set_command(key, value, ttl)
            .arg("NX")
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(reply.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let n: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError> {
        self.inner
            .incr
            .key(self.key(key))
            .arg(ttl_millis(ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
    ) -> Result<bool, EphemeralError> {
        self.cas(key, expect, replace, None).await
    }

    async fn compare_and_set_publish(
        &self,
        key: &str,
        expect: Expect<'_>,
        replace: Replace<'_>,
        topic: &str,
        payload: &[u8],
    ) -> Result<bool, EphemeralError> {
        self.cas(key, expect, replace, Some(bus_message(topic, payload)))
            .await
    }

    async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, EphemeralError> {
        self.set_command(key, value, ttl)
            .arg("GET")
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn apply(&self, writes: &[Write<'_>]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        if writes.len() > 1 {
            pipe.atomic();
        }
        for write in writes {
            match *write {
                Write::Set(key, value, ttl) => {
                    pipe.add_command(self.set_command(key, value, ttl)).ignore();
                }
                Write::Swap(key, value, ttl) => {
                    pipe.add_command(self.set_command(key, value, ttl))
                        .arg("GET");
                }
                Write::Delete(key) => {
                    pipe.cmd("DEL").arg(self.key(key)).ignore();
                }
                Write::Publish(topic, payload) => {
                    pipe.cmd("PUBLISH")
                        .arg(&self.inner.channel)
                        .arg(bus_message(topic, payload))
                        .ignore();
                }
            }
        }
        // Only the swaps' replies come back, in order.
        let mut swapped: std::vec::IntoIter<Option<Vec<u8>>> = pipe
            .query_async::<Vec<Option<Vec<u8>>>>(&mut self.conn())
            .await
            .map_err(map_err)?
            .into_iter();
        writes
            .iter()
            .map(|write| match write {
                Write::Swap(..) => swapped.next().ok_or_else(|| {
                    EphemeralError::Protocol("a swap in a batch got no reply".into())
                }),
                _ => Ok(None),
            })
            .collect()
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, EphemeralError> {
        let ms: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(match ms {
            -2 => None,
            -1 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        redis::cmd("PUBLISH")
            .arg(&self.inner.channel)
            .arg(bus_message(topic, payload))
            .query_async::<i64>(&mut self.conn())
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.inner.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}
