//! Device-signed requests: a short-lived ES256 JWS whose `kid` is the device
//! id, bound to the method and URL (`htm`, `htu`), fresh (`iat`) and used
//! once (`jti`), like DPoP (RFC 9449) proofs.
//!
//! # Replays after the ephemeral store lost its data
//!
//! The `jti`s seen are remembered in the ephemeral store, which a Redis
//! restart without persistence (or a `FLUSHALL`, or a restart of the embedded
//! server) empties: a request accepted just before could then be replayed
//! within its `iat` window. Writing every `jti` to SQL would cost a write per
//! device request; instead:
//!
//! - a durable *lease* (`device_request_lease`, one row) bounds every `iat`
//!   ever accepted: a request whose `iat` is above the lease raises it to
//!   `iat + LEASE_SECS` before it is accepted, so the table is written about
//!   once per [`LEASE_SECS`] per process under traffic, not per request;
//! - the ephemeral store holds a *floor* ([`FLOOR_KEY`]) next to the `jti`s.
//!   A request is accepted only if its `jti` was new **and** the floor was
//!   there, with `iat` above it. When the floor is missing, the store lost
//!   its data (or the key expired): the floor is set again to the durable
//!   lease, which is at least the `iat` of any request accepted before, so
//!   none of them passes again. The `jti` is written before the floor is
//!   read (one pipelined round trip, in that order), so a loss between the
//!   two refuses the request rather than letting a replay through.
//!
//! The price: after a loss, requests signed up to the lease (at most
//! [`LEASE_SECS`] ahead of the newest one accepted) are refused once as
//! replays, and the app signs a new one. Partial losses that keep the floor
//! but drop `jti`s (eviction under `maxmemory`, a replica promoted with
//! replication lag) are not detected: Redis must run with
//! `maxmemory-policy noeviction`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::DeviceError;
use super::key::DeviceKey;
use crate::domain::device::DeviceState;
use crate::ephemeral::EphemeralStore;
use crate::oidc::Provider;
use crate::store::devices::{self, DeviceRow};
use crate::store::now_unix;

/// `typ` of the request proofs sent in `Authorization: Device …`.
pub const REQUEST_TYP: &str = "device-request+jwt";
/// `typ` of the signed decisions posted to a challenge.
pub const DECISION_TYP: &str = "device-decision+jwt";
/// How far `iat` may be from the server's clock, either way.
pub const MAX_SKEW_SECS: i64 = 60;
/// How long a `jti` is remembered: longer than any `iat` accepted.
const JTI_TTL: Duration = Duration::from_secs(2 * MAX_SKEW_SECS as u64 + 10);
const MAX_JWS_LEN: usize = 8 * 1024;
/// How far above an accepted `iat` the durable lease is raised at a time.
pub const LEASE_SECS: i64 = 5;
/// Ephemeral key of the replay floor (no accepted `iat` is at or below it).
pub const FLOOR_KEY: &str = crate::ephemeral::keys::DEVICE_REQUEST_FLOOR;
/// The floor outlives any `jti` by far; when it expires it is set again from
/// the lease (at worst, requests of the last [`LEASE_SECS`] are refused once).
const FLOOR_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// This process's view of the durable lease: never above the stored value.
#[derive(Debug, Default)]
pub struct ReplayLease {
    until: AtomicI64,
    /// One extension at a time per process: the others wait and find it done.
    extending: tokio::sync::Mutex<()>,
}

impl ReplayLease {
    /// Makes sure the durable lease covers `iat` before a request is accepted.
    async fn cover(&self, provider: &Provider, iat: i64) -> Result<(), DeviceError> {
        if iat <= self.until.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.extending.lock().await;
        if iat <= self.until.load(Ordering::Acquire) {
            return Ok(());
        }
        let until = iat.max(now_unix()) + LEASE_SECS;
        provider
            .core
            .db
            .write(move |conn| devices::extend_request_lease(conn, until))
            .await?;
        self.until.fetch_max(until, Ordering::AcqRel);
        Ok(())
    }
}

/// At start-up, sets the replay floor if the ephemeral store has none (a new
/// deployment, or the in-process store of a restarted server), so that the
/// first request does not find it missing after raising the lease itself
/// (and get refused). Best effort and bounded: start-up does not wait for
/// Redis; without it the first request sets the floor.
pub async fn prime_replay_floor(provider: &Provider) {
    match tokio::time::timeout(Duration::from_secs(2), replay_floor(provider)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not set the device replay floor yet"),
        Err(_) => tracing::warn!("timed out setting the device replay floor"),
    }
}

/// The replay floor, set again from the durable lease when the ephemeral
/// store lost it.
async fn replay_floor(provider: &Provider) -> Result<i64, DeviceError> {
    let stored = provider.core.ephemeral.get(FLOOR_KEY).await?;
    floor_from(provider, stored).await
}

/// The replay floor from what the ephemeral store held under [`FLOOR_KEY`]
/// (`stored`, just read), set again from the durable lease when missing.
async fn floor_from(provider: &Provider, stored: Option<Vec<u8>>) -> Result<i64, DeviceError> {
    let eph = &provider.core.ephemeral;
    let parse = |raw: Vec<u8>| {
        std::str::from_utf8(&raw)
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| DeviceError::Internal("the replay floor is not a number".into()))
    };
    if let Some(raw) = stored {
        return parse(raw);
    }
    let lease = provider.core.db.read(devices::request_lease).await?;
    if eph
        .set_if_absent(FLOOR_KEY, lease.to_string().as_bytes(), FLOOR_TTL)
        .await?
    {
        tracing::warn!(
            floor = lease,
            "the ephemeral store lost the device replay floor (restart or flush): \
             device requests signed up to the floor are refused"
        );
        return Ok(lease);
    }
    // Another request or replica set it first: use the higher of the two.
    match eph.get(FLOOR_KEY).await? {
        Some(raw) => Ok(parse(raw)?.max(lease)),
        None => Ok(lease),
    }
}

/// The compact JWS of an `Authorization: Device <jws>` header.
pub fn from_header(value: Option<&str>) -> Result<&str, DeviceError> {
    let value = value.ok_or(DeviceError::InvalidDeviceRequest(
        "missing Authorization: Device <signed request>",
    ))?;
    value
        .strip_prefix("Device ")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(DeviceError::InvalidDeviceRequest(
            "the Authorization header must use the Device scheme",
        ))
}

/// Checks the protected header of a device-signed JWS and returns its `kid`
/// (the device id): `alg` ES256, the expected `typ`, and no `crit` (RFC 7515
/// §4.1.11: no extension is understood here, so a header that makes one
/// critical is refused rather than half-honoured).
fn check_header(jws: &str, typ: &str) -> Result<String, DeviceError> {
    const MALFORMED: DeviceError =
        DeviceError::InvalidDeviceRequest("the signed request is not a compact JWS");
    if jws.len() > MAX_JWS_LEN {
        return Err(MALFORMED);
    }
    let header_b64 = jws.split('.').next().ok_or(MALFORMED)?;
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or(MALFORMED)?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(DeviceError::InvalidDeviceRequest(
            "the signed request must use alg ES256",
        ));
    }
    if header.contains_key("crit") {
        return Err(DeviceError::InvalidDeviceRequest(
            "the signed request header must not have crit (no extension is supported)",
        ));
    }
    if header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(DeviceError::InvalidDeviceRequest(
            "wrong typ in the signed request header",
        ));
    }
    Ok(header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| (1..=64).contains(&k.len()))
        .ok_or(DeviceError::InvalidDeviceRequest(
            "the signed request header has no kid (device id)",
        ))?
        .to_owned())
}

/// Verifies a device-signed JWS for `method` on `path` (no query) and
/// returns the device (active) and the payload's members.
pub async fn authenticate(
    provider: &Provider,
    jws: &str,
    typ: &str,
    method: &str,
    path: &str,
) -> Result<(DeviceRow, Map<String, Value>), DeviceError> {
    let kid = check_header(jws, typ)?;
    let device = provider
        .core
        .db
        .read_short(move |conn| devices::by_id(conn, &kid))
        .await?
        .ok_or(DeviceError::InvalidDeviceRequest("unknown device"))?;

    let payload = {
        let key = DeviceKey::from_jwk_str_cached(&device.public_jwk)
            .map_err(|_| DeviceError::Internal("stored device key is not a P-256 key".into()))?;
        key.verify_compact(jws)
            .map_err(|_| DeviceError::InvalidDeviceRequest("the signature does not verify"))?
    };
    let claims: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| {
        DeviceError::InvalidDeviceRequest("the signed payload is not a JSON object")
    })?;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err(DeviceError::InvalidDeviceRequest(
            "htm does not match the request method",
        ));
    }
    let expected_htu = provider.endpoint(path);
    if claims.get("htu").and_then(Value::as_str) != Some(expected_htu.as_str()) {
        return Err(DeviceError::InvalidDeviceRequest(
            "htu does not match the request URL",
        ));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(DeviceError::InvalidDeviceRequest("iat is missing"))?;
    if (now_unix() - iat).abs() > MAX_SKEW_SECS {
        return Err(DeviceError::InvalidDeviceRequest(
            "the signed request has expired (iat too far from now)",
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| (1..=128).contains(&j.len()))
        .ok_or(DeviceError::InvalidDeviceRequest(
            "jti is missing or too long",
        ))?;
    match device.state {
        DeviceState::Active => {}
        DeviceState::Locked => {
            return Err(DeviceError::DeviceLocked {
                reason: device.lock_reason(),
            });
        }
        DeviceState::Revoked => return Err(DeviceError::DeviceRevoked),
    }
    // Order matters (module documentation): lease, then jti, then floor.
    provider.device_requests.cover(provider, iat).await?;
    let seen_key =
        crate::ephemeral::keys::device_request_jti(&device.id, &provider.lookup_hash(jti));
    // The jti is marked and the floor read in one round trip, in that order.
    let (fresh, stored_floor) = provider
        .core
        .ephemeral
        .set_if_absent_then_get(&seen_key, b"1", JTI_TTL, FLOOR_KEY)
        .await?;
    let floor = floor_from(provider, stored_floor).await?;
    if !fresh {
        return Err(DeviceError::InvalidDeviceRequest(
            "this signed request was already used (replayed jti)",
        ));
    }
    if iat <= floor {
        return Err(DeviceError::InvalidDeviceRequest(
            "this signed request may have been used already (replay cache reset); \
             sign a new one",
        ));
    }
    Ok((device, claims))
}

/// Checks that a JWK is a P-256 public key and returns its canonical form
/// (`kty`, `crv`, `x`, `y` only); private members are refused.
pub fn canonical_public_key(value: &Value) -> Result<String, DeviceError> {
    let bad = |why: &str| DeviceError::InvalidRequest(format!("public_key: {why}"));
    let object = value
        .as_object()
        .ok_or_else(|| bad("must be a JWK object"))?;
    if object.contains_key("d") {
        return Err(bad("must not contain the private key"));
    }
    if object.get("kty").and_then(Value::as_str) != Some("EC")
        || object.get("crv").and_then(Value::as_str) != Some("P-256")
    {
        return Err(bad("must be an EC key on P-256"));
    }
    let coordinate = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| URL_SAFE_NO_PAD.decode(v).is_ok_and(|b| b.len() == 32))
            .ok_or_else(|| bad(&format!("{name} must be 32 bytes in base64url")))
    };
    let canonical = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": coordinate("x")?,
        "y": coordinate("y")?,
    })
    .to_string();
    // The point must be on the curve; this is also the parser the signed
    // requests will go through.
    DeviceKey::from_jwk_str(&canonical).map_err(|_| bad("is not a point on P-256"))?;
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(header: Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(b"{}"),
            URL_SAFE_NO_PAD.encode([1u8; 64])
        )
    }

    fn refusal(header: Value) -> String {
        match check_header(&jws(header), REQUEST_TYP) {
            Err(DeviceError::InvalidDeviceRequest(why)) => why.to_owned(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_header_is_checked_and_crit_refused() {
        let good = serde_json::json!({"alg": "ES256", "typ": REQUEST_TYP, "kid": "dev-1"});
        assert_eq!(check_header(&jws(good), REQUEST_TYP).unwrap(), "dev-1");
        let why = refusal(
            serde_json::json!({"alg": "ES256", "typ": REQUEST_TYP, "kid": "dev-1", "crit": ["b64"], "b64": true}),
        );
        assert!(why.contains("crit"), "{why}");
        // Even an empty list (itself invalid under RFC 7515).
        let why = refusal(
            serde_json::json!({"alg": "ES256", "typ": REQUEST_TYP, "kid": "d", "crit": []}),
        );
        assert!(why.contains("crit"), "{why}");
        assert!(
            refusal(serde_json::json!({"alg": "none", "typ": REQUEST_TYP, "kid": "d"}))
                .contains("ES256")
        );
        assert!(
            refusal(serde_json::json!({"alg": "ES256", "typ": DECISION_TYP, "kid": "d"}))
                .contains("typ")
        );
        assert!(refusal(serde_json::json!({"alg": "ES256", "typ": REQUEST_TYP})).contains("kid"));
        assert!(
            refusal(serde_json::json!({"alg": "ES256", "typ": REQUEST_TYP, "kid": ""}))
                .contains("kid")
        );
    }
}
