//! The citizen's devices from `/compte`: rename and revoke go through
//! `device::devices` (shared with the app and support), so a revocation
//! here does what the app's does: the device refuses every request, its
//! push subscription goes, one `device.revoked` entry, and every session,
//! access token and refresh family of the account ends. The browser that
//! revoked then gets a fresh session at the password level (a revoked
//! device cannot have proved anything for it).

use crate::crypto::random_token;
use crate::device::DeviceError;
use crate::device::devices;
use crate::domain::acr::{self, Authentication};
use crate::oidc::Provider;
use crate::oidc::claims::Person;
use crate::oidc::types::Authenticated;
use crate::store::now_unix;

/// Revokes one of the account's devices (actor `account:…`); returns the
/// authentication of this browser's fresh session.
pub async fn revoke(
    provider: &Provider,
    account_id: &str,
    device_id: &str,
) -> Result<Authenticated, DeviceError> {
    let actor = format!("account:{account_id}");
    devices::revoke(&provider.core, account_id, device_id, &actor, None).await?;
    let person = Person::load(provider, account_id).await?;
    let proofing = person
        .map(|p| p.proofing())
        .unwrap_or(acr::Proofing::Declared);
    Ok(Authenticated {
        account_id: account_id.to_owned(),
        sid: random_token()?,
        auth_time: now_unix(),
        authentication: Authentication::Password,
        acr: acr::achieved(proofing, Authentication::Password),
    })
}
