//! Blocking a digital identity (a lost or stolen phone, a fraud): from the
//! console's account support, the CLI, or the citizen's own space.
//!
//! One transaction moves the account to `blocked` with its one audit entry
//! (`account.blocked`): every device revoked with its push subscription,
//! every access token of the account revoked (`token_revocations::revoke_all`,
//! which also ends its sessions and refresh families). Then the pending
//! approval is cancelled, the devices are told (subscriptions read before
//! they were deleted) and the citizen gets an email and an SMS. A blocked
//! identity refuses eidas2 until a new activation code is issued by the
//! normal route (`verification::issue_activation_code`), which moves it back
//! to `verified`.

use serde_json::json;

use crate::app::Core;
use crate::device::DeviceError;
use crate::domain::account::{AccountEvent, AccountState};
use crate::domain::device::DeviceState;
use crate::outcome::ServiceError;
use crate::push::{Alert, PushService};
use crate::store::accounts::{self, Change, Entry, Refused};
use crate::store::{StoreError, devices, now_millis, token_revocations};

/// The audit action of a block.
pub const BLOCKED: &str = "account.blocked";

/// What blocking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Blocked now; `devices` were revoked.
    Now { from: AccountState, devices: usize },
    /// It already was: nothing written, nothing sent.
    Already,
}

/// Why the identity was not blocked (nothing written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockRefusal {
    /// Only an identity that is verified (with or without an app) can be
    /// blocked; an enrolment or a suspended account cannot.
    NotBlockable(AccountState),
    /// The account changed meanwhile; trying again may work.
    Changed,
}

impl std::fmt::Display for BlockRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockRefusal::NotBlockable(state) => write!(
                f,
                "only a verified identity can be blocked; this account is {state}"
            ),
            BlockRefusal::Changed => f.write_str("the account changed meanwhile; try again"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Blocks the identity of `account_id`; `actor` is the audit actor
/// (`agent:…`, `cli:…`, `account:…`). Idempotent: an identity already
/// blocked is left as it is.
pub async fn block_identity(
    core: &Core,
    account_id: &str,
    actor: &str,
) -> Result<Blocked, ServiceError<BlockRefusal, BlockError>> {
    // The devices' subscriptions go with them: read them first.
    let alert =
        PushService::alert_before_revocation(&core.push, account_id, Alert::IdentityBlocked).await;
    let (id, who) = (account_id.to_owned(), actor.to_owned());
    let written = core
        .db
        .write(move |conn| {
            let mut revoked = Vec::new();
            let moved = accounts::transition(
                conn,
                &id,
                Change::Event(AccountEvent::Block),
                |conn, moved| {
                    for device in devices::of_account(conn, &id)? {
                        if device.state != DeviceState::Revoked
                            && devices::revoke(conn, &id, &device.id)?
                        {
                            crate::store::push::delete(conn, &device.id)?;
                            revoked.push(device.id);
                        }
                    }
                    token_revocations::revoke_all(conn, &id, now_millis())?;
                    Ok(Entry {
                        actor: who,
                        action: BLOCKED,
                        details: json!({
                            "previous_state": moved.from.as_str(),
                            "devices": &revoked,
                        }),
                    })
                },
            )?;
            Ok(moved.map(|moved| Blocked::Now {
                from: moved.from,
                devices: revoked.len(),
            }))
        })
        .await
        .map_err(BlockError::from)?;
    let blocked = match written {
        Ok(blocked) => blocked,
        Err(Refused::Illegal {
            current: AccountState::Blocked,
            ..
        }) => Blocked::Already,
        Err(Refused::Illegal { current, .. }) => {
            return Err(ServiceError::Refused(BlockRefusal::NotBlockable(current)));
        }
        Err(Refused::Raced { .. }) => return Err(ServiceError::Refused(BlockRefusal::Changed)),
    };
    // Whatever was waiting for an approval ends now (the account's state
    // would refuse it anyway).
    crate::device::challenge::cancel_of_account(core, account_id)
        .await
        .map_err(BlockError::from)?;
    if matches!(blocked, Blocked::Now { .. }) {
        alert.send();
        tell_citizen(core, account_id).await;
    }
    Ok(blocked)
}

/// Email and SMS to the citizen (best effort: the block stands anyway).
async fn tell_citizen(core: &Core, account_id: &str) {
    let id = account_id.to_owned();
    let Ok(Some(account)) = core.db.read(move |conn| accounts::by_id(conn, &id)).await else {
        return;
    };
    let messages =
        crate::notify::citizen::identity_blocked(&account.email, account.phone.as_deref());
    crate::notify::citizen::send(&core.notifier, "identity blocked", messages).await;
}

/// The audit action of approvals resumed by the citizen.
pub const APPROVALS_RESUMED: &str = "account.approvals_resumed";

/// The citizen confirms from `/compte` (after a password login) that the
/// reported logins were theirs: approvals paused after three fraud reports
/// resume. False (nothing written) if they were not paused: a second
/// submission changes nothing.
pub async fn resume_approvals(core: &Core, account_id: &str) -> Result<bool, StoreError> {
    let id = account_id.to_owned();
    core.db
        .write(move |conn| {
            let moved = accounts::transition(
                conn,
                &id,
                Change::Event(AccountEvent::ResumeApprovals),
                |_, _| {
                    Ok(Entry {
                        actor: format!("account:{id}"),
                        action: APPROVALS_RESUMED,
                        details: json!({}),
                    })
                },
            )?;
            Ok(moved.is_ok())
        })
        .await
}
