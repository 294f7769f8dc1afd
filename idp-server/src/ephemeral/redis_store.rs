//! Redis-backed ephemeral store, shared by every replica.
//!
//! Commands go through a `ConnectionManager` (multiplexed, reconnects by itself)
//! with a short response timeout, so an outage turns into fast `Unavailable`
//! errors rather than hung requests. Pub/sub uses one Redis channel per
//! namespace (`<ns>:bus`, messages `topic \0 payload`) and one subscriber
//! connection per process, re-established in the background after any loss;
//! local fan-out is the shared [`Hub`].
//!
//! With Sentinel (`redis+sentinel://` or `rediss+sentinel://`), the master is
//! asked of the sentinels (`SENTINEL get-master-addr-by-name`) on first use and
//! again, in the background, whenever a command fails with a connection error
//! or `READONLY` (a demoted master); when the answer is a new address, the
//! connection is rebuilt for it and the subscriber moves too. redis-rs's own
//! `sentinel` feature hands out a `Client` pinned to one address, which a
//! `ConnectionManager` would keep reconnecting to after a failover, so the
//! resolution is done here instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, FromRedisValue, RedisError, RedisResult, Script, ServerErrorKind};
use tokio::sync::watch;
use url::Url;

use super::hub::{Hub, Subscription};
use super::{Counter, EphemeralError, EphemeralStore, Expect, Replace, Write, ttl_millis};

/// INCR, starting the expiry window on the first increment.
const INCR_SCRIPT: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v";

/// INCR of each key in turn as [`INCR_SCRIPT`], stopping after the first
/// count above its maximum. ARGV: per key, its window (ms) and its maximum.
const INCR_IN_TURN_SCRIPT: &str = r"
local counts = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('INCR', key)
  if v == 1 then redis.call('PEXPIRE', key, ARGV[2 * i - 1]) end
  counts[i] = v
  if v > tonumber(ARGV[2 * i]) then break end
end
return counts";

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

/// The default port of a sentinel when an address names none.
const SENTINEL_PORT: u16 = 26379;

/// Where the Redis master is, parsed from `ephemeral.url`; `Debug` never shows
/// the password.
#[derive(Clone)]
pub struct RedisTarget {
    endpoint: Endpoint,
    /// PEM roots for TLS; `None` trusts the system roots.
    ca_pem: Option<Vec<u8>>,
}

#[derive(Clone)]
enum Endpoint {
    /// `redis://` or `rediss://`: one fixed server.
    Direct(Url),
    Sentinel {
        /// Each sentinel as `redis[s]://host:port`.
        sentinels: Vec<Url>,
        master_name: String,
        /// `redis[s]://[user:password@]localhost/db`, the host and port
        /// replaced by the master's.
        template: Url,
    },
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RedisTarget");
        match &self.endpoint {
            Endpoint::Direct(url) => d.field("host", &url.host_str()).field("port", &url.port()),
            Endpoint::Sentinel {
                sentinels,
                master_name,
                ..
            } => d
                .field(
                    "sentinels",
                    &sentinels.iter().map(Url::as_str).collect::<Vec<_>>(),
                )
                .field("master_name", master_name),
        };
        d.field("tls", &self.is_tls())
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

impl RedisTarget {
    /// Parses `redis://`, `rediss://`, `redis+sentinel://` or
    /// `rediss+sentinel://` (`[user:password@]host1:26379,host2:26379/MASTER[/db]`).
    /// Error messages never repeat the URL, which may hold a password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let sentinel = url
            .strip_prefix("redis+sentinel://")
            .map(|rest| ("redis", rest))
            .or_else(|| {
                url.strip_prefix("rediss+sentinel://")
                    .map(|rest| ("rediss", rest))
            });
        let endpoint = match sentinel {
            None => {
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    return Err("must start with redis://, rediss://, redis+sentinel:// or rediss+sentinel://".into());
                }
                let parsed =
                    Url::parse(url).map_err(|e| format!("is not a valid Redis URL: {e}"))?;
                redis::IntoConnectionInfo::into_connection_info(parsed.as_str())
                    .map_err(|e| format!("is not a valid Redis URL: {e}"))?;
                Endpoint::Direct(parsed)
            }
            Some((scheme, rest)) => parse_sentinel(scheme, rest)?,
        };
        Ok(RedisTarget {
            endpoint,
            ca_pem: None,
        })
    }

    /// Trusts these PEM certificates (instead of the system roots) for TLS.
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    pub fn is_tls(&self) -> bool {
        let url = match &self.endpoint {
            Endpoint::Direct(url) => url,
            Endpoint::Sentinel { template, .. } => template,
        };
        url.scheme() == "rediss"
    }

    pub fn is_sentinel(&self) -> bool {
        matches!(self.endpoint, Endpoint::Sentinel { .. })
    }

    fn client(&self, url: &Url) -> Result<Client, EphemeralError> {
        let built = match &self.ca_pem {
            Some(pem) if url.scheme() == "rediss" => Client::build_with_tls(
                url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            _ => Client::open(url.as_str()),
        };
        built.map_err(|e| EphemeralError::Unavailable(format!("Redis client: {e}")))
    }
}

fn parse_sentinel(scheme: &str, rest: &str) -> Result<Endpoint, String> {
    let (authority, path) = rest
        .split_once('/')
        .ok_or("needs /MASTER_NAME after the sentinel addresses")?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',') {
        let mut sentinel = Url::parse(&format!("{scheme}://{host}"))
            .ok()
            .filter(|u| u.host_str().is_some_and(|h| !h.is_empty()) && u.path().is_empty())
            .ok_or("has an invalid sentinel address (host:port)")?;
        if sentinel.port().is_none() {
            let _ = sentinel.set_port(Some(SENTINEL_PORT));
        }
        sentinels.push(sentinel);
    }
    let mut parts = path.split('/');
    let master_name = parts.next().unwrap_or_default();
    if master_name.is_empty() {
        return Err("needs /MASTER_NAME after the sentinel addresses".into());
    }
    let db = match parts.next() {
        None | Some("") => 0,
        Some(db) => db
            .parse::<i64>()
            .ok()
            .filter(|db| *db >= 0)
            .ok_or("has an invalid database number after the master name")?,
    };
    if parts.next().is_some() {
        return Err("has extra path segments (expected /MASTER_NAME[/DB])".into());
    }
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let template = Url::parse(&format!("{scheme}://{userinfo}localhost/{db}"))
        .map_err(|_| "has invalid credentials".to_owned())?;
    Ok(Endpoint::Sentinel {
        sentinels,
        master_name: master_name.to_owned(),
        template,
    })
}

/// A `host:port` as the sentinels report it.
type Addr = (String, u16);

/// How a connection to the current master is made; shared by the command path
/// and the subscriber task.
struct Source {
    target: RedisTarget,
    /// Direct: the one client. Sentinel: one client per sentinel.
    clients: Vec<Client>,
    timeout: Duration,
}

impl Source {
    fn new(target: RedisTarget, timeout: Duration) -> Result<Self, EphemeralError> {
        let clients = match &target.endpoint {
            Endpoint::Direct(url) => vec![target.client(url)?],
            Endpoint::Sentinel { sentinels, .. } => sentinels
                .iter()
                .map(|url| target.client(url))
                .collect::<Result<_, _>>()?,
        };
        Ok(Source {
            target,
            clients,
            timeout,
        })
    }

    /// The master's address as the first answering sentinel reports it.
    async fn resolve(&self, master_name: &str) -> Result<Addr, EphemeralError> {
        let mut last = String::from("no sentinel answered");
        for client in &self.clients {
            let asked = tokio::time::timeout(self.timeout, async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master_name)
                    .query_async::<Option<(String, u16)>>(&mut conn)
                    .await
            })
            .await;
            match asked {
                Ok(Ok(Some(addr))) => return Ok(addr),
                Ok(Ok(None)) => last = "the sentinels do not know the master name".into(),
                Ok(Err(e)) => last = format!("sentinel: {e}"),
                Err(_) => last = "sentinel did not answer in time".into(),
            }
        }
        Err(EphemeralError::Unavailable(last))
    }

    /// A client for the current master, and its address when resolved through
    /// Sentinel.
    async fn master(&self) -> Result<(Client, Option<Addr>), EphemeralError> {
        match &self.target.endpoint {
            Endpoint::Direct(_) => match self.clients.first() {
                Some(client) => Ok((client.clone(), None)),
                None => Err(EphemeralError::Unavailable("no Redis client".into())),
            },
            Endpoint::Sentinel {
                master_name,
                template,
                ..
            } => {
                let addr = self.resolve(master_name).await?;
                let mut url = template.clone();
                let host = if addr.0.contains(':') {
                    format!("[{}]", addr.0)
                } else {
                    addr.0.clone()
                };
                url.set_host(Some(&host)).map_err(|_| {
                    EphemeralError::Protocol("sentinel gave an invalid host".into())
                })?;
                let _ = url.set_port(Some(addr.1));
                Ok((self.target.client(&url)?, Some(addr)))
            }
        }
    }
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(500))
}

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
    pub(super) timings: crate::metrics::StoreTimings,
}

/// The connection in use and, with Sentinel, the master it goes to.
struct Current {
    conn: ConnectionManager,
    master: Option<Addr>,
}

struct Inner {
    source: Arc<Source>,
    /// `None` until the sentinels have named a master.
    current: RwLock<Option<Current>>,
    /// Serialises master look-ups.
    resolving: tokio::sync::Mutex<()>,
    /// A background look-up is scheduled or running.
    refreshing: AtomicBool,
    /// Bumped at each switch of master; the subscriber follows it.
    switched: watch::Sender<u64>,
    prefix: String,
    channel: String,
    hub: Arc<Hub>,
    incr: Script,
    incr_in_turn: Script,
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
        || is_readonly(&e)
    {
        EphemeralError::Unavailable(e.to_string())
    } else {
        EphemeralError::Protocol(e.to_string())
    }
}

/// A write sent to a replica: the master was demoted (failover under way).
fn is_readonly(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// Worth asking the sentinels again: the master may have moved.
fn may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || is_readonly(e)
}

impl RedisStore {
    /// Prepares the connection without waiting for Redis; must run inside a
    /// tokio runtime (it starts the subscriber task).
    pub fn connect(url: &str, namespace: &str, timeout: Duration) -> Result<Self, EphemeralError> {
        let target = RedisTarget::parse(url)
            .map_err(|e| EphemeralError::Unavailable(format!("invalid Redis URL: {e}")))?;
        Self::connect_target(target, namespace, timeout)
    }

    /// As [`RedisStore::connect`], for a parsed target (TLS roots, Sentinel).
    pub fn connect_target(
        target: RedisTarget,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Self, EphemeralError> {
        let sentinel = target.is_sentinel();
        let source = Arc::new(Source::new(target, timeout)?);
        let current = match (sentinel, source.clients.first()) {
            (false, Some(client)) => Some(Current {
                conn: ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    manager_config(timeout),
                )
                .map_err(map_err)?,
                master: None,
            }),
            _ => None,
        };
        let hub = Arc::new(Hub::default());
        let channel = format!("{namespace}:bus");
        let (tx, subscribed) = watch::channel(false);
        let (switched, switched_rx) = watch::channel(0);
        let subscriber = tokio::spawn(run_subscriber(
            Arc::clone(&source),
            channel.clone(),
            Arc::clone(&hub),
            tx,
            switched_rx,
        ))
        .abort_handle();
        Ok(RedisStore {
            inner: Arc::new(Inner {
                source,
                current: RwLock::new(current),
                resolving: tokio::sync::Mutex::new(()),
                refreshing: AtomicBool::new(false),
                switched,
                prefix: format!("{namespace}:"),
                channel,
                hub,
                incr: Script::new(INCR_SCRIPT),
                incr_in_turn: Script::new(INCR_IN_TURN_SCRIPT),
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

    fn current(&self) -> Option<ConnectionManager> {
        let current = self
            .inner
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.as_ref().map(|c| c.conn.clone())
    }

    /// The connection to the master, asking the sentinels first if none is
    /// known yet.
    async fn conn(&self) -> Result<ConnectionManager, EphemeralError> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        self.refresh().await?;
        self.current()
            .ok_or_else(|| EphemeralError::Unavailable("no Redis master known".into()))
    }

    /// Asks the sentinels where the master is and, if it moved, switches the
    /// connection (and the subscriber) to it. No-op without Sentinel.
    async fn refresh(&self) -> Result<(), EphemeralError> {
        if !self.inner.source.target.is_sentinel() {
            return Ok(());
        }
        let _resolving = self.inner.resolving.lock().await;
        let (client, master) = self.inner.source.master().await?;
        let known = {
            let current = self
                .inner
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            current.as_ref().map(|c| c.master.clone())
        };
        if known.as_ref() == Some(&master) {
            return Ok(());
        }
        let conn = ConnectionManager::new_lazy_with_config(
            client,
            manager_config(self.inner.source.timeout),
        )
        .map_err(map_err)?;
        if let Some((host, port)) = &master {
            tracing::warn!(master = %format!("{host}:{port}"), "Redis master from Sentinel");
        }
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Current { conn, master });
        self.inner.switched.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Maps the outcome of a command; a failure that may mean a failover
    /// schedules one background look-up of the master.
    fn settle<T>(&self, result: RedisResult<T>) -> Result<T, EphemeralError> {
        result.map_err(|e| {
            if self.inner.source.target.is_sentinel()
                && may_have_moved(&e)
                && !self.inner.refreshing.swap(true, Ordering::AcqRel)
            {
                let store = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.refresh().await {
                        tracing::warn!(error = %e, "Redis master look-up failed");
                    }
                    store.inner.refreshing.store(false, Ordering::Release);
                });
            }
            map_err(e)
        })
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, EphemeralError> {
        let mut conn = self.conn().await?;
        let result = cmd.query_async(&mut conn).await;
        self.settle(result)
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

    /// The master in use, as `host:port`, when found through Sentinel.
    pub fn sentinel_master(&self) -> Option<String> {
        let current = self
            .inner
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current
            .as_ref()
            .and_then(|c| c.master.as_ref())
            .map(|(host, port)| format!("{host}:{port}"))
    }

    /// Deletes every key of this namespace (test clean-up).
    pub async fn purge_namespace(&self) -> Result<u64, EphemeralError> {
        let pattern = format!("{}*", self.inner.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            if !keys.is_empty() {
                let n: u64 = self.query(redis::cmd("UNLINK").arg(&keys)).await?;
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
        let mut conn = self.conn().await?;
        let applied: i64 = self.settle(invocation.invoke_async(&mut conn).await)?;
        Ok(applied == 1)
    }
}

async fn run_subscriber(
    source: Arc<Source>,
    channel: String,
    hub: Arc<Hub>,
    subscribed: watch::Sender<bool>,
    mut switched: watch::Receiver<u64>,
) {
    let timeout = source.timeout.max(Duration::from_secs(1));
    let mut backoff = Duration::from_millis(50);
    loop {
        switched.mark_unchanged();
        let connected = tokio::time::timeout(timeout, async {
            let (client, _) = source.master().await?;
            client.get_async_pubsub().await.map_err(map_err)
        })
        .await;
        if let Ok(Ok(mut pubsub)) = connected
            && pubsub.subscribe(&channel).await.is_ok()
        {
            subscribed.send_replace(true);
            tracing::info!(channel = %channel, "pub/sub subscriber connected");
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            loop {
                let msg = tokio::select! {
                    msg = messages.next() => msg,
                    // The command path found a new master: follow it.
                    _ = switched.changed() => None,
                };
                let Some(msg) = msg else { break };
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
        self.query(&self.set_command(key, value, ttl)).await
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let reply: Option<String> = self
            .query(self.set_command(key, value, ttl).arg("NX"))
            .await?;
        Ok(reply.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        self.query(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn set_if_absent_then_get(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        then_get: &str,
    ) -> Result<(bool, Option<Vec<u8>>), EphemeralError> {
        // A pipeline, not MULTI: one connection runs its commands in order,
        // which is all the caller needs, without the transaction's cost.
        let mut set = self.set_command(key, value, ttl);
        set.arg("NX");
        let mut pipe = redis::pipe();
        pipe.add_command(set).cmd("GET").arg(self.key(then_get));
        let mut conn = self.conn().await?;
        let result = pipe
            .query_async::<(Option<String>, Option<Vec<u8>>)>(&mut conn)
            .await;
        let (stored, got) = self.settle(result)?;
        Ok((stored.is_some(), got))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        self.query(redis::cmd("GETDEL").arg(self.key(key))).await
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let n: i64 = self.query(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, EphemeralError> {
        let mut conn = self.conn().await?;
        let result = self
            .inner
            .incr
            .key(self.key(key))
            .arg(ttl_millis(ttl))
            .invoke_async(&mut conn)
            .await;
        self.settle(result)
    }

    async fn incr_in_turn(&self, counters: &[Counter<'_>]) -> Result<Vec<i64>, EphemeralError> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.inner.incr_in_turn.prepare_invoke();
        for counter in counters {
            invocation
                .key(self.key(counter.key))
                .arg(ttl_millis(counter.window))
                .arg(counter.max);
        }
        let mut conn = self.conn().await?;
        let result = invocation.invoke_async(&mut conn).await;
        self.settle(result)
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
        self.query(self.set_command(key, value, ttl).arg("GET"))
            .await
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
        let mut conn = self.conn().await?;
        let result = pipe.query_async::<Vec<Option<Vec<u8>>>>(&mut conn).await;
        let mut swapped = self.settle(result)?.into_iter();
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
        let ms: i64 = self.query(redis::cmd("PTTL").arg(self.key(key))).await?;
        Ok(match ms {
            -2 => None,
            -1 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        self.query::<i64>(
            redis::cmd("PUBLISH")
                .arg(&self.inner.channel)
                .arg(bus_message(topic, payload)),
        )
        .await
        .map(|_| ())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.inner.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_parse_and_debug_hides_the_password() {
        let target =
            RedisTarget::parse("rediss+sentinel://:pw%2F1@10.0.0.1,[::1]:26380/cache/3").unwrap();
        let Endpoint::Sentinel {
            sentinels,
            master_name,
            template,
        } = &target.endpoint
        else {
            panic!("a sentinel target");
        };
        let sentinels: Vec<&str> = sentinels.iter().map(Url::as_str).collect();
        assert_eq!(
            sentinels,
            ["rediss://10.0.0.1:26379", "rediss://[::1]:26380"]
        );
        assert_eq!(master_name, "cache");
        assert_eq!(template.path(), "/3");
        assert_eq!(template.password(), Some("pw%2F1"));
        assert!(target.is_tls() && target.is_sentinel());
        let shown = format!("{target:?}");
        assert!(!shown.contains("pw"), "{shown}");

        let direct = RedisTarget::parse("redis://:secret@127.0.0.1:6379/1").unwrap();
        assert!(!direct.is_tls() && !direct.is_sentinel());
        assert!(!format!("{direct:?}").contains("secret"));
        for bad in [
            "redis+sentinel://:secret@h",
            "redis+sentinel://:secret@h/m/x",
            "http://h",
        ] {
            let err = RedisTarget::parse(bad).err().unwrap();
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
