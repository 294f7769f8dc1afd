//! "Bloquer mon identité numérique" from `/compte` (a lost or stolen
//! phone): the signed-in citizen types their password (checked through the
//! password attempt limits, counted before Argon2), receives a 6-digit code
//! by email (`otp::Purpose::BlockIdentity`: 5 attempts counted atomically,
//! one-minute cooldown, hourly caps per address and per IP), and the code
//! blocks the identity through [`block::block_identity`] with the citizen
//! as actor (`account:{id}`): its one transaction and audit entry, devices
//! revoked, sessions and tokens ended, email + SMS. No phone is needed.
//!
//! The progress lives under the session cookie (`ephemeral::keys::identity_block`).
//! A second submission of the code, once the identity is blocked, changes
//! nothing and answers the same.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::block::{self, BlockError, BlockRefusal, Blocked};
use crate::device::DeviceError;
use crate::domain::account::AccountState;
use crate::enrol::otp::{self, CheckFailure, Issue, Purpose, SendRefusal};
use crate::enrol::{EnrolError, StepError};
use crate::ephemeral::keys;
use crate::notify::EmailMessage;
use crate::oidc::Provider;
use crate::oidc::login::{self, LoginFailure};
use crate::outcome::{ServiceError, refuse};
use crate::store::accounts;

/// How long the block stays open between its steps (the code's lifetime).
const TTL: Duration = Duration::from_secs(15 * 60);

/// The states `block::block_identity` accepts.
pub fn blockable(state: AccountState) -> bool {
    matches!(
        state,
        AccountState::Verified | AccountState::Active | AccountState::DeviceLocked
    )
}

/// Where a block stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The password was right; the code went to the address.
    CodeSent,
    /// The code was right: the identity is (being) blocked.
    Confirmed,
}

/// A block in progress, under the session cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub account_id: String,
    pub email: String,
    pub stage: Stage,
}

/// Why the identity was not blocked (nothing written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfBlockRefusal {
    /// Not a verified identity (an enrolment, suspended…), or already blocked.
    NotBlockable(AccountState),
    /// The password is wrong, or too many attempts.
    Password(LoginFailure),
    /// The code was sent too recently, or too often.
    Send(SendRefusal),
    /// The code is wrong, expired or used up.
    Code(CheckFailure),
    /// No block in progress for this browser (expired): start again.
    NotStarted,
    /// The account changed meanwhile.
    Changed,
}

fn progress_key(provider: &Provider, cookie: &str) -> String {
    keys::identity_block(&provider.lookup_hash(cookie))
}

/// The block in progress under `cookie` for `account_id`, if any.
pub async fn progress(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
) -> Result<Option<Progress>, EnrolError> {
    let found: Option<Progress> = provider
        .core
        .ephemeral
        .get_json(&progress_key(provider, cookie))
        .await?;
    Ok(found.filter(|p| p.account_id == account_id))
}

async fn save(provider: &Provider, cookie: &str, progress: &Progress) -> Result<(), EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .set_json(&progress_key(provider, cookie), progress, TTL)
        .await?)
}

/// The account's state, for the first page (`None`: no such account).
pub async fn state(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<AccountState>, EnrolError> {
    let id = account_id.to_owned();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await?;
    Ok(account.map(|a| a.state))
}

/// Checks the password of the signed-in `account_id` and emails the code.
pub async fn start(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
    password: &str,
    client_ip: &str,
) -> Result<(), StepError<SelfBlockRefusal>> {
    let id = account_id.to_owned();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await?;
    let Some(account) = account else {
        return refuse(SelfBlockRefusal::Password(LoginFailure::Invalid));
    };
    if !blockable(account.state) {
        return refuse(SelfBlockRefusal::NotBlockable(account.state));
    }
    let checked = login::check_credentials(provider, &account.email, password, client_ip).await;
    let checked = checked.map_err(|e| match e {
        ServiceError::Refused(failure) => {
            ServiceError::Refused(SelfBlockRefusal::Password(failure))
        }
        ServiceError::Failed(e) => ServiceError::Failed(EnrolError::Oidc(e)),
    })?;
    if checked.id != account.id {
        return refuse(SelfBlockRefusal::Password(LoginFailure::Invalid));
    }
    let reservation = otp::reserve(provider, Purpose::BlockIdentity, &account.email, client_ip)
        .await
        .map_err(|e| e.map_refused(SelfBlockRefusal::Send))?;
    let (notifier, to) = (provider.core.notifier.clone(), account.email.clone());
    reservation
        .issue(provider, Issue::Code, |code| async move {
            match code {
                Some(code) => notifier.send_email(&code_message(to, &code)).await,
                None => Ok(()),
            }
        })
        .await?;
    let progress = Progress {
        account_id: account.id,
        email: account.email,
        stage: Stage::CodeSent,
    };
    Ok(save(provider, cookie, &progress).await?)
}

/// Checks the code and blocks the identity. A block already confirmed
/// under this cookie is simply done again (`block_identity` leaves a
/// blocked identity as it is).
pub async fn confirm(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
    code: &str,
) -> Result<Blocked, StepError<SelfBlockRefusal>> {
    let Some(mut at) = progress(provider, cookie, account_id).await? else {
        return refuse(SelfBlockRefusal::NotStarted);
    };
    if at.stage == Stage::CodeSent {
        otp::check(provider, Purpose::BlockIdentity, &at.email, code)
            .await
            .map_err(|e| e.map_refused(SelfBlockRefusal::Code))?;
        at.stage = Stage::Confirmed;
        save(provider, cookie, &at).await?;
    }
    let actor = format!("account:{account_id}");
    let mut outcome = block::block_identity(&provider.core, account_id, &actor).await;
    if matches!(outcome, Err(ServiceError::Refused(BlockRefusal::Changed))) {
        // A twin submission of this form blocked it meanwhile: once more
        // finds it blocked (`Blocked::Already`), and this one is done too.
        outcome = block::block_identity(&provider.core, account_id, &actor).await;
    }
    match outcome {
        Ok(blocked) => Ok(blocked),
        Err(ServiceError::Refused(BlockRefusal::NotBlockable(state))) => {
            refuse(SelfBlockRefusal::NotBlockable(state))
        }
        Err(ServiceError::Refused(BlockRefusal::Changed)) => refuse(SelfBlockRefusal::Changed),
        Err(ServiceError::Failed(e)) => Err(ServiceError::Failed(failure(e))),
    }
}

fn failure(e: BlockError) -> EnrolError {
    match e {
        BlockError::Store(e) | BlockError::Device(DeviceError::Store(e)) => EnrolError::Store(e),
        BlockError::Device(DeviceError::Ephemeral(e)) => EnrolError::Ephemeral(e),
        BlockError::Device(other) => EnrolError::Internal(other.to_string()),
    }
}

fn code_message(to: String, code: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre code pour bloquer votre identité numérique Sésame / Your code to block your Sésame digital identity"
            .to_owned(),
        text: format!(
            "Bonjour,\n\nVotre code pour bloquer votre identité numérique est : {code}\n\
             Il est valable 15 minutes. Le saisir retire toutes vos applications Sésame \
             et ferme toutes vos sessions.\n\n\
             Si vous n'avez pas demandé ce blocage, quelqu'un connaît votre mot de passe : \
             changez-le depuis votre compte.\n\n---\n\n\
             Hello,\n\nYour code to block your digital identity is: {code}\n\
             It is valid for 15 minutes. Entering it removes all your Sésame apps \
             and closes all your sessions.\n\n\
             If you did not ask for this, someone knows your password: change it \
             from your account.\n"
        ),
        html: None,
    }
}
