//! Web Push to the authenticator app (DESIGN §8; RFC 8030 delivery, RFC 8291
//! message encryption, RFC 8292 VAPID): a closed app is woken by a
//! notification; SSE and long-poll stay as they are for an open one.
//!
//! What is pushed carries only what the app needs to fetch over the signed
//! API: a login request (challenge id, partner, expiry — never the number
//! to match, the nonce or anything about the PIN), the end of that request,
//! and security alerts. Every delivery runs off the request path
//! (`tokio::spawn`, bounded by `push.max_in_flight`) and a failure never
//! blocks a login. Requests go only to allowlisted push-service origins.

pub mod allowlist;
pub mod ece;
pub mod vapid;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::PushConfig;
use crate::crypto::{Aead, CryptoError};
use crate::device::challenge::{self, Challenge, State};
use crate::domain::key_state::KeyState;
use crate::ephemeral::EphemeralStore;
use crate::metrics::{Metrics, PushFailure, PushKind};
use crate::oidc::Provider;
use crate::store::audit::{self, AuditEvent};
use crate::store::devices::DeviceRow;
use crate::store::push::{self as rows, NewSubscription, NewVapidKey, SubscriptionRow};
use crate::store::{Db, StoreError, now_unix};
use allowlist::Allowlist;
use vapid::{VapidKey, VapidKeys};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("push notifications are turned off on this server")]
    Disabled,
    #[error("the subscription endpoint is not on an allowed push service")]
    NotAllowed,
    #[error("{0}")]
    BadKey(&'static str),
    #[error("the subscription was made with a push key this server does not have; subscribe again")]
    UnknownServerKey,
    #[error("the push message is too large")]
    TooLarge,
    #[error("VAPID key {0} cannot be decrypted with this master key")]
    Undecryptable(String),
    #[error("crypto: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<openssl::error::ErrorStack> for PushError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        PushError::Crypto(e.to_string())
    }
}

impl From<CryptoError> for PushError {
    fn from(e: CryptoError) -> Self {
        PushError::Crypto(e.to_string())
    }
}

/// A security alert pushed to every (non-revoked) device of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alert {
    DeviceActivated,
    DeviceLocked,
    /// Locked by three wrong numbers in a row (not PINs).
    DeviceLockedNumbers,
    FraudReported,
    IdentityBlocked,
}

impl Alert {
    fn topic(self) -> &'static str {
        match self {
            Alert::DeviceActivated => "alert-device-activated",
            Alert::DeviceLocked | Alert::DeviceLockedNumbers => "alert-device-locked",
            Alert::FraudReported => "alert-fraud-reported",
            Alert::IdentityBlocked => "alert-identity-blocked",
        }
    }
}

/// The decrypted payload the service worker receives (docs/device-api.yaml,
/// `PushMessage`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message<'a> {
    /// A partner asks for a login: open the approval screen of `challenge`,
    /// fetched over the signed API. `number_matching`: the app will ask for
    /// the 2-digit number shown in the browser (the number itself is never
    /// pushed).
    Login {
        challenge: &'a str,
        partner: &'a str,
        expires_at: i64,
        number_matching: bool,
    },
    /// The request ended (decided, expired): close its notification.
    LoginEnded {
        challenge: &'a str,
        reason: &'static str,
    },
    Alert {
        alert: Alert,
        at: i64,
    },
}

/// The Push API subscription as the browser's `PushSubscription.toJSON()`
/// gives it, plus the server key it was made with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    pub endpoint: String,
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<serde_json::Value>,
    pub keys: SubscriptionKeys,
    /// The `applicationServerKey` used (base64url); the active key if absent.
    #[serde(default)]
    pub server_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Counts a device's fetch of a challenge in the fetch-latency histogram.
pub fn observe_fetch(metrics: &Metrics, challenge: &Challenge) {
    if challenge.created_ms > 0 {
        metrics.challenge_fetched((now_ms() - challenge.created_ms) as f64 / 1000.0);
    }
}

/// How long the "login ended" message may wait for a device that is offline.
const ENDED_TTL_SECS: i64 = 300;
/// How long a security alert may wait for a device that is offline.
const ALERT_TTL_SECS: i64 = 86_400;
const LOGIN_TOPIC: &str = "login";

/// An alert with its recipients already read
/// ([`PushService::alert_before_revocation`]).
pub struct PendingAlert {
    service: Arc<PushService>,
    subs: Vec<SubscriptionRow>,
    alert: Alert,
}

impl PendingAlert {
    /// How many subscriptions it goes to.
    pub fn recipients(&self) -> usize {
        self.subs.len()
    }

    /// Sends it in the background; never fails the caller.
    pub fn send(self) {
        if self.subs.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let message = Message::Alert {
                alert: self.alert,
                at: now_unix(),
            };
            self.service
                .send_all(
                    &self.subs,
                    PushKind::Alert,
                    &message,
                    now_unix() + ALERT_TTL_SECS,
                    Some(self.alert.topic()),
                )
                .await;
        });
    }
}

pub struct PushService {
    config: PushConfig,
    subject: String,
    allow: Allowlist,
    http: reqwest::Client,
    db: Db,
    kek: Arc<Aead>,
    keys: RwLock<Arc<VapidKeys>>,
    in_flight: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

enum Delivery {
    Sent,
    Failed(PushFailure),
    /// Worth another attempt after the delay (Retry-After if given).
    Retry(PushFailure, Option<Duration>),
}

impl PushService {
    /// Builds the service and loads the VAPID keys. The first key is created
    /// on first use ([`Self::public_key`], a subscription), not at start, so
    /// a process that never serves the app (the CLI) writes nothing.
    pub async fn start(
        config: &crate::config::Config,
        db: Db,
        kek: Arc<Aead>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PushError> {
        let push = config.push.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(push.timeout())
            .connect_timeout(push.timeout())
            .build()
            .map_err(|e| PushError::Crypto(format!("HTTP client: {e}")))?;
        let subject = if push.vapid_subject.is_empty() {
            config.issuer().to_owned()
        } else {
            push.vapid_subject.clone()
        };
        let service = PushService {
            allow: Allowlist::new(&push.allowed_origins),
            in_flight: Arc::new(Semaphore::new(push.max_in_flight)),
            config: push,
            subject,
            http,
            db,
            kek,
            keys: RwLock::new(Arc::new(VapidKeys::default())),
            metrics,
        };
        service.reload().await?;
        Ok(service)
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    fn keys(&self) -> Arc<VapidKeys> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The active VAPID public key (base64url), the app's `applicationServerKey`;
    /// created at the first call (safe when several replicas race).
    pub async fn public_key(&self) -> Result<Option<String>, PushError> {
        Ok(self
            .ready_keys()
            .await?
            .active()
            .map(|k| k.public_key.clone()))
    }

    /// The keys, with an active one created first if there is none yet.
    async fn ready_keys(&self) -> Result<Arc<VapidKeys>, PushError> {
        let keys = self.keys();
        if keys.active().is_some() {
            return Ok(keys);
        }
        self.ensure_active_key().await?;
        self.reload().await?;
        Ok(self.keys())
    }

    async fn ensure_active_key(&self) -> Result<(), PushError> {
        let has_active = self
            .db
            .read(|conn| {
                Ok(rows::all_keys(conn)?
                    .iter()
                    .any(|k| k.state == KeyState::Active))
            })
            .await?;
        if !has_active {
            match self.insert_new_key(false).await {
                Ok(_) => {}
                // Another replica created it first.
                Err(PushError::Store(e)) if e.is_unique_violation() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Generates, seals and stores a new active key (retiring the current
    /// one when `rotate`), with its audit entry. Returns (new kid, old kid).
    async fn insert_new_key(&self, rotate: bool) -> Result<(String, Option<String>), PushError> {
        let kek = Arc::clone(&self.kek);
        let (kid, public, sealed) =
            tokio::task::spawn_blocking(move || vapid::generate_sealed(&kek))
                .await
                .map_err(|e| PushError::Crypto(e.to_string()))??;
        let new_kid = kid.clone();
        let previous = self
            .db
            .write(move |conn| {
                let previous = if rotate {
                    rows::retire_active(conn)?
                } else {
                    None
                };
                rows::insert_active(
                    conn,
                    &NewVapidKey {
                        kid: &kid,
                        public_key: &public,
                        private_key: &sealed,
                    },
                )?;
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: "system",
                        action: if rotate {
                            "push.vapid_rotate"
                        } else {
                            "push.vapid_generate"
                        },
                        subject: &kid,
                        details: serde_json::json!({ "previous": previous }),
                    },
                )?;
                Ok(previous)
            })
            .await?;
        Ok((new_kid, previous))
    }

    /// Makes a new VAPID key active (`idp-admin keys rotate-vapid`). Apps
    /// renew their subscription with it the next time they open; until then
    /// the retired key keeps signing for the subscriptions made with it.
    pub async fn rotate(&self) -> Result<(String, Option<String>), PushError> {
        let rotated = self.insert_new_key(true).await?;
        self.reload().await?;
        Ok(rotated)
    }

    /// Re-reads the keys and the subscription count (start-up, the key
    /// reloader's timer and signal, and after each change).
    pub async fn reload(&self) -> Result<(), PushError> {
        let (rows, count) = self
            .db
            .read(|conn| Ok((rows::all_keys(conn)?, rows::count(conn)?)))
            .await?;
        self.metrics.push_subscriptions(count);
        let current = self.keys();
        let unchanged = rows.len() == current.by_kid.len()
            && rows.iter().all(|r| {
                current.by_kid.contains_key(&r.kid)
                    && (r.state == KeyState::Active)
                        == (current.active.as_deref() == Some(r.kid.as_str()))
            });
        if unchanged {
            return Ok(());
        }
        let mut keys = VapidKeys::default();
        for row in &rows {
            let key = VapidKey::open(&self.kek, row)?;
            if row.state == KeyState::Active {
                keys.active = Some(row.kid.clone());
            }
            keys.by_kid.insert(row.kid.clone(), key);
        }
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }

    async fn refresh_count(&self) {
        if let Ok(n) = self.db.read(rows::count).await {
            self.metrics.push_subscriptions(n);
        }
    }

    /// Registers (or replaces) the device's subscription.
    pub async fn subscribe(
        &self,
        device: &DeviceRow,
        request: SubscribeRequest,
    ) -> Result<(), PushError> {
        if !self.enabled() {
            return Err(PushError::Disabled);
        }
        if self.allow.check(&request.endpoint).is_none() {
            return Err(PushError::NotAllowed);
        }
        let p256dh = B64
            .decode(request.keys.p256dh.trim_end_matches('='))
            .map_err(|_| PushError::BadKey("p256dh is not base64url"))?;
        ece::parse_public(&p256dh)?;
        let auth = B64
            .decode(request.keys.auth.trim_end_matches('='))
            .map_err(|_| PushError::BadKey("auth is not base64url"))?;
        if auth.len() != 16 {
            return Err(PushError::BadKey("auth must be 16 bytes"));
        }
        let keys = self.ready_keys().await?;
        let kid = match request.server_key.as_deref() {
            Some(public) => keys.by_public(public.trim_end_matches('=')),
            None => keys.active(),
        }
        .ok_or(PushError::UnknownServerKey)?
        .kid
        .clone();
        let (device_id, account_id) = (device.id.clone(), device.account_id.clone());
        let (endpoint, p256dh, auth) = (request.endpoint, B64.encode(p256dh), B64.encode(auth));
        self.db
            .write(move |conn| {
                rows::replace(
                    conn,
                    &NewSubscription {
                        device_id: &device_id,
                        account_id: &account_id,
                        endpoint: &endpoint,
                        p256dh: &p256dh,
                        auth: &auth,
                        vapid_kid: &kid,
                    },
                )?;
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: &format!("account:{account_id}"),
                        action: "push.subscribed",
                        subject: &account_id,
                        details: serde_json::json!({ "device": device_id }),
                    },
                )
            })
            .await?;
        self.refresh_count().await;
        Ok(())
    }

    /// Deletes the device's subscription (the citizen turned notifications
    /// off); false if it had none.
    pub async fn unsubscribe(&self, device: &DeviceRow) -> Result<bool, PushError> {
        let (device_id, account_id) = (device.id.clone(), device.account_id.clone());
        let deleted = self
            .db
            .write(move |conn| {
                let deleted = rows::delete(conn, &device_id)?;
                if deleted {
                    audit::append(
                        conn,
                        &AuditEvent {
                            actor: &format!("account:{account_id}"),
                            action: "push.unsubscribed",
                            subject: &account_id,
                            details: serde_json::json!({ "device": device_id }),
                        },
                    )?;
                }
                Ok(deleted)
            })
            .await?;
        self.refresh_count().await;
        Ok(deleted)
    }

    /// The account's devices that have a subscription ("Mes appareils").
    pub async fn subscribed_devices(&self, account_id: &str) -> Result<Vec<String>, PushError> {
        let account = account_id.to_owned();
        Ok(self
            .db
            .read(move |conn| rows::subscribed_devices(conn, &account))
            .await?)
    }

    /// A login request was created: push it to `subs`, the subscriptions of
    /// the account's active devices (read with the account, by
    /// [`crate::store::accounts::approver_by_phone`]), then tell them when it
    /// ends. Runs in the background; never fails the caller.
    pub fn login_requested(provider: &Provider, challenge: &Challenge, subs: Vec<SubscriptionRow>) {
        let service = Arc::clone(&provider.core.push);
        if !service.enabled() || challenge.account_id.is_none() || subs.is_empty() {
            return;
        }
        let (provider, challenge) = (provider.clone(), challenge.clone());
        tokio::spawn(async move { service.login_task(provider, challenge, subs).await });
    }

    /// Pushes a security alert to the account's devices (background).
    pub fn alert(service: &Arc<PushService>, account_id: &str, alert: Alert) {
        if !service.enabled() {
            return;
        }
        let (service, account_id) = (Arc::clone(service), account_id.to_owned());
        tokio::spawn(async move {
            let account = account_id.clone();
            let subs = match service
                .db
                .read(move |conn| rows::of_account(conn, &account, false))
                .await
            {
                Ok(subs) => subs,
                Err(e) => {
                    tracing::warn!(error = %e, "push: could not read subscriptions");
                    return;
                }
            };
            let message = Message::Alert {
                alert,
                at: now_unix(),
            };
            service
                .send_all(
                    &subs,
                    PushKind::Alert,
                    &message,
                    now_unix() + ALERT_TTL_SECS,
                    Some(alert.topic()),
                )
                .await;
        });
    }

    /// Reads the account's subscriptions now, for an alert sent after a
    /// change that deletes them (blocking the identity revokes every
    /// device): [`PendingAlert::send`] once the change is written.
    pub async fn alert_before_revocation(
        service: &Arc<PushService>,
        account_id: &str,
        alert: Alert,
    ) -> PendingAlert {
        let mut pending = PendingAlert {
            service: Arc::clone(service),
            subs: Vec::new(),
            alert,
        };
        if !service.enabled() {
            return pending;
        }
        let account = account_id.to_owned();
        match service
            .db
            .read(move |conn| rows::of_account(conn, &account, false))
            .await
        {
            Ok(subs) => pending.subs = subs,
            Err(e) => tracing::warn!(error = %e, "push: could not read subscriptions"),
        }
        pending
    }

    async fn login_task(
        self: Arc<Self>,
        provider: Provider,
        challenge: Challenge,
        subs: Vec<SubscriptionRow>,
    ) {
        let Some(account_id) = challenge.account_id.clone() else {
            return;
        };
        // Listen before sending, so no change of the challenge is missed.
        let mut wake = provider
            .core
            .ephemeral
            .subscribe(&challenge::challenge_topic(&challenge.id));
        let message = Message::Login {
            challenge: &challenge.id,
            partner: &challenge.client_name,
            expires_at: challenge.expires_at,
            number_matching: true,
        };
        self.send_all(
            &subs,
            PushKind::Login,
            &message,
            challenge.expires_at,
            Some(LOGIN_TOPIC),
        )
        .await;

        let reason = loop {
            let left = u64::try_from(challenge.expires_at - now_unix()).unwrap_or(0);
            let until = Duration::from_secs(left).min(challenge::RECHECK);
            if left > 0 {
                let _ = tokio::time::timeout(until, wake.recv()).await;
            }
            let current = match challenge::load(&provider, &challenge.id).await {
                Ok(current) => current,
                Err(_) => return,
            };
            let Some((raw, current)) = current else {
                break "expired";
            };
            match current.state {
                State::Pending | State::Deciding if now_unix() < current.expires_at => continue,
                State::Pending => {
                    // Recorded once, by whoever sees the expiry first.
                    let _ = challenge::settle_expiry(&provider.core, &raw, &current).await;
                    break "expired";
                }
                State::Expired => break "expired",
                State::Deciding => break "expired",
                // A newer login replaced it; its own message (same Topic,
                // same notification tag) replaces this one.
                State::Cancelled | State::Superseding => return,
                // Nobody's device was asked.
                State::Blocked { .. } => return,
                State::Approved { .. } | State::Consumed => break "approved",
                State::Denied => break "denied",
                State::FraudReported => break "fraud_reported",
                State::WrongNumber | State::Locked { .. } => break "failed",
            }
        };
        // Only while no newer login is the account's current one (the same
        // Topic would replace that one's message).
        if challenge::current_id(&provider, &account_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|id| id != challenge.id)
        {
            return;
        }
        let ended = Message::LoginEnded {
            challenge: &challenge.id,
            reason,
        };
        self.send_all(
            &subs,
            PushKind::LoginEnded,
            &ended,
            now_unix() + ENDED_TTL_SECS,
            Some(LOGIN_TOPIC),
        )
        .await;
    }

    async fn send_all(
        &self,
        subs: &[SubscriptionRow],
        kind: PushKind,
        message: &Message<'_>,
        deadline: i64,
        topic: Option<&str>,
    ) {
        let Ok(payload) = serde_json::to_vec(message) else {
            return;
        };
        let sends = subs.iter().map(|sub| async {
            let Ok(_permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
                self.metrics.push_failed(PushFailure::Overloaded);
                return;
            };
            match self.deliver(sub, &payload, deadline, topic).await {
                Ok(()) => self.metrics.push_sent(kind),
                Err(reason) => {
                    tracing::info!(reason = reason.as_str(), "push not delivered");
                    self.metrics.push_failed(reason);
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }

    /// One message to one subscription, retried on 429/5xx within the TTL.
    async fn deliver(
        &self,
        sub: &SubscriptionRow,
        payload: &[u8],
        deadline: i64,
        topic: Option<&str>,
    ) -> Result<(), PushFailure> {
        let url = self
            .allow
            .check(&sub.endpoint)
            .ok_or(PushFailure::NotAllowed)?;
        let mut keys = self.keys();
        if !keys.by_kid.contains_key(&sub.vapid_kid) {
            // Created or rotated by another process since this one loaded.
            if self.reload().await.is_ok() {
                keys = self.keys();
            }
        }
        let key = keys.by_kid.get(&sub.vapid_kid).ok_or(PushFailure::NoKey)?;
        let p256dh = B64
            .decode(&sub.p256dh)
            .map_err(|_| PushFailure::Encryption)?;
        let auth = B64.decode(&sub.auth).map_err(|_| PushFailure::Encryption)?;
        let body = ece::encrypt(&p256dh, &auth, payload).map_err(|_| PushFailure::Encryption)?;
        let audience = url.origin().ascii_serialization();
        let mut delay = Duration::from_millis(self.config.retry_base_ms);
        let mut last = PushFailure::Expired;
        for attempt in 1..=self.config.max_attempts {
            let ttl = deadline - now_unix();
            if ttl <= 0 {
                return Err(last);
            }
            let authorization = key
                .authorization(&audience, &self.subject, now_unix())
                .map_err(|_| PushFailure::Encryption)?;
            match self
                .attempt(&url, &authorization, ttl, topic, body.clone())
                .await
            {
                Delivery::Sent => return Ok(()),
                Delivery::Failed(PushFailure::Gone) => {
                    self.forget(sub).await;
                    return Err(PushFailure::Gone);
                }
                Delivery::Failed(reason) => return Err(reason),
                Delivery::Retry(reason, retry_after) => {
                    last = reason;
                    let wait = retry_after.unwrap_or(delay);
                    delay *= 2;
                    let left =
                        Duration::from_secs(u64::try_from(deadline - now_unix()).unwrap_or(0));
                    if attempt == self.config.max_attempts || wait >= left {
                        return Err(last);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Err(last)
    }

    async fn attempt(
        &self,
        url: &url::Url,
        authorization: &str,
        ttl: i64,
        topic: Option<&str>,
        body: Vec<u8>,
    ) -> Delivery {
        let mut request = self
            .http
            .post(url.clone())
            .header("TTL", ttl.to_string())
            .header("Urgency", "high")
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body);
        if let Some(topic) = topic {
            request = request.header("Topic", topic);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Delivery::Retry(PushFailure::Timeout, None),
            Err(_) => return Delivery::Retry(PushFailure::Network, None),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            200..=299 => Delivery::Sent,
            404 | 410 => Delivery::Failed(PushFailure::Gone),
            429 => Delivery::Retry(PushFailure::Throttled, retry_after),
            500..=599 => Delivery::Retry(PushFailure::Unavailable, retry_after),
            _ => Delivery::Failed(PushFailure::Rejected),
        }
    }

    /// The push service says the subscription no longer exists: delete it
    /// (unless the app renewed it meanwhile), with its audit entry.
    async fn forget(&self, sub: &SubscriptionRow) {
        let (device_id, account_id, endpoint) = (
            sub.device_id.clone(),
            sub.account_id.clone(),
            sub.endpoint.clone(),
        );
        let deleted = self
            .db
            .write(move |conn| {
                let deleted = rows::delete_endpoint(conn, &device_id, &endpoint)?;
                if deleted {
                    audit::append(
                        conn,
                        &AuditEvent {
                            actor: "system",
                            action: "push.subscription_gone",
                            subject: &account_id,
                            details: serde_json::json!({ "device": device_id }),
                        },
                    )?;
                }
                Ok(deleted)
            })
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "push: could not delete a gone subscription");
        }
        self.refresh_count().await;
    }
}

/// A push refusal seen through the device API: the app's request was wrong
/// (400) or the server failed.
impl From<PushError> for crate::device::DeviceError {
    fn from(e: PushError) -> Self {
        use crate::device::DeviceError;
        match e {
            PushError::Store(inner) => DeviceError::Store(inner),
            PushError::Disabled
            | PushError::NotAllowed
            | PushError::BadKey(_)
            | PushError::UnknownServerKey
            | PushError::TooLarge => DeviceError::InvalidRequest(e.to_string()),
            other => DeviceError::Internal(other.to_string()),
        }
    }
}
