//! eidas1 login: email + password (DESIGN §5).
//!
//! Argon2id runs on the blocking pool. An unknown email is verified against a
//! dummy hash so both cases cost the same. Attempts are counted *before* the
//! hash is checked, with atomic counters in the ephemeral store, so parallel
//! guesses on any number of replicas cannot get past the limits.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::Provider;
use super::claims::Person;
use super::clients::Client;
use super::error::OidcError;
use super::types::Authenticated;
use crate::crypto::random_token;
use crate::domain::acr::{self, Acr, Authentication};
use crate::domain::email::Email;
use crate::domain::history::LoginResult;
use crate::ephemeral::{EphemeralStore, keys};
use crate::metrics::LoginOutcome;
use crate::outcome::{ServiceError, refuse};
use crate::ratelimit::Limit;
use crate::store::accounts;
use crate::store::audit::{self, AuditEvent};
use crate::store::login_history::{self, NewLogin};
use crate::store::{now_millis, now_unix};

/// Failed-or-not attempts allowed per account in [`WINDOW`].
pub const ACCOUNT_LIMIT: i64 = 5;
/// Attempts allowed per client IP in [`WINDOW`].
pub const IP_LIMIT: i64 = 30;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Password attempts per account (by its email's lookup hash).
const PASSWORD_ACCOUNT: Limit = Limit {
    name: "password:account",
    max: ACCOUNT_LIMIT,
    window: WINDOW,
};
/// Password attempts per client address.
const PASSWORD_IP: Limit = Limit {
    name: "password:ip",
    max: IP_LIMIT,
    window: WINDOW,
};

/// Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP; DESIGN §11).
pub fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string.
pub fn hash_password(password: &str) -> Result<String, OidcError> {
    let salt_bytes = crate::crypto::random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| OidcError::Internal(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OidcError::Internal(format!("argon2: {e}")))
}

/// Checks a password against a PHC string (constant-time inside Argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A dummy hash to verify against when the email is unknown.
pub fn dummy_hash() -> Result<String, OidcError> {
    hash_password(&random_token()?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// Wrong email or password (never says which).
    Invalid,
    /// Too many attempts; retry after this many seconds.
    Throttled { retry_after: u64 },
    /// The account is suspended.
    Suspended,
}

/// Checks email + password with the attempt limits, without logging in:
/// what the password login and the app's activation share.
pub async fn check_credentials(
    provider: &Provider,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Result<accounts::AccountRow, ServiceError<LoginFailure, OidcError>> {
    let email = Email::parse(email).ok();
    let core = &provider.core;
    let by_ip = PASSWORD_IP
        .count(core, keys::password_attempts_from_ip(client_ip))
        .await?;
    let by_account = match &email {
        Some(e) => Some(
            PASSWORD_ACCOUNT
                .count(
                    core,
                    keys::password_attempts_at_account(&provider.lookup_hash(e.as_str())),
                )
                .await?,
        ),
        None => None,
    };
    let refusal = match &by_account {
        Some(count) if PASSWORD_ACCOUNT.passed(count) => Some((PASSWORD_ACCOUNT, count)),
        _ if PASSWORD_IP.passed(&by_ip) => Some((PASSWORD_IP, &by_ip)),
        _ => None,
    };
    if let Some((limit, count)) = refusal {
        return refuse(LoginFailure::Throttled {
            retry_after: limit.refuse(core, count).await?,
        });
    }

    let account = match &email {
        Some(email) => {
            let address = email.as_str().to_owned();
            provider
                .core
                .db
                .read(move |conn| accounts::by_email(conn, &address))
                .await?
        }
        None => None,
    };
    let stored = account
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| (*provider.dummy_password_hash).clone());
    let presented = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || verify_password(&stored, &presented))
        .await
        .map_err(|e| OidcError::Internal(e.to_string()))?;
    let Some(account) = account.filter(|a| matches && a.password_hash.is_some()) else {
        return refuse(LoginFailure::Invalid);
    };
    if account.state == crate::domain::account::AccountState::Suspended {
        return refuse(LoginFailure::Suspended);
    }
    if let Some(count) = &by_account {
        core.ephemeral.delete(&count.key).await?;
    }
    Ok(account)
}

/// A partner login on the browser's SSO session, with no new
/// authentication: recorded in the connection history at the session's
/// level. One row in its own transaction, since the login writes nothing
/// else durable.
pub async fn record_reuse(
    provider: &Provider,
    client: &Client,
    auth: &Authenticated,
    client_ip: &str,
    user_agent: &str,
) -> Result<(), OidcError> {
    let login = NewLogin {
        id: random_token()?,
        account_id: auth.account_id.clone(),
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        at_ms: now_millis(),
        acr: auth.acr.as_str().to_owned(),
        ip: crate::device::challenge::approximate_ip(client_ip),
        user_agent: user_agent.to_owned(),
        outcome: LoginResult::Approved,
    };
    provider
        .core
        .db
        .write(move |conn| login_history::insert(conn, &login))
        .await?;
    Ok(())
}

/// The partner site a password login is for (none for the citizen's own
/// space): the login goes into the connection history.
pub struct Partner<'a> {
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub user_agent: &'a str,
}

/// Checks email + password. On success returns the authentication to attach
/// to the request and to the new SSO session; a login to a `partner` is
/// recorded in the connection history in the audit entry's transaction.
pub async fn password(
    provider: &Provider,
    email: &str,
    password: &str,
    client_ip: &str,
    partner: Option<Partner<'_>>,
) -> Result<Authenticated, ServiceError<LoginFailure, OidcError>> {
    let metrics = &provider.core.metrics;
    metrics.login_started(Acr::Eidas1);
    let account = match check_credentials(provider, email, password, client_ip).await {
        Ok(account) => account,
        Err(ServiceError::Failed(e)) => return Err(ServiceError::Failed(e)),
        Err(ServiceError::Refused(failure)) => {
            let outcome = match failure {
                LoginFailure::Invalid => LoginOutcome::WrongPassword,
                LoginFailure::Throttled { .. } => LoginOutcome::Throttled,
                LoginFailure::Suspended => LoginOutcome::Suspended,
            };
            metrics.login_outcome(Acr::Eidas1, outcome);
            return refuse(failure);
        }
    };
    // Deleted while the password was checked (`citizen::rgpd`): the
    // login fails as for an unknown account.
    let Some(person) = Person::load(provider, &account.id).await? else {
        metrics.login_outcome(Acr::Eidas1, LoginOutcome::WrongPassword);
        return refuse(LoginFailure::Invalid);
    };
    let authentication = Authentication::Password;
    let auth = Authenticated {
        account_id: account.id.clone(),
        sid: random_token()?,
        auth_time: now_unix(),
        authentication,
        acr: acr::achieved(person.proofing(), authentication),
    };
    let (id, acr) = (account.id.clone(), auth.acr);
    let login = match partner {
        Some(p) => Some(NewLogin {
            id: random_token()?,
            account_id: id.clone(),
            client_id: p.client_id.to_owned(),
            client_name: p.client_name.to_owned(),
            at_ms: now_millis(),
            acr: acr.as_str().to_owned(),
            ip: crate::device::challenge::approximate_ip(client_ip),
            user_agent: p.user_agent.to_owned(),
            outcome: LoginResult::Approved,
        }),
        None => None,
    };
    provider
        .core
        .db
        .write(move |conn| {
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("account:{id}"),
                    action: "login.password",
                    subject: &id,
                    details: serde_json::json!({ "acr": acr }),
                },
            )?;
            match &login {
                Some(login) => login_history::insert(conn, login),
                None => Ok(()),
            }
        })
        .await?;
    metrics.login_outcome(Acr::Eidas1, LoginOutcome::Approved);
    Ok(auth)
}
