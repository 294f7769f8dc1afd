//! Approval challenges: created by the browser's phone page, shown on every
//! active device of the account, decided once (DESIGN §7, §8).
//!
//! A challenge is one JSON value in the ephemeral store (`chal:{id}`); its
//! state moves only by compare-and-set on the exact bytes read, so of
//! concurrent decisions, expiry and cancellation on any replica exactly one
//! takes effect. The account's current challenge is `chal:acct:{account}`
//! (one pending per account). Devices wait on the `device.{account}` topic,
//! browsers on `chal.{id}`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DeviceError;
use crate::app::Core;
use crate::crypto::{constant_time_eq, random_bytes, random_token};
use crate::domain::account::{AccountEvent, AccountState};
use crate::domain::acr::{self, Acr, Authentication};
use crate::domain::device::LockReason;
use crate::domain::history::LoginResult;
use crate::domain::phone::FrenchMobile;
use crate::domain::pin::Pin;
use crate::ephemeral::{EphemeralStore, Expect, Replace, Subscription, Write};
use crate::metrics::LoginOutcome;
use crate::notify::EmailMessage;
use crate::oidc::Provider;
use crate::oidc::claims::Person;
use crate::oidc::types::Authenticated;
use crate::outcome::{ServiceError, refuse};
use crate::ratelimit::Limit;
use crate::store::accounts::{Change, Entry};
use crate::store::audit::{self, AuditEvent};
use crate::store::devices::{self, DeviceRow, MAX_NUMBER_FAILURES, MAX_PIN_FAILURES};
use crate::store::login_history::{self, NewLogin};
use crate::store::{accounts, now_millis, now_unix};

/// The rate-limit window of the phone page and of approvals (DESIGN §7).
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a decided challenge stays readable after its expiry, so the
/// browser can still learn the outcome.
const AFTER_EXPIRY: Duration = Duration::from_secs(300);
/// How long a consumed challenge stays readable (it says "expired").
const CONSUMED_MEMORY: Duration = Duration::from_secs(30);
/// How long past the expiry a decision in progress is still waited for.
const DECIDING_GRACE_SECS: i64 = 10;
/// Waiters re-read state at least this often (pub/sub is best-effort).
pub const RECHECK: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Pending,
    /// A device is deciding (PIN being checked); no other decision may start.
    Deciding,
    /// Replaced by a newer login while a device was deciding: whatever the
    /// device decides, the challenge ends `Cancelled`.
    Superseding,
    Approved {
        device_id: String,
        acr: Acr,
        auth_time: i64,
    },
    /// The browser has taken the approval (once).
    Consumed,
    Denied,
    FraudReported,
    /// The number chosen on the device was not the one shown.
    WrongNumber,
    /// The device got locked by this decision (three wrong PINs, or three
    /// wrong numbers, in a row).
    Locked {
        #[serde(default)]
        reason: LockReason,
    },
    /// The account's app is locked (every device refuses approvals until a
    /// new activation): set at creation, so the browser is told at once
    /// instead of waiting for the expiry.
    Blocked {
        reason: LockReason,
    },
    /// Replaced by a newer login of the same account.
    Cancelled,
    /// Nobody decided before the expiry: set by compare-and-set by whoever
    /// sees it first (the waiting browser, the device, the push task), who
    /// then records it ([`settle_expiry`]).
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    pub id: String,
    /// `None` when the phone number has no account able to approve: the
    /// browser waits like any other and the challenge simply expires.
    pub account_id: Option<String>,
    pub nonce: String,
    /// The number shown in the browser.
    pub number: u8,
    /// The three numbers offered on the device (one is `number`).
    pub choices: [u8; 3],
    pub client_id: String,
    pub client_name: String,
    /// The authorization request (`tx`) that started it.
    pub request_id: String,
    pub created_at: i64,
    /// `created_at` in milliseconds (the push metrics' fetch latency).
    #[serde(default)]
    pub created_ms: i64,
    pub expires_at: i64,
    /// The browser's address, truncated (approximate location).
    pub ip: String,
    pub user_agent: String,
    /// The account's identity document had expired when the login started:
    /// the device may still answer, but an approval does not log in (the
    /// browser is told why only then, so the number reveals nothing).
    #[serde(default)]
    pub document_expired: bool,
    #[serde(flatten)]
    pub state: State,
}

impl Challenge {
    fn expired(&self) -> bool {
        now_unix() >= self.expires_at
    }

    /// The connection-history row of this login ending with `outcome` now
    /// (`None` for a number without an identity: nobody's history).
    fn history(&self, outcome: LoginResult, acr: Acr) -> Result<Option<NewLogin>, DeviceError> {
        let Some(account_id) = self.account_id.clone() else {
            return Ok(None);
        };
        Ok(Some(NewLogin {
            id: random_token()?,
            account_id,
            client_id: self.client_id.clone(),
            client_name: self.client_name.clone(),
            at_ms: now_millis(),
            acr: acr.as_str().to_owned(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            outcome,
        }))
    }
}

/// The audit action of an approval nobody answered in time.
pub const EXPIRED: &str = "login.expired";

/// Ends a pending challenge past its expiry (`raw`: the bytes it was read
/// from): the one caller whose compare-and-set wins writes its audit entry
/// and its history row, so an expiry is recorded exactly once. Anything
/// else (not pending, not expired, already moved) changes nothing.
pub async fn settle_expiry(
    core: &Core,
    raw: &[u8],
    challenge: &Challenge,
) -> Result<(), DeviceError> {
    if challenge.state != State::Pending || !challenge.expired() {
        return Ok(());
    }
    let mut ended = challenge.clone();
    if !transition(core, raw, &mut ended, State::Expired).await? {
        return Ok(());
    }
    let Some(login) = challenge.history(LoginResult::Expired, Acr::Eidas2)? else {
        return Ok(());
    };
    core.db
        .write(move |conn| {
            audit::append(
                conn,
                &AuditEvent {
                    actor: "system",
                    action: EXPIRED,
                    subject: &login.account_id,
                    details: serde_json::json!({ "client": login.client_id }),
                },
            )?;
            login_history::insert(conn, &login)
        })
        .await?;
    Ok(())
}

/// What a device is shown.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeView {
    pub id: String,
    pub nonce: String,
    pub client_name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub numbers: [u8; 3],
    pub browser: BrowserView,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrowserView {
    pub ip: String,
    pub user_agent: String,
}

impl From<&Challenge> for ChallengeView {
    fn from(c: &Challenge) -> Self {
        ChallengeView {
            id: c.id.clone(),
            nonce: c.nonce.clone(),
            client_name: c.client_name.clone(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            numbers: c.choices,
            browser: BrowserView {
                ip: c.ip.clone(),
                user_agent: c.user_agent.clone(),
            },
        }
    }
}

use crate::ephemeral::keys::challenge as key;
use crate::ephemeral::keys::{account_challenge as account_key, phone_challenge as phone_pointer};
pub use crate::ephemeral::keys::{challenge_topic, device_topic};

/// An IPv4 address without its last byte, an IPv6 address reduced to its /48.
pub fn approximate_ip(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => String::new(),
    }
}

/// A uniformly random two-digit number, 10–99.
fn two_digits() -> Result<u8, DeviceError> {
    loop {
        let [b] = random_bytes::<1>()?;
        if b < 180 {
            return Ok(10 + b % 90);
        }
    }
}

/// The shown number and three distinct choices containing it, in random order.
fn numbers() -> Result<(u8, [u8; 3]), DeviceError> {
    let number = two_digits()?;
    let mut choices = vec![number];
    while choices.len() < 3 {
        let n = two_digits()?;
        if !choices.contains(&n) {
            choices.push(n);
        }
    }
    let [b] = random_bytes::<1>()?;
    choices.swap(0, usize::from(b % 3));
    Ok((number, [choices[0], choices[1], choices[2]]))
}

/// Why the phone page did not start a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefusal {
    InvalidPhone,
    Throttled { retry_after: u64 },
}

/// A new challenge's id; the caller picks it so that it can store it with
/// the challenge ([`StartRequest::also`]).
pub fn new_id() -> Result<String, DeviceError> {
    Ok(random_token()?)
}

/// What the browser's phone page starts with.
pub struct StartRequest<'a> {
    /// The challenge's id, from [`new_id`].
    pub challenge_id: &'a str,
    /// Written in the same step as the challenge (the authorization request,
    /// now pointing at it), only if the challenge starts.
    pub also: &'a [Write<'a>],
    pub request_id: &'a str,
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub phone: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// Counts one phone-page submission against the limits of `hits`, in turn
/// (one round trip): a refusal once one is passed.
async fn throttle(
    provider: &Provider,
    hits: &[(Limit, String)],
) -> Result<Option<StartRefusal>, DeviceError> {
    let Some((_, retry_after)) = Limit::hit_in_turn(&provider.core, hits).await? else {
        return Ok(None);
    };
    provider
        .core
        .metrics
        .login_outcome(Acr::Eidas2, LoginOutcome::Throttled);
    Ok(Some(StartRefusal::Throttled { retry_after }))
}

/// The phone page's limit `name`, at most `max` submissions per [`WINDOW`],
/// counted for `subject`.
fn phone_limit(name: &'static str, max: i64, subject: &str) -> (Limit, String) {
    let limit = Limit {
        name,
        max,
        window: WINDOW,
    };
    (limit, crate::ephemeral::keys::rate_limit(name, subject))
}

/// Starts an approval for the phone number typed in the browser. Whether the
/// number has an identity is never revealed: the browser waits either way.
pub async fn start(
    provider: &Provider,
    request: StartRequest<'_>,
) -> Result<Challenge, ServiceError<StartRefusal, DeviceError>> {
    let limits = &provider.core.config.login;
    // Per address first; per number only if the address is within its
    // limit and the number is one (an invalid one is not counted).
    let phone = FrenchMobile::parse(request.phone).ok();
    let phone_hash = phone.as_ref().map(|p| provider.lookup_hash(p.as_str()));
    let mut hits = vec![phone_limit("phone:ip", limits.phone_ip_limit, request.ip)];
    if let Some(hash) = &phone_hash {
        hits.push(phone_limit(
            "phone:number",
            limits.approvals_per_phone,
            hash,
        ));
    }
    if let Some(refusal) = throttle(provider, &hits).await? {
        return refuse(refusal);
    }
    let (Some(phone), Some(phone_hash)) = (phone, phone_hash) else {
        return refuse(StartRefusal::InvalidPhone);
    };
    let e164 = phone.as_str().to_owned();
    let approver = provider
        .core
        .db
        .read_short(move |conn| {
            let approver = accounts::approver_by_phone(conn, &e164)?;
            // Only without an approver (off the common path): is the
            // number's app locked? Then the browser is told at once.
            let locked = match approver {
                Some(_) => None,
                None => devices::lock_of_phone(conn, &e164)?,
            };
            Ok::<_, crate::store::StoreError>((approver, locked))
        })
        .await?;
    let (approver, locked) = approver;
    let today = chrono::Utc::now().date_naive();
    let document_expired = approver.as_ref().is_some_and(|a| {
        a.document_expires_on
            .as_deref()
            .is_some_and(|d| crate::domain::document::has_expired(d, today))
    });
    let (account_id, push) = match approver {
        Some(a) => (Some(a.account_id), a.push),
        None => (None, Vec::new()),
    };

    let (number, choices) = numbers()?;
    let now = now_unix();
    let ttl = provider.core.config.login.approval_ttl_secs;
    let challenge = Challenge {
        id: request.challenge_id.to_owned(),
        account_id,
        nonce: random_token()?,
        number,
        choices,
        client_id: request.client_id.to_owned(),
        client_name: request.client_name.to_owned(),
        request_id: request.request_id.to_owned(),
        created_at: now,
        created_ms: crate::push::now_ms(),
        expires_at: now + ttl as i64,
        ip: approximate_ip(request.ip),
        user_agent: request.user_agent.chars().take(200).collect(),
        document_expired,
        state: match locked {
            Some(reason) => State::Blocked { reason },
            None => State::Pending,
        },
    };
    let raw = serde_json::to_vec(&challenge)?;
    let challenge_key = key(&challenge.id);
    let life = Duration::from_secs(ttl);
    // One pending approval per phone number, and so per account: the new one
    // replaces the old one whether or not the number has an identity, so the
    // first browser learns nothing from being cancelled. The account's own
    // pointer (what its devices read) is replaced too, and its devices hear
    // of the new challenge.
    let number_pointer = phone_pointer(&phone_hash);
    let account = challenge
        .account_id
        .as_deref()
        .map(|a| (account_key(a), device_topic(a)));
    let mut writes = vec![
        Write::Set(&challenge_key, &raw, life + AFTER_EXPIRY),
        Write::Swap(&number_pointer, challenge.id.as_bytes(), life),
    ];
    if let Some((pointer, topic)) = &account {
        writes.push(Write::Swap(pointer, challenge.id.as_bytes(), life));
        writes.push(Write::Publish(topic, challenge.id.as_bytes()));
    }
    writes.extend_from_slice(request.also);
    let mut replies = provider.core.ephemeral.apply(&writes).await?;
    let swapped = if account.is_some() { 1..3 } else { 1..2 };
    let mut previous: Vec<String> = replies
        .get_mut(swapped)
        .into_iter()
        .flatten()
        .filter_map(Option::take)
        .filter_map(|p| String::from_utf8(p).ok())
        .collect();
    previous.dedup();
    for id in previous {
        cancel(&provider.core, &id).await?;
    }
    provider.core.metrics.login_started(Acr::Eidas2);
    // Wakes a closed app (Web Push), in the background: never awaited here.
    crate::push::PushService::login_requested(provider, &challenge, push);
    Ok(challenge)
}

/// The challenge and the exact bytes it was read from (for compare-and-set).
pub async fn load(
    provider: &Provider,
    id: &str,
) -> Result<Option<(Vec<u8>, Challenge)>, DeviceError> {
    load_in(&provider.core, id).await
}

async fn load_in(core: &Core, id: &str) -> Result<Option<(Vec<u8>, Challenge)>, DeviceError> {
    let Some(raw) = core.ephemeral.get(&key(id)).await? else {
        return Ok(None);
    };
    let challenge = serde_json::from_slice(&raw)?;
    Ok(Some((raw, challenge)))
}

/// Moves a challenge from the state it was read in (`raw`) to `state`, and
/// tells the browser. False if something else changed it first.
async fn transition(
    core: &Core,
    raw: &[u8],
    challenge: &mut Challenge,
    state: State,
) -> Result<bool, DeviceError> {
    let eph = &core.ephemeral;
    challenge.state = state;
    let next = serde_json::to_vec(&*challenge)?;
    // The value lives until shortly after the challenge's expiry, whatever
    // its state (computed, not read: one round trip less); a consumed one,
    // whose login went on, only as long as a poll in flight may read it.
    let left = u64::try_from(challenge.expires_at - now_unix()).unwrap_or(0);
    let ttl = match challenge.state {
        State::Consumed => CONSUMED_MEMORY,
        _ => Duration::from_secs(left) + AFTER_EXPIRY,
    };
    // The browser is told in the same step.
    Ok(eph
        .compare_and_set_publish(
            &key(&challenge.id),
            Expect::Value(raw),
            Replace::Value(&next, ttl),
            &challenge_topic(&challenge.id),
            b"changed",
        )
        .await?)
}

/// Cancels a challenge replaced by a newer one: a pending one at once, one
/// being decided as soon as its decision ends ([`conclude`]).
async fn cancel(core: &Core, id: &str) -> Result<(), DeviceError> {
    // Each failed compare-and-set means another step moved the challenge
    // (claimed, put back to pending, decided): read it again.
    for _ in 0..8 {
        let Some((raw, mut challenge)) = load_in(core, id).await? else {
            return Ok(());
        };
        let next = match challenge.state {
            State::Pending => State::Cancelled,
            State::Deciding => State::Superseding,
            _ => return Ok(()),
        };
        if transition(core, &raw, &mut challenge, next).await? {
            return Ok(());
        }
    }
    Err(DeviceError::Internal(
        "a superseded challenge kept changing; could not cancel it".into(),
    ))
}

/// Cancels the account's current approval, pending or being decided (the
/// identity is blocked): its browser sees a cancelled login, and a decision
/// under way ends cancelled. On the embedded backend only the process that
/// holds the ephemeral store can reach it; the account's state refuses the
/// approval anyway.
pub async fn cancel_of_account(core: &Core, account_id: &str) -> Result<(), DeviceError> {
    let Some(id) = core.ephemeral.get(&account_key(account_id)).await? else {
        return Ok(());
    };
    cancel(core, &String::from_utf8_lossy(&id)).await
}

/// Ends the decision of a challenge claimed as `claimed` in `state`. False
/// if a newer login superseded it meanwhile: it is then `Cancelled` instead,
/// and the decision must be refused.
async fn conclude(
    provider: &Provider,
    claimed: &[u8],
    challenge: &mut Challenge,
    state: State,
) -> Result<bool, DeviceError> {
    if transition(&provider.core, claimed, challenge, state).await? {
        return Ok(true);
    }
    // Only `cancel` changes a claimed challenge besides its decider.
    let Some((raw, mut current)) = load(provider, &challenge.id).await? else {
        return Ok(false);
    };
    if current.state == State::Superseding {
        transition(&provider.core, &raw, &mut current, State::Cancelled).await?;
    }
    *challenge = current;
    Ok(false)
}

/// The account's pending challenge, if any.
pub async fn pending_for(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<Challenge>, DeviceError> {
    let Some(id) = provider
        .core
        .ephemeral
        .get(&account_key(account_id))
        .await?
    else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    Ok(load(provider, &id)
        .await?
        .map(|(_, c)| c)
        .filter(|c| c.state == State::Pending && !c.expired()))
}

/// The id of the account's current challenge (whatever its state).
pub async fn current_id(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<String>, DeviceError> {
    Ok(provider
        .core
        .ephemeral
        .get(&account_key(account_id))
        .await?
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}

/// Starts listening for new challenges of the account (subscribe before
/// reading, so nothing published in between is missed).
/// Wakes the browser waiting on challenge `id` when it changes.
pub fn subscribe_challenge(provider: &Provider, id: &str) -> Subscription {
    provider.core.ephemeral.subscribe(&challenge_topic(id))
}

pub fn subscribe_device(provider: &Provider, account_id: &str) -> Subscription {
    provider.core.ephemeral.subscribe(&device_topic(account_id))
}

/// Long-poll: the pending challenge as soon as there is one, or `None` after `wait`.
pub async fn wait_for(
    provider: &Provider,
    account_id: &str,
    wait: Duration,
) -> Result<Option<Challenge>, DeviceError> {
    let mut wake = subscribe_device(provider, account_id);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(challenge) = pending_for(provider, account_id).await? {
            return Ok(Some(challenge));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let nap = (deadline - now).min(RECHECK);
        let _ = tokio::time::timeout(nap, wake.recv()).await;
    }
}

/// What the device decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    Approved,
    Denied,
    FraudReported,
}

enum Action {
    Approve { pin: String, number: i64 },
    Deny,
    Fraud,
}

fn parse_action(claims: &Map<String, Value>) -> Result<Action, DeviceError> {
    match claims.get("action").and_then(Value::as_str) {
        Some("approve") => Ok(Action::Approve {
            pin: claims
                .get("pin")
                .and_then(Value::as_str)
                .ok_or(DeviceError::InvalidPin)?
                .to_owned(),
            number: claims
                .get("number")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    DeviceError::InvalidRequest(
                        "number (the one chosen) is required to approve".into(),
                    )
                })?,
        }),
        Some("deny") => Ok(Action::Deny),
        Some("fraud") => Ok(Action::Fraud),
        _ => Err(DeviceError::InvalidRequest(
            "action must be approve, deny or fraud".into(),
        )),
    }
}

/// The error for a challenge that is no longer pending.
fn not_pending(challenge: &Challenge) -> DeviceError {
    match challenge.state {
        State::Pending if challenge.expired() => DeviceError::ChallengeExpired,
        State::Expired => DeviceError::ChallengeExpired,
        _ => DeviceError::ChallengeDecided,
    }
}

/// Applies a decision signed by `device` (its claims already verified for
/// signature, freshness and replay) to the challenge `challenge_id`.
pub async fn decide(
    provider: &Provider,
    device: &DeviceRow,
    challenge_id: &str,
    claims: &Map<String, Value>,
) -> Result<Decided, DeviceError> {
    if claims.get("challenge_id").and_then(Value::as_str) != Some(challenge_id) {
        return Err(DeviceError::InvalidRequest(
            "challenge_id in the signed decision does not match the URL".into(),
        ));
    }
    let action = parse_action(claims)?;
    let Some((raw, mut challenge)) = load(provider, challenge_id).await? else {
        return Err(DeviceError::UnknownChallenge);
    };
    if challenge.account_id.as_deref() != Some(device.account_id.as_str()) {
        return Err(DeviceError::ForeignChallenge);
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !constant_time_eq(nonce.as_bytes(), challenge.nonce.as_bytes()) {
        return Err(DeviceError::NonceMismatch);
    }
    // A malformed PIN changes nothing and counts nothing.
    let approval = match &action {
        Action::Approve { pin, number } => Some((
            Pin::parse(pin).map_err(|_| DeviceError::InvalidPin)?,
            *number,
        )),
        _ => None,
    };
    if challenge.state != State::Pending || challenge.expired() {
        let refusal = not_pending(&challenge);
        if matches!(refusal, DeviceError::ChallengeExpired) {
            ended(provider, LoginOutcome::Expired);
            settle_expiry(&provider.core, &raw, &challenge).await?;
        }
        return Err(refusal);
    }
    // Claim the challenge: from here on no other decision can start.
    if !transition(&provider.core, &raw, &mut challenge, State::Deciding).await? {
        return Err(match load(provider, challenge_id).await? {
            Some((_, current)) => not_pending(&current),
            None => DeviceError::ChallengeExpired,
        });
    }
    let claimed = serde_json::to_vec(&challenge)?;
    let account_id = device.account_id.clone();

    let Some((pin, number)) = approval else {
        let (state, decided, action, result) = match action {
            Action::Fraud => (
                State::FraudReported,
                Decided::FraudReported,
                FRAUD_REPORTED,
                LoginResult::FraudReported,
            ),
            _ => (
                State::Denied,
                Decided::Denied,
                "login.denied",
                LoginResult::Refused,
            ),
        };
        let login = challenge.history(result, Acr::Eidas2)?;
        let fraud = decided == Decided::FraudReported;
        let mut details = serde_json::json!({ "device": device.id, "client": challenge.client_id });
        if fraud {
            // What support lists of a report (the approximate address only).
            details["partner"] = challenge.client_name.clone().into();
            details["place"] = challenge.ip.clone().into();
        }
        let account = account_id.clone();
        let paused = provider
            .core
            .db
            .write(move |conn| {
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: &format!("account:{account}"),
                        action,
                        subject: &account,
                        details,
                    },
                )?;
                if let Some(login) = &login {
                    login_history::insert(conn, login)?;
                }
                if fraud {
                    pause_after_reports(conn, &account)
                } else {
                    Ok(false)
                }
            })
            .await?;
        // A report or a refusal stands even if a newer login superseded
        // the challenge meanwhile (it then ends cancelled).
        conclude(provider, &claimed, &mut challenge, state).await?;
        ended(
            provider,
            match decided {
                Decided::FraudReported => LoginOutcome::Fraud,
                _ => LoginOutcome::Denied,
            },
        );
        if decided == Decided::FraudReported {
            crate::push::PushService::alert(
                &provider.core.push,
                &device.account_id,
                crate::push::Alert::FraudReported,
            );
            notify_fraud(provider, &device.account_id, &challenge, paused).await;
        }
        return Ok(decided);
    };

    let right_number = i64::from(challenge.number) == number;
    // A wrong number is counted on its own: the PIN is not evaluated.
    let verifier = super::pin_verifier(&provider.core.subkeys.pin_pepper, &device.id, &pin);
    let right_pin =
        right_number && constant_time_eq(verifier.as_bytes(), device.pin_verifier.as_bytes());
    let (device_id, client_id) = (device.id.clone(), challenge.client_id.clone());
    let login = challenge.history(LoginResult::Approved, Acr::Eidas2)?;
    let outcome = provider
        .core
        .db
        .write(move |conn| {
            pin_outcome(
                conn,
                &account_id,
                &device_id,
                &client_id,
                Attempt {
                    right_number,
                    right_pin,
                },
                login,
            )
        })
        .await?;
    match outcome {
        PinOutcome::Approved { acr } => {
            let state = State::Approved {
                device_id: device.id.clone(),
                acr,
                auth_time: now_unix(),
            };
            if !conclude(provider, &claimed, &mut challenge, state).await? {
                // A newer login for the account replaced this one while the
                // PIN was checked: only the newest may be approved.
                return Err(DeviceError::ChallengeDecided);
            }
            ended(provider, LoginOutcome::Approved);
            Ok(Decided::Approved)
        }
        PinOutcome::WrongPin { attempts_left } => {
            // Back to pending: the person may type the PIN again (unless a
            // newer login superseded it meanwhile).
            conclude(provider, &claimed, &mut challenge, State::Pending).await?;
            ended(provider, LoginOutcome::WrongPin);
            Err(DeviceError::WrongPin { attempts_left })
        }
        PinOutcome::WrongNumber { attempts_left } => {
            conclude(provider, &claimed, &mut challenge, State::WrongNumber).await?;
            ended(provider, LoginOutcome::WrongPin);
            Err(DeviceError::WrongNumber { attempts_left })
        }
        PinOutcome::Locked { newly, reason } => {
            conclude(provider, &claimed, &mut challenge, State::Locked { reason }).await?;
            ended(provider, LoginOutcome::Locked);
            if newly {
                let alert = match reason {
                    LockReason::WrongPins => crate::push::Alert::DeviceLocked,
                    LockReason::WrongNumbers => crate::push::Alert::DeviceLockedNumbers,
                };
                crate::push::PushService::alert(&provider.core.push, &device.account_id, alert);
                notify_lock(provider, &device.account_id, reason).await;
            }
            Err(DeviceError::DeviceLocked { reason })
        }
        PinOutcome::AccountInactive => {
            conclude(provider, &claimed, &mut challenge, State::Cancelled).await?;
            Err(DeviceError::NotActivatable)
        }
    }
}

/// Counts how an eidas2 login (a phone approval) ended.
fn ended(provider: &Provider, outcome: LoginOutcome) {
    provider.core.metrics.login_outcome(Acr::Eidas2, outcome);
}

enum PinOutcome {
    Approved {
        acr: Acr,
    },
    WrongPin {
        attempts_left: i32,
    },
    WrongNumber {
        attempts_left: i32,
    },
    /// `newly`: this attempt locked the device.
    Locked {
        newly: bool,
        reason: LockReason,
    },
    AccountInactive,
}

/// What an approval attempt got right (`right_pin` implies `right_number`:
/// after a wrong number the PIN is not evaluated).
#[derive(Clone, Copy)]
struct Attempt {
    right_number: bool,
    right_pin: bool,
}

/// One transaction: count or reset the failures (wrong PINs and wrong
/// numbers apart, each locking on its third in a row, device and account),
/// and write the audit entry (and, for an approval, its history row
/// `login`, with the acr achieved).
fn pin_outcome(
    conn: &mut crate::store::DbConnection,
    account_id: &str,
    device_id: &str,
    client_id: &str,
    attempt: Attempt,
    login: Option<NewLogin>,
) -> Result<PinOutcome, crate::store::StoreError> {
    let actor = format!("account:{account_id}");
    if attempt.right_pin {
        let Some(person) = accounts::with_identity(conn, account_id)?.map(Person::from) else {
            return Ok(PinOutcome::AccountInactive);
        };
        if person.account.state != AccountState::Active {
            return Ok(PinOutcome::AccountInactive);
        }
        if !devices::pin_success(conn, device_id)? {
            return already_locked(conn, device_id);
        }
        let acr = acr::achieved(person.proofing(), Authentication::DevicePin);
        audit::append(
            conn,
            &AuditEvent {
                actor: &actor,
                action: "login.device",
                subject: account_id,
                details: serde_json::json!({ "device": device_id, "client": client_id, "acr": acr }),
            },
        )?;
        if let Some(mut login) = login {
            login.acr = acr.as_str().to_owned();
            login_history::insert(conn, &login)?;
        }
        return Ok(PinOutcome::Approved { acr });
    }
    // Counted first; a device already locked evaluates nothing.
    let (counted, limit, reason) = if attempt.right_number {
        let counted = devices::count_pin_failure(conn, device_id)?;
        (counted, MAX_PIN_FAILURES, LockReason::WrongPins)
    } else {
        let counted = devices::count_number_failure(conn, device_id)?;
        (counted, MAX_NUMBER_FAILURES, LockReason::WrongNumbers)
    };
    let Some(failures) = counted else {
        return already_locked(conn, device_id);
    };
    let attempts_left = limit - failures;
    if attempts_left > 0 {
        let wrong_number = reason == LockReason::WrongNumbers;
        audit::append(
            conn,
            &AuditEvent {
                actor: &actor,
                action: if wrong_number {
                    "login.wrong_number"
                } else {
                    "login.pin_failure"
                },
                subject: account_id,
                details: serde_json::json!({
                    "device": device_id,
                    "client": client_id,
                    "attempts_left": attempts_left,
                }),
            },
        )?;
        return Ok(if wrong_number {
            PinOutcome::WrongNumber { attempts_left }
        } else {
            PinOutcome::WrongPin { attempts_left }
        });
    }
    devices::lock(conn, device_id)?;
    let entry = Entry {
        actor: actor.clone(),
        action: "device.locked",
        details: serde_json::json!({
            "device": device_id,
            "client": client_id,
            "failures": failures,
            "reason": reason.as_str(),
        }),
    };
    // The account moves to device_locked if it is active; the device's lock
    // is recorded either way (one entry).
    let moved = accounts::transition(
        conn,
        account_id,
        Change::Event(AccountEvent::LockDevice),
        |_, _| Ok(entry.clone()),
    )?;
    if moved.is_err() {
        entry.append(conn, account_id)?;
    }
    Ok(PinOutcome::Locked {
        newly: true,
        reason,
    })
}

/// The outcome for a device locked (or revoked) before this attempt.
fn already_locked(
    conn: &mut crate::store::DbConnection,
    device_id: &str,
) -> Result<PinOutcome, crate::store::StoreError> {
    let reason =
        devices::by_id(conn, device_id)?.map_or(LockReason::WrongPins, |d| d.lock_reason());
    Ok(PinOutcome::Locked {
        newly: false,
        reason,
    })
}

/// Fraud reports in [`REPORTS_WINDOW_SECS`] that pause the account's approvals.
pub const REPORTS_BEFORE_PAUSE: i64 = 3;
pub const REPORTS_WINDOW_SECS: i64 = 86_400;
/// The audit action of a fraud report (counted for the pause).
pub const FRAUD_REPORTED: &str = "login.fraud_reported";

/// In the transaction of a fraud report, after its audit entry (whose
/// head lock orders concurrent reports, so the count is exact): the third
/// report in 24 hours moves an active account to `approvals_paused`, which
/// refuses approvals until the citizen resumes them from `/compte`. True if
/// this report paused it.
fn pause_after_reports(
    conn: &mut crate::store::DbConnection,
    account_id: &str,
) -> Result<bool, crate::store::StoreError> {
    let since = now_unix() - REPORTS_WINDOW_SECS;
    let reports = audit::count_for_subject_since(conn, account_id, FRAUD_REPORTED, since)?;
    if reports < REPORTS_BEFORE_PAUSE {
        return Ok(false);
    }
    let moved = accounts::transition(
        conn,
        account_id,
        Change::Event(AccountEvent::PauseApprovals),
        |_, _| {
            Ok(Entry {
                actor: format!("account:{account_id}"),
                action: "account.approvals_paused",
                details: serde_json::json!({ "reports": reports, "window_secs": REPORTS_WINDOW_SECS }),
            })
        },
    )?;
    Ok(moved.is_ok())
}

/// Tells the citizen what they reported (partner, time, approximate place),
/// with the link to their space where they can block the identity (best
/// effort: the report stands anyway).
async fn notify_fraud(provider: &Provider, account_id: &str, challenge: &Challenge, paused: bool) {
    let id = account_id.to_owned();
    let Ok(Some(account)) = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await
    else {
        return;
    };
    let attempt = crate::notify::citizen::Attempt {
        partner: &challenge.client_name,
        at: challenge.created_at,
        place: &challenge.ip,
    };
    let url = format!("{}/compte", provider.core.config.issuer());
    let messages = crate::notify::citizen::fraud_reported(
        &account.email,
        account.phone.as_deref(),
        &attempt,
        &url,
        paused,
    );
    crate::notify::citizen::send(&provider.core.notifier, "fraud report", messages).await;
}

/// Tells the citizen their app is locked (best effort: the lock stands anyway).
async fn notify_lock(provider: &Provider, account_id: &str, reason: LockReason) {
    let id = account_id.to_owned();
    let account = match provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await
    {
        Ok(Some(account)) => account,
        _ => return,
    };
    let message = EmailMessage {
        to: account.email,
        subject: "Votre application Sésame est bloquée".to_owned(),
        text: lock_notice(reason),
        html: None,
    };
    if let Err(e) = provider.core.notifier.send_email(&message).await {
        tracing::warn!(error = %e, "could not send the device-lock email");
    }
}

/// The lock email's text, naming the three errors that locked the app.
pub fn lock_notice(reason: LockReason) -> String {
    let what = match reason {
        LockReason::WrongPins => "Trois codes secrets erronés ont été saisis à la suite",
        LockReason::WrongNumbers => {
            "Trois fois de suite, le nombre choisi n'était pas celui affiché par le site"
        }
    };
    format!(
        "Bonjour,\n\n{what} sur votre application Sésame : elle est bloquée et ne peut \
         plus approuver de connexion.\n\n\
         Si c'était vous, ouvrez l'application, demandez un nouveau code d'activation \
         (avec votre adresse électronique et votre mot de passe) : il vous sera envoyé \
         par SMS. Si ce n'était pas vous, changez votre mot de passe et contactez le \
         support.\n"
    )
}

/// What the browser's waiting page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserStatus {
    Pending,
    Approved,
    Denied,
    WrongNumber,
    /// The device got locked by this login's decision.
    Locked(LockReason),
    /// The account's app was already locked: nobody can approve.
    Blocked(LockReason),
    Cancelled,
    Expired,
    /// Approved, but the identity document has expired since it was
    /// verified: no eidas2 login until a new document is verified.
    DocumentExpired,
}

impl BrowserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserStatus::Pending => "pending",
            BrowserStatus::Approved => "approved",
            BrowserStatus::Denied => "denied",
            BrowserStatus::WrongNumber => "wrong_number",
            BrowserStatus::Locked(LockReason::WrongPins) => "locked",
            BrowserStatus::Locked(LockReason::WrongNumbers) => "locked_wrong_numbers",
            BrowserStatus::Blocked(LockReason::WrongPins) => "blocked",
            BrowserStatus::Blocked(LockReason::WrongNumbers) => "blocked_wrong_numbers",
            BrowserStatus::Cancelled => "cancelled",
            BrowserStatus::Expired => "expired",
            BrowserStatus::DocumentExpired => "document_expired",
        }
    }

    pub fn is_final(self) -> bool {
        self != BrowserStatus::Pending
    }
}

/// The status of the challenge as the browser of `request_id` sees it.
pub fn browser_status(challenge: &Challenge) -> BrowserStatus {
    match &challenge.state {
        State::Pending if challenge.expired() => BrowserStatus::Expired,
        // A decision claimed before the expiry is still being made: wait for
        // it, so the browser and the device never disagree; only a device
        // that vanished mid-decision leaves it so for long.
        State::Deciding if now_unix() >= challenge.expires_at + DECIDING_GRACE_SECS => {
            BrowserStatus::Expired
        }
        State::Pending | State::Deciding => BrowserStatus::Pending,
        // Replaced by a newer login: the decision under way cannot succeed.
        State::Superseding => BrowserStatus::Cancelled,
        State::Approved { .. } if challenge.document_expired => BrowserStatus::DocumentExpired,
        State::Approved { .. } => BrowserStatus::Approved,
        State::Consumed => BrowserStatus::Expired,
        State::Denied => BrowserStatus::Denied,
        // The waiting browser may be the intruder's: it learns only that
        // the login was refused, exactly as after a plain refusal (#16).
        State::FraudReported => BrowserStatus::Denied,
        State::WrongNumber => BrowserStatus::WrongNumber,
        State::Locked { reason } => BrowserStatus::Locked(*reason),
        State::Blocked { reason } => BrowserStatus::Blocked(*reason),
        State::Cancelled => BrowserStatus::Cancelled,
        State::Expired => BrowserStatus::Expired,
    }
}

/// The challenge of `request_id`, if it is still readable.
pub async fn for_request(
    provider: &Provider,
    challenge_id: &str,
    request_id: &str,
) -> Result<Option<(Vec<u8>, Challenge)>, DeviceError> {
    Ok(load(provider, challenge_id)
        .await?
        .filter(|(_, c)| c.request_id == request_id))
}

/// Takes an approval for the browser (once): the authentication to attach to
/// the request and the new session.
pub async fn complete(
    provider: &Provider,
    raw: &[u8],
    mut challenge: Challenge,
) -> Result<Option<Authenticated>, DeviceError> {
    let State::Approved { acr, auth_time, .. } = challenge.state.clone() else {
        return Ok(None);
    };
    let Some(account_id) = challenge.account_id.clone() else {
        return Ok(None);
    };
    if !transition(&provider.core, raw, &mut challenge, State::Consumed).await? {
        return Ok(None);
    }
    Ok(Some(Authenticated {
        account_id,
        sid: random_token()?,
        auth_time,
        authentication: Authentication::DevicePin,
        acr,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_two_digits_distinct_and_contain_the_shown_one() {
        for _ in 0..500 {
            let (n, choices) = numbers().unwrap();
            assert!((10..=99).contains(&n));
            assert!(choices.contains(&n));
            assert!(choices.iter().all(|c| (10..=99).contains(c)));
            assert!(
                choices[0] != choices[1] && choices[1] != choices[2] && choices[0] != choices[2]
            );
        }
    }

    fn challenge(state: State, expires_in: i64) -> Challenge {
        Challenge {
            id: "c".into(),
            account_id: Some("a".into()),
            nonce: "n".into(),
            number: 42,
            choices: [42, 17, 88],
            client_id: "rp".into(),
            client_name: "RP".into(),
            request_id: "tx".into(),
            created_at: now_unix(),
            created_ms: 0,
            expires_at: now_unix() + expires_in,
            ip: String::new(),
            user_agent: String::new(),
            document_expired: false,
            state,
        }
    }

    #[test]
    fn an_approval_over_an_expired_document_does_not_log_in() {
        let approved = State::Approved {
            device_id: "d".into(),
            acr: Acr::Eidas2,
            auth_time: now_unix(),
        };
        let mut expired = challenge(approved.clone(), 60);
        assert_eq!(browser_status(&expired), BrowserStatus::Approved);
        expired.document_expired = true;
        assert_eq!(browser_status(&expired), BrowserStatus::DocumentExpired);
        expired.state = State::Denied;
        assert_eq!(browser_status(&expired), BrowserStatus::Denied);
    }

    #[test]
    fn the_browser_waits_for_a_decision_claimed_before_the_expiry() {
        use BrowserStatus as B;
        assert_eq!(browser_status(&challenge(State::Pending, 60)), B::Pending);
        assert_eq!(browser_status(&challenge(State::Pending, -1)), B::Expired);
        assert_eq!(browser_status(&challenge(State::Deciding, -3)), B::Pending);
        assert_eq!(browser_status(&challenge(State::Deciding, -30)), B::Expired);
        assert_eq!(browser_status(&challenge(State::Consumed, 60)), B::Expired);
        assert_eq!(
            browser_status(&challenge(State::WrongNumber, 60)),
            B::WrongNumber
        );
        assert_eq!(
            browser_status(&challenge(State::FraudReported, 60)),
            B::Denied
        );
        assert_eq!(browser_status(&challenge(State::Expired, -1)), B::Expired);
    }

    #[test]
    fn approximate_addresses() {
        assert_eq!(approximate_ip("203.0.113.77"), "203.0.113.x");
        assert_eq!(approximate_ip("2001:db8:abcd:12::1"), "2001:db8:abcd::/48");
        assert_eq!(approximate_ip("not an ip"), "");
    }
}
