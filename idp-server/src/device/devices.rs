//! The citizen's devices (list, rename, revoke), also used by the console
//! and the CLI for account support.

use serde::Serialize;

use super::DeviceError;
use crate::app::Core;
use crate::store::audit::{self, AuditEvent};
use crate::store::devices::{self, DeviceRow};
use crate::store::{now_millis, token_revocations};

/// A device as the app and the console show it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    pub state: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The device that made the request.
    pub current: bool,
    /// Whether the device has a Web Push subscription (the device API's list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<bool>,
}

impl DeviceView {
    pub fn new(row: DeviceRow, current: &str) -> Self {
        DeviceView {
            current: row.id == current,
            id: row.id,
            name: row.name,
            state: row.state.as_str().to_owned(),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            notifications: None,
        }
    }
}

pub async fn list(core: &Core, account_id: &str) -> Result<Vec<DeviceRow>, DeviceError> {
    let id = account_id.to_owned();
    Ok(core
        .db
        .read(move |conn| devices::of_account(conn, &id))
        .await?)
}

/// What the app's "Mes appareils" shows: every device of the account, the
/// caller's marked, each with whether it receives notifications.
pub async fn views(
    core: &Core,
    account_id: &str,
    current: &str,
) -> Result<Vec<DeviceView>, DeviceError> {
    let rows = list(core, account_id).await?;
    let subscribed = core.push.subscribed_devices(account_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| DeviceView {
            notifications: Some(subscribed.contains(&row.id)),
            ..DeviceView::new(row, current)
        })
        .collect())
}

pub async fn rename(
    core: &Core,
    account_id: &str,
    device_id: &str,
    name: &str,
) -> Result<DeviceRow, DeviceError> {
    let name = super::activation::device_name(Some(name))?;
    let (account, device) = (account_id.to_owned(), device_id.to_owned());
    core.db
        .write(move |conn| {
            if !devices::rename(conn, &account, &device, &name)? {
                return Ok(None);
            }
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("account:{account}"),
                    action: "device.renamed",
                    subject: &account,
                    // The new name stays on the device row only: the audit
                    // log names no person.
                    details: serde_json::json!({ "device": device }),
                },
            )?;
            devices::by_id(conn, &device)
        })
        .await?
        .ok_or(DeviceError::UnknownDevice)
}

/// Revokes one of the account's devices. `actor` is the audit actor
/// (`account:…` from the app, `agent:…` or `cli:…` for support).
pub async fn revoke(
    core: &Core,
    account_id: &str,
    device_id: &str,
    actor: &str,
    reason: Option<&str>,
) -> Result<(), DeviceError> {
    let (account, device, actor) = (
        account_id.to_owned(),
        device_id.to_owned(),
        actor.to_owned(),
    );
    let reason = reason.map(str::to_owned);
    let revoked = core
        .db
        .write(move |conn| {
            if !devices::revoke(conn, &account, &device)? {
                return Ok(false);
            }
            // A revoked device is never woken again.
            crate::store::push::delete(conn, &device)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &actor,
                    action: "device.revoked",
                    subject: &account,
                    details: serde_json::json!({ "device": device, "reason": reason }),
                },
            )?;
            // Grants do not record which device approved them: every access
            // token of the account issued until now stops.
            token_revocations::revoke_all(conn, &account, now_millis())?;
            Ok(true)
        })
        .await?;
    if revoked {
        Ok(())
    } else {
        Err(DeviceError::UnknownDevice)
    }
}
