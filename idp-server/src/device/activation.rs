//! Activation (DESIGN §7, §8): email, password, the 6-digit activation code,
//! a new PIN and the device's public key give a device id, and the account
//! moves from verified to active (or from device_locked to active, replacing
//! the locked devices).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{DeviceError, pin_verifier, request};
use crate::domain::account::{AccountEvent, AccountState};
use crate::domain::pin::{Pin, PinError};
use crate::oidc::Provider;
use crate::oidc::login::{self, LoginFailure};
use crate::ratelimit::Limit;
use crate::store::accounts::{self, AccountRow, Change, Entry, Refused};
use crate::store::audit::{self, AuditEvent};
use crate::store::{agents, devices, now_unix};

pub const DEFAULT_NAME: &str = "Mon téléphone";
/// New activation codes a citizen may request per hour.
const CODE_REQUESTS_PER_HOUR: i64 = 3;

#[derive(Debug, Deserialize)]
pub struct ActivationRequest {
    pub email: String,
    pub password: String,
    pub activation_code: String,
    pub pin: String,
    pub public_key: Value,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Activated {
    pub device_id: String,
    pub name: String,
    pub account_state: &'static str,
}

/// A device name as shown in the list: trimmed, 1–64 characters, no controls.
pub fn device_name(raw: Option<&str>) -> Result<String, DeviceError> {
    let name = raw.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return if raw.is_none() {
            Ok(DEFAULT_NAME.to_owned())
        } else {
            Err(DeviceError::InvalidRequest("name must not be empty".into()))
        };
    }
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(DeviceError::InvalidRequest(
            "name must be at most 64 characters, without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Email + password with the login's attempt limits.
async fn credentials(
    provider: &Provider,
    email: &str,
    password: &str,
    ip: &str,
) -> Result<AccountRow, DeviceError> {
    use crate::outcome::ServiceError::{Failed, Refused};
    match login::check_credentials(provider, email, password, ip).await {
        Ok(account) => Ok(account),
        Err(Refused(LoginFailure::Invalid)) => Err(DeviceError::InvalidCredentials),
        Err(Refused(LoginFailure::Suspended)) => Err(DeviceError::NotActivatable),
        Err(Refused(LoginFailure::Throttled { retry_after })) => {
            Err(DeviceError::Throttled { retry_after })
        }
        Err(Failed(e)) => Err(e.into()),
    }
}

/// The account event an activation applies in `state`, `None` when it adds
/// a device to an active account, an error when activation is not possible.
fn activation_event(state: AccountState) -> Result<Option<AccountEvent>, DeviceError> {
    match state {
        AccountState::Verified => Ok(Some(AccountEvent::Activate)),
        AccountState::DeviceLocked => Ok(Some(AccountEvent::UnlockDevice)),
        AccountState::Active => Ok(None),
        _ => Err(DeviceError::NotActivatable),
    }
}

enum Outcome {
    Activated(&'static str),
    Refused(DeviceError),
}

pub async fn activate(
    provider: &Provider,
    request: ActivationRequest,
    ip: &str,
) -> Result<Activated, DeviceError> {
    // Cheap checks first: they change nothing and count nothing.
    let pin = Pin::choose(&request.pin).map_err(|e| match e {
        PinError::Format => DeviceError::InvalidPin,
        PinError::Trivial => DeviceError::WeakPin,
    })?;
    let public_jwk = request::canonical_public_key(&request.public_key)?;
    let name = device_name(request.name.as_deref())?;
    let code = request.activation_code.trim().to_owned();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DeviceError::InvalidRequest(
            "activation_code must be the 6 digits received by SMS".into(),
        ));
    }
    let account = credentials(provider, &request.email, &request.password, ip).await?;
    activation_event(account.state)?;

    let device_id = uuid::Uuid::new_v4().to_string();
    let verifier = pin_verifier(&provider.core.subkeys.pin_pepper, &device_id, &pin);
    let code_hash = crate::verification::activation_hash(&provider.core, &account.id, &code);
    let (account_id, id, device_name) = (account.id.clone(), device_id.clone(), name.clone());
    let outcome = provider
        .core
        .db
        .write(move |conn| {
            let Some(current) = crate::store::accounts::by_id(conn, &account_id)? else {
                return Ok(Outcome::Refused(DeviceError::NotActivatable));
            };
            let event = match activation_event(current.state) {
                Ok(event) => event,
                Err(e) => return Ok(Outcome::Refused(e)),
            };
            let Some(stored) = agents::activation(conn, &account_id)? else {
                return Ok(Outcome::Refused(DeviceError::NoActivationCode));
            };
            if stored.expires_at <= now_unix() {
                return Ok(Outcome::Refused(DeviceError::ActivationCodeExpired));
            }
            // Counted before comparing, so parallel guesses cannot exceed the limit.
            let Some(attempts) = agents::count_activation_attempt(conn, &account_id)? else {
                return Ok(Outcome::Refused(DeviceError::ActivationCodeVoid));
            };
            let actor = format!("account:{account_id}");
            if !crate::crypto::constant_time_eq(stored.code_hash.as_bytes(), code_hash.as_bytes()) {
                let left = agents::MAX_ACTIVATION_ATTEMPTS - attempts;
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: &actor,
                        action: "activation.code_failure",
                        subject: &account_id,
                        details: serde_json::json!({ "attempts_left": left }),
                    },
                )?;
                return Ok(Outcome::Refused(if left == 0 {
                    DeviceError::ActivationCodeVoid
                } else {
                    DeviceError::InvalidActivationCode {
                        attempts_left: left,
                    }
                }));
            }
            agents::delete_activation(conn, &account_id)?;
            // The device and its audit entry, with the account's move when
            // there is one (verified → active, device_locked → active).
            let activate = |conn: &mut crate::store::DbConnection,
                            state: &str,
                            replaced: usize|
             -> Result<Entry, crate::store::StoreError> {
                devices::insert(
                    conn,
                    &devices::NewDevice {
                        id: &id,
                        account_id: &account_id,
                        name: &device_name,
                        public_jwk: &public_jwk,
                        pin_verifier: &verifier,
                    },
                )?;
                Ok(Entry {
                    actor: actor.clone(),
                    action: "device.activated",
                    details: serde_json::json!({
                        // No name: the audit log names no person
                        // (docs/ARCHITECTURE.md, "Erasure and the audit chain").
                        "device": id,
                        "state": state,
                        "replaced_locked_devices": replaced,
                    }),
                })
            };
            let state = match event {
                Some(event) => {
                    let moved = accounts::transition(
                        conn,
                        &account_id,
                        Change::Event(event),
                        |conn, moved| {
                            let replaced = if event == AccountEvent::UnlockDevice {
                                crate::store::push::delete_for_devices_in_state(
                                    conn,
                                    &account_id,
                                    crate::domain::device::DeviceState::Locked,
                                )?;
                                devices::revoke_locked(conn, &account_id)?
                            } else {
                                0
                            };
                            activate(conn, moved.to.as_str(), replaced)
                        },
                    )?;
                    match moved {
                        Ok(moved) => moved.to,
                        Err(Refused::Raced { .. }) => {
                            return Ok(Outcome::Refused(DeviceError::NotActivatable));
                        }
                        Err(Refused::Illegal { why, .. }) => {
                            return Err(crate::store::StoreError::Corrupt(why.to_string()));
                        }
                    }
                }
                None => {
                    activate(conn, current.state.as_str(), 0)?.append(conn, &account_id)?;
                    current.state
                }
            };
            Ok(Outcome::Activated(state.as_str()))
        })
        .await?;
    match outcome {
        Outcome::Activated(account_state) => {
            crate::push::PushService::alert(
                &provider.core.push,
                &account.id,
                crate::push::Alert::DeviceActivated,
            );
            notify_activation(provider, &account.email, &name).await;
            Ok(Activated {
                device_id,
                name,
                account_state,
            })
        }
        Outcome::Refused(e) => Err(e),
    }
}

/// Tells the citizen a device was activated on their account (best effort:
/// the activation stands anyway), so an activation they did not make shows.
async fn notify_activation(provider: &Provider, email: &str, device_name: &str) {
    let message = crate::notify::EmailMessage {
        to: email.to_owned(),
        subject: "Application Sésame activée".to_owned(),
        text: format!(
            "Bonjour,\n\nL'application Sésame a été activée sur un appareil nommé « {device_name} ». \
             Elle peut désormais approuver vos connexions avec votre code secret.\n\n\
             Si ce n'était pas vous, changez votre mot de passe et contactez le support : \
             l'appareil sera révoqué.\n"
        ),
        html: None,
    };
    if let Err(e) = provider.core.notifier.send_email(&message).await {
        tracing::warn!(error = %e, "could not send the activation email");
    }
}

/// A new activation code by SMS and email (after a lock, or when the first
/// one expired), for the holder of the email and password.
pub async fn request_code(
    provider: &Provider,
    email: &str,
    password: &str,
    ip: &str,
) -> Result<(), DeviceError> {
    let account = credentials(provider, email, password, ip).await?;
    activation_event(account.state)?;
    let limit = Limit {
        name: "activation:code_requests",
        max: CODE_REQUESTS_PER_HOUR,
        window: Duration::from_secs(3600),
    };
    if let Some(retry_after) = limit
        .hit_key(
            &provider.core,
            crate::ephemeral::keys::activation_code_requests(&account.id),
        )
        .await?
    {
        return Err(DeviceError::Throttled { retry_after });
    }
    let actor = format!("account:{}", account.id);
    if !crate::verification::issue_activation_code(&provider.core, &account.id, &actor).await? {
        return Err(DeviceError::NotActivatable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(device_name(None).unwrap(), DEFAULT_NAME);
        assert_eq!(device_name(Some("  Pixel  ")).unwrap(), "Pixel");
        assert!(device_name(Some("   ")).is_err());
        assert!(device_name(Some(&"x".repeat(65))).is_err());
        assert!(device_name(Some("a\u{7}b")).is_err());
    }

    #[test]
    fn activation_is_possible_from_verified_active_and_locked_only() {
        let event = |s: &str| activation_event(AccountState::parse(s).expect("a state"));
        assert_eq!(event("verified").unwrap(), Some(AccountEvent::Activate));
        assert_eq!(
            event("device_locked").unwrap(),
            Some(AccountEvent::UnlockDevice)
        );
        assert_eq!(event("active").unwrap(), None);
        for state in [
            "email_verified",
            "suspended",
            "rejected",
            "awaiting_verification_remote",
        ] {
            assert!(event(state).is_err(), "{state}");
        }
    }
}
