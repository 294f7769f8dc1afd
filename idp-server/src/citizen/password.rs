//! Passwords after enrolment: the forgotten password (email → 6-digit code
//! → new password) and the change from `/compte` (current password → new
//! password). Both apply the enrolment policy (`domain::password`), write
//! the new hash, one audit entry and an account-wide revocation in one
//! transaction (every SSO session, access token and refresh family of the
//! account ends, `store::token_revocations`), then email the citizen a
//! notice. Neither touches the account's state, identity or devices: a reset
//! never raises assurance, eidas2 still needs the device and its PIN.
//!
//! The reset's code follows the enrolment rules (`enrol::otp`: 5 attempts
//! counted atomically, one-minute cooldown, hourly caps per address and per
//! IP counted before the address is looked up) under its own purpose
//! (`Purpose::PasswordReset`), so it never shares keys, cooldown or limits
//! with an enrolment code. An address without an account gets the same
//! answer and the same pages: a decoy code nobody can type, and no email.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::random_token;
use crate::domain::acr::{self, Authentication};
use crate::domain::email::Email;
use crate::domain::password::{self, PasswordProblem};
use crate::enrol::otp::{self, CheckFailure, Issue, Purpose, SendRefusal};
use crate::enrol::{EnrolError, StepError};
use crate::ephemeral::{EphemeralStore, Expect, Replace, keys};
use crate::notify::EmailMessage;
use crate::oidc::Provider;
use crate::oidc::claims::Person;
use crate::oidc::login::{self, LoginFailure};
use crate::oidc::types::Authenticated;
use crate::outcome::{ServiceError, refuse};
use crate::store::audit::{self, AuditEvent};
use crate::store::{DbConnection, StoreError, accounts, now_millis, now_unix, token_revocations};

/// Audit action of a reset by email code.
pub const RESET_AUDIT: &str = "account.password_reset";
/// Audit action of a change from the account page.
pub const CHANGE_AUDIT: &str = "account.password_changed";

/// How long a reset stays open between its steps (the code's lifetime),
/// and how long a finished one is remembered (a double submission).
const RESET_TTL: Duration = Duration::from_secs(15 * 60);

/// Where a reset stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A code (or a decoy) was sent to the address.
    CodeSent,
    /// The code was typed: the new password may be chosen.
    Verified,
    /// The new password is set.
    Done,
}

/// A reset in progress, kept under the browser's cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reset {
    pub email: String,
    pub stage: Stage,
}

/// Why a new password was not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRefusal {
    /// The reset's code was not confirmed, or the reset expired: start again.
    NotVerified,
    /// The current password (a change) is wrong, or too many attempts.
    Current(LoginFailure),
    /// The two new passwords differ.
    Mismatch,
    /// The new password breaks the policy.
    Weak(PasswordProblem),
}

fn reset_key(provider: &Provider, cookie: &str) -> String {
    keys::password_reset(&provider.lookup_hash(cookie))
}

/// The reset under `cookie`, if one is open.
pub async fn progress(provider: &Provider, cookie: &str) -> Result<Option<Reset>, EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .get_json(&reset_key(provider, cookie))
        .await?)
}

async fn save(provider: &Provider, cookie: &str, reset: &Reset) -> Result<(), EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .set_json(&reset_key(provider, cookie), reset, RESET_TTL)
        .await?)
}

/// Sends the reset code to `email` (or, for an address without an account,
/// stores a decoy and sends nothing) and opens the reset under `cookie`.
/// The send limits count before the address is looked up.
pub async fn start_reset(
    provider: &Provider,
    cookie: &str,
    email: &Email,
    client_ip: &str,
) -> Result<(), StepError<SendRefusal>> {
    let address = email.as_str().to_owned();
    let reservation = otp::reserve(provider, Purpose::PasswordReset, &address, client_ip).await?;
    let lookup = address.clone();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_email(conn, &lookup))
        .await?;
    let issue = match account {
        Some(a) if a.password_hash.is_some() => Issue::Code,
        _ => Issue::Decoy,
    };
    let notifier = provider.core.notifier.clone();
    let to = address.clone();
    reservation
        .issue(provider, issue, |code| async move {
            match code {
                Some(code) => notifier.send_email(&reset_code_message(to, &code)).await,
                None => Ok(()),
            }
        })
        .await?;
    let reset = Reset {
        email: address,
        stage: Stage::CodeSent,
    };
    save(provider, cookie, &reset).await?;
    Ok(())
}

/// Checks the reset's code; a reset already past this step is left as is.
pub async fn verify_code(
    provider: &Provider,
    cookie: &str,
    code: &str,
) -> Result<(), StepError<CheckFailure>> {
    let Some(mut reset) = progress(provider, cookie).await? else {
        return refuse(CheckFailure::Expired);
    };
    if reset.stage != Stage::CodeSent {
        return Ok(());
    }
    otp::check(provider, Purpose::PasswordReset, &reset.email, code).await?;
    reset.stage = Stage::Verified;
    save(provider, cookie, &reset).await?;
    Ok(())
}

/// Sets the new password of a verified reset. A second submission (or a
/// concurrent one) finds the reset done and changes nothing.
pub async fn finish_reset(
    provider: &Provider,
    cookie: &str,
    new_password: &str,
    confirmation: &str,
) -> Result<(), StepError<PasswordRefusal>> {
    let key = reset_key(provider, cookie);
    let eph = &provider.core.ephemeral;
    let Some(raw) = eph.get(&key).await? else {
        return refuse(PasswordRefusal::NotVerified);
    };
    let Ok(reset) = serde_json::from_slice::<Reset>(&raw) else {
        return refuse(PasswordRefusal::NotVerified);
    };
    match reset.stage {
        Stage::Done => return Ok(()),
        Stage::CodeSent => return refuse(PasswordRefusal::NotVerified),
        Stage::Verified => {}
    }
    check_new(new_password, confirmation, &reset.email)?;
    let hash = hash(new_password).await?;
    let done = Reset {
        stage: Stage::Done,
        ..reset.clone()
    };
    let done = serde_json::to_vec(&done).map_err(|e| EnrolError::Internal(e.to_string()))?;
    // Exactly one submission moves the reset to done and writes.
    let claimed = Replace::Value(&done, RESET_TTL);
    if !eph
        .compare_and_set(&key, Expect::Value(&raw), claimed)
        .await?
    {
        return match progress(provider, cookie).await?.map(|r| r.stage) {
            Some(Stage::Done) => Ok(()),
            _ => refuse(PasswordRefusal::NotVerified),
        };
    }
    let address = reset.email.clone();
    let written = provider
        .core
        .db
        .write(move |conn| {
            let Some(account) = accounts::by_email(conn, &address)? else {
                return Ok(None);
            };
            replace_password(conn, &account.id, &hash, RESET_AUDIT)?;
            Ok(Some(account.email))
        })
        .await;
    match written {
        Ok(Some(to)) => {
            notify_changed(provider, to).await;
            Ok(())
        }
        // The account went away between the code and now.
        Ok(None) => refuse(PasswordRefusal::NotVerified),
        Err(e) => {
            // Nothing was written: let the person submit again.
            let back = Replace::Value(&raw, RESET_TTL);
            let _ = eph.compare_and_set(&key, Expect::Value(&done), back).await;
            Err(e.into())
        }
    }
}

/// A password changed from the account page: the new authentication to
/// open the browser's fresh session with, after `revoked_at_ms` (every
/// other session of the account ended then).
#[derive(Debug)]
pub struct Changed {
    pub auth: Authenticated,
    pub revoked_at_ms: i64,
}

/// Changes the password of the signed-in `account_id`: the current one is
/// checked through the password attempt limits (counted before Argon2).
pub async fn change(
    provider: &Provider,
    account_id: &str,
    current: &str,
    new_password: &str,
    confirmation: &str,
    client_ip: &str,
) -> Result<Changed, StepError<PasswordRefusal>> {
    let person = Person::load(provider, account_id).await?;
    let Some(email) = person.as_ref().map(|p| p.account.email.clone()) else {
        return refuse(PasswordRefusal::Current(LoginFailure::Invalid));
    };
    check_new(new_password, confirmation, &email)?;
    let checked = login::check_credentials(provider, &email, current, client_ip).await;
    let account = checked.map_err(|e| match e {
        ServiceError::Refused(failure) => ServiceError::Refused(PasswordRefusal::Current(failure)),
        ServiceError::Failed(e) => ServiceError::Failed(EnrolError::Oidc(e)),
    })?;
    if account.id != account_id {
        return refuse(PasswordRefusal::Current(LoginFailure::Invalid));
    }
    let hash = hash(new_password).await?;
    let id = account.id.clone();
    let revoked_at_ms = provider
        .core
        .db
        .write(move |conn| replace_password(conn, &id, &hash, CHANGE_AUDIT))
        .await?;
    notify_changed(provider, account.email).await;
    let proofing = person
        .map(|p| p.proofing())
        .unwrap_or(acr::Proofing::Declared);
    let auth = Authenticated {
        account_id: account.id,
        sid: random_token().map_err(|e| EnrolError::Internal(e.to_string()))?,
        auth_time: now_unix(),
        authentication: Authentication::Password,
        acr: acr::achieved(proofing, Authentication::Password),
    };
    Ok(Changed {
        auth,
        revoked_at_ms,
    })
}

/// The enrolment policy, and the confirmation.
fn check_new(
    new_password: &str,
    confirmation: &str,
    email: &str,
) -> Result<(), StepError<PasswordRefusal>> {
    if new_password != confirmation {
        return refuse(PasswordRefusal::Mismatch);
    }
    password::check(new_password, email)
        .map_err(|p| ServiceError::Refused(PasswordRefusal::Weak(p)))
}

/// Argon2id on the blocking pool.
async fn hash(new_password: &str) -> Result<String, EnrolError> {
    let owned = new_password.to_owned();
    tokio::task::spawn_blocking(move || login::hash_password(&owned))
        .await
        .map_err(|e| EnrolError::Internal(e.to_string()))?
        .map_err(EnrolError::from)
}

/// The new hash, the audit entry and the account-wide revocation, in the
/// caller's transaction; returns the revocation instant (unix ms).
fn replace_password(
    conn: &mut DbConnection,
    account_id: &str,
    hash: &str,
    action: &str,
) -> Result<i64, StoreError> {
    accounts::set_password_hash(conn, account_id, hash)?;
    audit::append(
        conn,
        &AuditEvent {
            actor: &format!("account:{account_id}"),
            action,
            subject: account_id,
            details: serde_json::json!({}),
        },
    )?;
    let at = now_millis();
    token_revocations::revoke_all(conn, account_id, at)?;
    Ok(at)
}

/// The notice after a reset or a change. The password is already changed:
/// a mailer failure is logged, not shown.
async fn notify_changed(provider: &Provider, to: String) {
    let base = &provider.core.config.server.public_url;
    let message = changed_message(to, base);
    if let Err(e) = provider.core.notifier.send_email(&message).await {
        tracing::warn!(error = %e, "password-changed notice not sent");
    }
}

fn reset_code_message(to: String, code: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre code pour changer de mot de passe Sésame / Your Sésame password code"
            .to_owned(),
        text: format!(
            "Bonjour,\n\nVotre code pour choisir un nouveau mot de passe est : {code}\n\
             Il est valable 15 minutes.\n\n\
             Si vous n'avez pas demandé à changer de mot de passe, ignorez ce message : \
             votre mot de passe reste le même.\n\n---\n\n\
             Hello,\n\nYour code to choose a new password is: {code}\n\
             It is valid for 15 minutes.\n\n\
             If you did not ask to change your password, ignore this message: \
             your password stays the same.\n"
        ),
        html: None,
    }
}

fn changed_message(to: String, base: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre mot de passe Sésame a été modifié / Your Sésame password was changed"
            .to_owned(),
        text: format!(
            "Bonjour,\n\nVotre mot de passe a été modifié. Toutes vos sessions ont été \
             fermées : connectez-vous avec le nouveau mot de passe.\n\n\
             Si ce n'est pas vous, changez tout de suite votre mot de passe : \
             {base}/compte/mot-de-passe-oublie\n\
             puis vérifiez vos appareils dans votre compte : {base}/compte\n\n---\n\n\
             Hello,\n\nYour password was changed. All your sessions were closed: \
             log in with the new password.\n\n\
             If this was not you, change your password at once: \
             {base}/compte/mot-de-passe-oublie\n\
             then check your devices in your account: {base}/compte\n"
        ),
        html: None,
    }
}
