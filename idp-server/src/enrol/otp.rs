//! One-time codes sent by email or SMS (DESIGN §7): 6 digits, 15 min (email)
//! or 10 min (SMS), 5 attempts, a new code at most every 60 s, at most 5
//! sends per hour per address and per client IP. Every counter is an atomic
//! increment in the ephemeral store, taken *before* the check, so parallel
//! attempts on any number of replicas cannot exceed the limits.

use std::time::Duration;

use super::{EnrolError, StepError};
use crate::crypto::{constant_time_eq, random_bytes};
use crate::ephemeral::keys::OtpKeys;
use crate::ephemeral::{self, EphemeralStore, Expect, Replace};
use crate::oidc::Provider;
use crate::outcome::refuse;
use crate::ratelimit::Limit;

pub const MAX_ATTEMPTS: i64 = 5;
pub const COOLDOWN: Duration = Duration::from_secs(60);
pub const SENDS_PER_HOUR: i64 = 5;
const HOUR: Duration = Duration::from_secs(3600);

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Email,
    Phone,
    /// The code of a forgotten password (`citizen::password`), sent by
    /// email: its own keys, cooldown and limits, apart from enrolment's.
    PasswordReset,
    /// The code to a new mobile number changed from `/compte`
    /// (`citizen::contact`), by SMS.
    MobileChange,
    /// The code to a new email address changed from `/compte`.
    EmailChange,
    /// The code that confirms the deletion of an identity (`citizen::rgpd`),
    /// sent by email: its own keys, cooldown and limits.
    Erasure,
    /// The code that confirms a citizen's block of their own identity
    /// (`citizen::self_block`), sent by email.
    BlockIdentity,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Email => "email",
            Purpose::Phone => "phone",
            Purpose::PasswordReset => "password-reset",
            Purpose::MobileChange => "mobile-change",
            Purpose::EmailChange => "email-change",
            Purpose::Erasure => "erasure",
            Purpose::BlockIdentity => "block-identity",
        }
    }

    pub fn ttl(self) -> Duration {
        match self {
            Purpose::Email
            | Purpose::PasswordReset
            | Purpose::EmailChange
            | Purpose::Erasure
            | Purpose::BlockIdentity => Duration::from_secs(15 * 60),
            Purpose::Phone | Purpose::MobileChange => Duration::from_secs(10 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// A code was sent less than a minute ago.
    Cooldown { retry_after: u64 },
    /// Five codes this hour already, for this address or from this IP.
    HourlyCap { retry_after: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFailure {
    Wrong {
        remaining: i64,
    },
    /// No live code (never sent, expired, or voided after 5 wrong attempts).
    Expired,
    TooManyAttempts,
}

fn keys(provider: &Provider, purpose: Purpose, address: &str) -> OtpKeys {
    ephemeral::keys::otp(&provider.lookup_hash(&format!("{}:{address}", purpose.name())))
}

/// Code sends per hour, per address and per client address (one limit,
/// counted under two keys).
const HOURLY: Limit = Limit {
    name: "otp:hourly",
    max: SENDS_PER_HOUR,
    window: HOUR,
};

/// A uniformly random 6-digit code.
fn new_code() -> Result<String, EnrolError> {
    loop {
        let bytes = random_bytes::<4>().map_err(|e| EnrolError::Internal(e.to_string()))?;
        let n = u32::from_be_bytes(bytes);
        // Reject the top of the range so every code is equally likely.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The right to send one code to an address, taken by [`reserve`] before
/// anything about the address is looked up (the limits count the same for
/// an address with an identity and for a new one).
#[must_use = "a reservation sends nothing until it is issued"]
pub struct Reservation {
    purpose: Purpose,
    code_key: String,
    attempts_key: String,
    cooldown_key: String,
}

/// What [`Reservation::issue`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    /// A code the recipient can type.
    Code,
    /// The address cannot be enrolled (it already has an identity): a code
    /// is stored all the same, so the code page behaves exactly as for a
    /// new address, but nobody knows it; the owner gets a notice instead.
    Decoy,
}

/// Counts a send for `address` and `client_ip` (cooldown, hourly caps).
pub async fn reserve(
    provider: &Provider,
    purpose: Purpose,
    address: &str,
    client_ip: &str,
) -> Result<Reservation, StepError<SendRefusal>> {
    let eph = &provider.core.ephemeral;
    let OtpKeys {
        code: code_key,
        attempts: attempts_key,
        cooldown: cooldown_key,
        sends: sends_key,
    } = keys(provider, purpose, address);
    if !eph.set_if_absent(&cooldown_key, b"1", COOLDOWN).await? {
        let wait = eph.ttl(&cooldown_key).await?.unwrap_or(COOLDOWN);
        provider.core.metrics.rate_limited("otp:cooldown");
        return refuse(SendRefusal::Cooldown {
            retry_after: wait.as_secs().max(1),
        });
    }
    let core = &provider.core;
    let by_address = HOURLY.count(core, sends_key).await?;
    let by_ip = HOURLY
        .count(
            core,
            ephemeral::keys::otp_sends_from_ip(purpose.name(), client_ip),
        )
        .await?;
    if let Some(over) = [&by_address, &by_ip]
        .into_iter()
        .find(|count| HOURLY.passed(count))
    {
        return refuse(SendRefusal::HourlyCap {
            retry_after: HOURLY.refuse(core, over).await?,
        });
    }
    Ok(Reservation {
        purpose,
        code_key,
        attempts_key,
        cooldown_key,
    })
}

/// Counts a send for one enrolment (the account being created), whatever
/// the number: one enrolment cannot try more than [`SENDS_PER_HOUR`] numbers
/// an hour.
pub async fn count_enrolment_send(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<SendRefusal>, EnrolError> {
    let limit = Limit {
        name: "otp:enrolment",
        max: SENDS_PER_HOUR,
        window: HOUR,
    };
    Ok(limit
        .hit(&provider.core, account_id)
        .await?
        .map(|retry_after| SendRefusal::HourlyCap { retry_after }))
}

impl Reservation {
    /// Stores a new code (only its keyed hash) and hands `deliver` the code
    /// to send, or `None` for a [`Issue::Decoy`].
    pub async fn issue<F, Fut>(
        self,
        provider: &Provider,
        issue: Issue,
        deliver: F,
    ) -> Result<(), EnrolError>
    where
        F: FnOnce(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(), crate::notify::NotifyError>>,
    {
        let eph = &provider.core.ephemeral;
        let code = new_code()?;
        let stored = match issue {
            Issue::Code => provider.lookup_hash(&code),
            // A hash no six-digit code has: nothing typed can match it.
            Issue::Decoy => provider.lookup_hash(&format!("decoy:{code}")),
        };
        eph.set(&self.code_key, stored.as_bytes(), self.purpose.ttl())
            .await?;
        eph.delete(&self.attempts_key).await?;
        let sent = (issue == Issue::Code).then_some(code);
        if let Err(e) = deliver(sent).await {
            // Let the person retry at once: nothing was delivered.
            eph.delete(&self.cooldown_key).await?;
            eph.delete(&self.code_key).await?;
            return Err(e.into());
        }
        Ok(())
    }
}

/// Checks a code; a correct code works once.
pub async fn check(
    provider: &Provider,
    purpose: Purpose,
    address: &str,
    presented: &str,
) -> Result<(), StepError<CheckFailure>> {
    let eph = &provider.core.ephemeral;
    let OtpKeys {
        code: code_key,
        attempts: attempts_key,
        ..
    } = keys(provider, purpose, address);
    let Some(stored) = eph.get(&code_key).await? else {
        return refuse(CheckFailure::Expired);
    };
    let attempt = eph.incr(&attempts_key, purpose.ttl()).await?;
    if attempt > MAX_ATTEMPTS {
        eph.delete(&code_key).await?;
        return refuse(CheckFailure::TooManyAttempts);
    }
    let presented: String = presented.chars().filter(|c| !c.is_whitespace()).collect();
    let matches = presented.len() == 6
        && presented.bytes().all(|b| b.is_ascii_digit())
        && constant_time_eq(provider.lookup_hash(&presented).as_bytes(), &stored);
    if !matches {
        if attempt == MAX_ATTEMPTS {
            eph.delete(&code_key).await?;
            return refuse(CheckFailure::TooManyAttempts);
        }
        return refuse(CheckFailure::Wrong {
            remaining: MAX_ATTEMPTS - attempt,
        });
    }
    // Exactly one of two concurrent correct submissions wins.
    if !eph
        .compare_and_set(&code_key, Expect::Value(&stored), Replace::Delete)
        .await?
    {
        return refuse(CheckFailure::Expired);
    }
    eph.delete(&attempts_key).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = super::new_code().unwrap();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
