//! Prometheus metrics: what the IdP does (logins, enrolment, verification,
//! messages, refusals) and how its backing services fare (database pool,
//! ephemeral store, open streams).
//!
//! Every label value comes from a closed set named in this file or from a
//! `&'static str` of the code (a limit's name, a device-API error code):
//! never an id, an address, a number or a raw path (invariant 13). The
//! counters of the closed sets are created once, at start-up, and kept in
//! arrays: counting is one atomic increment, without the family's lock. The
//! handle travels in [`crate::app::Core`]; components built before it (the
//! database pool, the ephemeral store, the notifier) own their atomics and
//! the registry holds clones of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::acr::Acr;
use crate::ephemeral::Ephemeral;
use crate::store::Db;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AcrLabels {
    acr: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    acr: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    channel: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushOutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// How a login attempt ended (before any code is issued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Approved,
    Denied,
    Fraud,
    Expired,
    /// A wrong PIN or a wrong number on the phone.
    WrongPin,
    /// A wrong email or password (eidas1 login).
    WrongPassword,
    Locked,
    Throttled,
    Suspended,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 9] = [
        LoginOutcome::Approved,
        LoginOutcome::Denied,
        LoginOutcome::Fraud,
        LoginOutcome::Expired,
        LoginOutcome::WrongPin,
        LoginOutcome::WrongPassword,
        LoginOutcome::Locked,
        LoginOutcome::Throttled,
        LoginOutcome::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Approved => "approved",
            LoginOutcome::Denied => "denied",
            LoginOutcome::Fraud => "fraud",
            LoginOutcome::Expired => "expired",
            LoginOutcome::WrongPin => "wrong_pin",
            LoginOutcome::WrongPassword => "wrong_password",
            LoginOutcome::Locked => "locked",
            LoginOutcome::Throttled => "throttled",
            LoginOutcome::Suspended => "suspended",
        }
    }
}

/// A step of the enrolment funnel, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolStep {
    EmailSubmitted,
    EmailVerified,
    AccountCreated,
    PhoneVerified,
    IdentitySubmitted,
    FaceToFaceRequested,
    RemoteRequested,
}

impl EnrolStep {
    pub const ALL: [EnrolStep; 7] = [
        EnrolStep::EmailSubmitted,
        EnrolStep::EmailVerified,
        EnrolStep::AccountCreated,
        EnrolStep::PhoneVerified,
        EnrolStep::IdentitySubmitted,
        EnrolStep::FaceToFaceRequested,
        EnrolStep::RemoteRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrolStep::EmailSubmitted => "email_submitted",
            EnrolStep::EmailVerified => "email_verified",
            EnrolStep::AccountCreated => "account_created",
            EnrolStep::PhoneVerified => "phone_verified",
            EnrolStep::IdentitySubmitted => "identity_submitted",
            EnrolStep::FaceToFaceRequested => "verification_requested_face_to_face",
            EnrolStep::RemoteRequested => "verification_requested_remote",
        }
    }
}

/// A message channel of the notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Messages handed to one channel, and how many it failed to deliver.
#[derive(Clone, Debug, Default)]
pub struct DeliveryCounters {
    pub sent: Counter,
    pub failed: Counter,
}

/// The notifier's counters, one pair per [`Channel`].
#[derive(Clone, Debug, Default)]
pub struct NotifyCounters {
    channels: [DeliveryCounters; 2],
}

impl NotifyCounters {
    pub fn count(&self, channel: Channel, delivered: bool) {
        let counters = &self.channels[channel as usize];
        if delivered {
            counters.sent.inc();
        } else {
            counters.failed.inc();
        }
    }
}

/// Upper bounds of [`LatencyHistogram`], in microseconds: 100 µs … ~1.6 s.
const LATENCY_BOUNDS_MICROS: [u64; 15] = {
    let mut bounds = [0; 15];
    let mut i = 0;
    while i < 15 {
        bounds[i] = 100 << i;
        i += 1;
    }
    bounds
};

/// A latency histogram of atomics only (prometheus-client's `Histogram`
/// takes a lock per observation; this one is on every Redis call).
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    inner: Arc<LatencyInner>,
}

#[derive(Debug, Default)]
struct LatencyInner {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BOUNDS_MICROS
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(LATENCY_BOUNDS_MICROS.len());
        let inner = &self.inner;
        inner.buckets[slot].fetch_add(1, Ordering::Relaxed);
        inner.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let bound = LATENCY_BOUNDS_MICROS
                    .get(i)
                    .map_or(f64::MAX, |b| *b as f64 / 1e6);
                (bound, n.load(Ordering::Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The ephemeral store's command latency and failures (Redis only: the
/// in-memory store has neither).
#[derive(Clone, Debug, Default)]
pub struct StoreTimings {
    pub latency: LatencyHistogram,
    pub errors: Counter,
}

impl StoreTimings {
    pub fn observe(&self, elapsed: Duration, ok: bool) {
        self.latency.observe(elapsed);
        if !ok {
            self.errors.inc();
        }
    }
}

/// A long-lived response (server-sent events or a long poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The browser's phone page waiting for the approval (`/phone/events`).
    PhoneEvents,
    /// The app's event stream of new challenges.
    ChallengeEvents,
    /// The app's long poll of its pending challenges (`?wait=`).
    ChallengeWait,
}

impl Stream {
    const ALL: [Stream; 3] = [
        Stream::PhoneEvents,
        Stream::ChallengeEvents,
        Stream::ChallengeWait,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Stream::PhoneEvents => "phone_events",
            Stream::ChallengeEvents => "challenge_events",
            Stream::ChallengeWait => "challenge_wait",
        }
    }
}

/// Counts one open stream until dropped.
#[derive(Debug)]
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A kind of Web Push message (`push/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    Login,
    LoginEnded,
    Alert,
}

impl PushKind {
    pub const ALL: [PushKind; 3] = [PushKind::Login, PushKind::LoginEnded, PushKind::Alert];

    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Login => "login",
            PushKind::LoginEnded => "login_ended",
            PushKind::Alert => "alert",
        }
    }
}

/// Why a Web Push message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFailure {
    /// 404/410: the subscription is gone (and deleted).
    Gone,
    /// Another 4xx from the push service.
    Rejected,
    /// 429 until the attempts or the TTL ran out.
    Throttled,
    /// 5xx until the attempts or the TTL ran out.
    Unavailable,
    Timeout,
    /// Connection refused, DNS, TLS.
    Network,
    /// The message's TTL passed before it could be sent.
    Expired,
    /// `push.max_in_flight` deliveries were already running.
    Overloaded,
    /// The endpoint is no longer on `push.allowed_origins`.
    NotAllowed,
    /// The subscription's VAPID key is not loaded.
    NoKey,
    Encryption,
}

impl PushFailure {
    pub const ALL: [PushFailure; 11] = [
        PushFailure::Gone,
        PushFailure::Rejected,
        PushFailure::Throttled,
        PushFailure::Unavailable,
        PushFailure::Timeout,
        PushFailure::Network,
        PushFailure::Expired,
        PushFailure::Overloaded,
        PushFailure::NotAllowed,
        PushFailure::NoKey,
        PushFailure::Encryption,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PushFailure::Gone => "gone",
            PushFailure::Rejected => "rejected",
            PushFailure::Throttled => "throttled",
            PushFailure::Unavailable => "unavailable",
            PushFailure::Timeout => "timeout",
            PushFailure::Network => "network",
            PushFailure::Expired => "expired",
            PushFailure::Overloaded => "overloaded",
            PushFailure::NotAllowed => "not_allowed",
            PushFailure::NoKey => "no_key",
            PushFailure::Encryption => "encryption",
        }
    }
}

/// The limits a refusal can name (so that their series exist at zero).
pub const LIMITS: [&str; 10] = [
    "authz:ip",
    "enrol:ip",
    "otp:cooldown",
    "otp:hourly",
    "otp:enrolment",
    "phone:ip",
    "phone:number",
    "password:ip",
    "password:account",
    "activation:code_requests",
];

const ACRS: usize = Acr::ALL.len();

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    logins_started: [Counter; ACRS],
    login_outcomes: [[Counter; LoginOutcome::ALL.len()]; ACRS],
    logins_completed: [Counter; ACRS],
    enrolment: [Counter; EnrolStep::ALL.len()],
    /// Indexed by face_to_face / remote, then verified / rejected.
    verification: [[Counter; 2]; 2],
    rate_limited: Family<LimitLabels, Counter>,
    device_errors: Family<CodeLabels, Counter>,
    streams: [Gauge; Stream::ALL.len()],
    messages_sent: [Counter; 2],
    messages_failed: [Counter; 2],
    db: Option<Db>,
    pool: Family<StateLabels, Gauge>,
    pushes_sent: [Counter; PushKind::ALL.len()],
    pushes_failed: [Counter; PushFailure::ALL.len()],
    push_subscriptions: Gauge,
    challenge_fetch: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn by<const N: usize, L, F>(family: &Family<L, Counter>, labels: F) -> [Counter; N]
where
    L: Clone + std::hash::Hash + Eq,
    F: Fn(usize) -> L,
{
    std::array::from_fn(|i| family.get_or_create_owned(&labels(i)))
}

impl Metrics {
    /// Request metrics and the IdP's own counters, without the backing
    /// services' (see [`Metrics::register_backends`]).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("idp");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by route pattern and status",
            requests.clone(),
        );
        let duration: HistogramFamily = Family::new_with_constructor(|| {
            // 250 µs … ~4 s
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, by route pattern",
            duration.clone(),
        );

        let acr = |i: usize| Acr::ALL[i].as_str();
        let started = Family::<AcrLabels, Counter>::default();
        registry.register(
            "logins_started",
            "Login attempts started (eidas2: an approval sent to the phone; eidas1: a password checked)",
            started.clone(),
        );
        let logins_started = by(&started, |i| AcrLabels { acr: acr(i) });
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "login_outcomes",
            "How login attempts ended, by the login's level and outcome",
            outcomes.clone(),
        );
        let login_outcomes = std::array::from_fn(|a| {
            by(&outcomes, |o| OutcomeLabels {
                acr: acr(a),
                outcome: LoginOutcome::ALL[o].as_str(),
            })
        });
        let completed = Family::<AcrLabels, Counter>::default();
        registry.register(
            "logins_completed",
            "Authorization codes issued, by the level achieved",
            completed.clone(),
        );
        let logins_completed = by(&completed, |i| AcrLabels { acr: acr(i) });

        let steps = Family::<StepLabels, Counter>::default();
        registry.register(
            "enrolment_steps",
            "Enrolment funnel: steps completed",
            steps.clone(),
        );
        let enrolment = by(&steps, |i| StepLabels {
            step: EnrolStep::ALL[i].as_str(),
        });

        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "verification_decisions",
            "Identity verification decisions, by channel and decision",
            decisions.clone(),
        );
        let verification = std::array::from_fn(|c| {
            by(&decisions, |d| DecisionLabels {
                channel: ["face_to_face", "remote"][c],
                decision: ["verified", "rejected"][d],
            })
        });

        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by limit name",
            rate_limited.clone(),
        );
        for limit in LIMITS {
            rate_limited.get_or_create_owned(&LimitLabels { limit });
        }
        let device_errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "device_api_errors",
            "Device API error responses, by error code",
            device_errors.clone(),
        );

        let open = Family::<StreamLabels, Gauge>::default();
        registry.register(
            "streams_open",
            "Open event streams and long polls",
            open.clone(),
        );
        let streams = std::array::from_fn(|i| {
            open.get_or_create_owned(&StreamLabels {
                stream: Stream::ALL[i].as_str(),
            })
        });
        let channel = |i: usize| ChannelLabels {
            channel: Channel::ALL[i].as_str(),
        };
        let sent = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "messages_sent",
            "Messages (codes and notices) handed to a channel and accepted",
            sent.clone(),
        );
        let messages_sent = by(&sent, channel);
        let failed = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "message_delivery_failures",
            "Messages a channel failed to deliver",
            failed.clone(),
        );
        let messages_failed = by(&failed, channel);

        // Label names of the existing sets: `code` is the message's `type`,
        // `outcome` why it was not delivered.
        let sent = Family::<CodeLabels, Counter>::default();
        registry.register(
            "pushes_sent",
            "Web Push messages accepted by a push service, by message type (code)",
            sent.clone(),
        );
        let pushes_sent = by(&sent, |i| CodeLabels {
            code: PushKind::ALL[i].as_str(),
        });
        let failed = Family::<PushOutcomeLabels, Counter>::default();
        registry.register(
            "push_failures",
            "Web Push messages not delivered, by reason (outcome)",
            failed.clone(),
        );
        let pushes_failed = by(&failed, |i| PushOutcomeLabels {
            outcome: PushFailure::ALL[i].as_str(),
        });
        let push_subscriptions = Gauge::default();
        registry.register(
            "push_subscriptions",
            "Stored Web Push subscriptions (all replicas; refreshed on change and on the key-reload timer)",
            push_subscriptions.clone(),
        );
        // 50 ms … ~100 s
        let challenge_fetch = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        registry.register(
            "challenge_fetch_seconds",
            "Time from the start of an eidas2 login to a device fetching its challenge",
            challenge_fetch.clone(),
        );
        Metrics {
            pushes_sent,
            pushes_failed,
            push_subscriptions,
            challenge_fetch,
            registry,
            messages_sent,
            messages_failed,
            requests,
            duration,
            logins_started,
            login_outcomes,
            logins_completed,
            enrolment,
            verification,
            rate_limited,
            device_errors,
            streams,
            db: None,
            pool: Family::default(),
        }
    }

    /// Registers the backing services' own atomics: the database pool's
    /// waiting gauge (and its state, read at scrape time) and the Redis
    /// command timings.
    pub fn register_backends(&mut self, db: &Db, ephemeral: &Ephemeral) {
        self.registry.register(
            "db_pool_connections",
            "Database pool connections, in use or idle (read at scrape time)",
            self.pool.clone(),
        );
        self.registry.register(
            "db_pool_waiting",
            "Callers waiting for a database connection",
            db.waiting(),
        );
        self.db = Some(db.clone());
        if let Some(timings) = ephemeral.timings() {
            self.registry.register(
                "ephemeral_command_duration_seconds",
                "Redis command latency (one observation per store call)",
                timings.latency,
            );
            self.registry.register(
                "ephemeral_errors",
                "Redis store calls that failed",
                timings.errors,
            );
        }
    }

    /// The notifier's counters: the families' own series, so the notifier
    /// counts with one atomic increment.
    pub fn notify_counters(&self) -> NotifyCounters {
        NotifyCounters {
            channels: std::array::from_fn(|i| DeliveryCounters {
                sent: self.messages_sent[i].clone(),
                failed: self.messages_failed[i].clone(),
            }),
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    fn acr_index(acr: Acr) -> usize {
        match acr {
            Acr::Eidas1 => 0,
            Acr::Eidas2 => 1,
            Acr::Eidas3 => 2,
        }
    }

    pub fn login_started(&self, acr: Acr) {
        self.logins_started[Self::acr_index(acr)].inc();
    }

    pub fn login_outcome(&self, acr: Acr, outcome: LoginOutcome) {
        self.login_outcomes[Self::acr_index(acr)][outcome as usize].inc();
    }

    pub fn login_completed(&self, acr: Acr) {
        self.logins_completed[Self::acr_index(acr)].inc();
    }

    pub fn enrolment_step(&self, step: EnrolStep) {
        self.enrolment[step as usize].inc();
    }

    pub fn verification_decision(&self, remote: bool, verified: bool) {
        self.verification[usize::from(remote)][usize::from(!verified)].inc();
    }

    /// A refusal by the limit `limit` (one of [`LIMITS`]); the refusal path
    /// only, so the family's read lock is acceptable there.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// A device-API error response; `code` comes from `device_error_parts`.
    pub fn device_error(&self, code: &'static str) {
        self.device_errors.get_or_create(&CodeLabels { code }).inc();
    }

    /// Counts `stream` as open until the guard is dropped.
    pub fn open_stream(&self, stream: Stream) -> OpenStream {
        let gauge = self.streams[stream as usize].clone();
        gauge.inc();
        OpenStream(gauge)
    }

    pub fn push_sent(&self, kind: PushKind) {
        self.pushes_sent[kind as usize].inc();
    }

    pub fn push_failed(&self, reason: PushFailure) {
        self.pushes_failed[reason as usize].inc();
    }

    pub fn push_subscriptions(&self, count: i64) {
        self.push_subscriptions.set(count);
    }

    /// A device fetched a challenge `seconds` after the login started.
    pub fn challenge_fetched(&self, seconds: f64) {
        self.challenge_fetch.observe(seconds.max(0.0));
    }

    pub fn encode(&self) -> String {
        if let Some(db) = &self.db {
            let (in_use, idle) = db.pool_state();
            self.pool
                .get_or_create(&StateLabels { state: "in_use" })
                .set(in_use);
            self.pool
                .get_or_create(&StateLabels { state: "idle" })
                .set(idle);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_histogram_counts_each_call_in_one_bucket() {
        let timings = StoreTimings::default();
        let mut registry = Registry::default();
        registry.register("lat", "latency", timings.latency.clone());
        timings.observe(Duration::from_micros(50), true);
        timings.observe(Duration::from_micros(150), true);
        timings.observe(Duration::from_secs(10), false);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("lat_bucket{le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("lat_bucket{le=\"0.0002\"} 2\n"), "{text}");
        assert!(text.contains("lat_bucket{le=\"1.6384\"} 2\n"), "{text}");
        assert!(text.contains("lat_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("lat_count 3\n"), "{text}");
        assert!(text.contains("lat_sum 10.0002\n"), "{text}");
        assert_eq!(timings.errors.get(), 1);
    }

    #[test]
    fn login_counters_are_one_series_per_acr_and_outcome() {
        let metrics = Metrics::new();
        metrics.login_outcome(Acr::Eidas2, LoginOutcome::WrongPin);
        metrics.login_outcome(Acr::Eidas2, LoginOutcome::WrongPin);
        metrics.login_completed(Acr::Eidas3);
        let text = metrics.encode();
        assert!(
            text.contains("idp_login_outcomes_total{acr=\"eidas2\",outcome=\"wrong_pin\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("idp_logins_completed_total{acr=\"eidas3\"} 1\n"));
        assert!(text.contains("idp_logins_completed_total{acr=\"eidas1\"} 0\n"));
        let outcomes = text
            .lines()
            .filter(|l| l.starts_with("idp_login_outcomes_total{"))
            .count();
        assert_eq!(outcomes, Acr::ALL.len() * LoginOutcome::ALL.len());
    }
}
