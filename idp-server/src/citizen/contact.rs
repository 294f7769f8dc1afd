//! Changing the mobile number or the email address from `/compte`
//! (issue #16): current password → the new number or address → a 6-digit
//! code sent to the NEW one → one transaction that writes it with one audit
//! entry (`account.mobile_changed` / `account.email_changed`). Afterwards
//! the address is told (email) and, for a number, the old number too (SMS);
//! for an address, the old address gets a notice. Neither touches the
//! account's state, its identity (it stays verified) or its devices (they
//! stay bound to the account).
//!
//! The codes follow the enrolment rules (`enrol::otp`: 5 attempts counted
//! atomically, one-minute cooldown, hourly caps per number or address and
//! per IP counted before anything is looked up) under their own purposes.
//! A number or address already used by another account gets the same
//! answer and pages as a free one: a decoy code nobody can type, and no
//! message, so nothing tells the browser who holds it, and nothing changes.
//! Progress lives under `ephemeral::keys::{mobile_change, email_change}`;
//! exactly one correct submission writes (compare-and-set), a double
//! submission finds the change done.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::email::Email;
use crate::domain::phone::FrenchMobile;
use crate::enrol::otp::{self, CheckFailure, Issue, Purpose, SendRefusal};
use crate::enrol::{EnrolError, StepError};
use crate::ephemeral::{EphemeralStore, Expect, Replace, keys};
use crate::notify::{EmailMessage, SmsMessage};
use crate::oidc::Provider;
use crate::oidc::login::{self, LoginFailure};
use crate::outcome::{ServiceError, refuse};
use crate::store::audit::{self, AuditEvent};
use crate::store::enrolment::{phone_in_use, set_phone};
use crate::store::{DbConnection, StoreError, accounts};

/// Audit action of a new mobile number.
pub const MOBILE_AUDIT: &str = "account.mobile_changed";
/// Audit action of a new email address.
pub const EMAIL_AUDIT: &str = "account.email_changed";

/// What is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Mobile,
    Email,
}

impl Channel {
    fn purpose(self) -> Purpose {
        match self {
            Channel::Mobile => Purpose::MobileChange,
            Channel::Email => Purpose::EmailChange,
        }
    }
    fn key(self, account_id: &str) -> String {
        match self {
            Channel::Mobile => keys::mobile_change(account_id),
            Channel::Email => keys::email_change(account_id),
        }
    }
    /// How long a change stays open (its code's life), and how long a
    /// finished one is remembered for a double submission.
    fn ttl(self) -> Duration {
        self.purpose().ttl()
    }
}

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A code (or a decoy) was sent to the new number or address.
    CodeSent,
    /// The new number or address is written.
    Done,
}

/// A change in progress, under the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// The new number (E.164) or address.
    pub to: String,
    pub stage: Stage,
}

impl Change {
    /// The new value as shown on the code page: a masked number, the address.
    pub fn shown(&self, channel: Channel) -> String {
        match channel {
            Channel::Mobile => FrenchMobile::parse(&self.to)
                .map(|p| p.masked())
                .unwrap_or_default(),
            Channel::Email => self.to.clone(),
        }
    }
}

/// Why a change did not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRefusal {
    /// The current password is wrong, or too many attempts.
    Current(LoginFailure),
    /// The new number or address is the account's own already.
    Same(Channel),
    /// The account has no number yet (enrolment not past its phone step).
    NoNumber,
    /// Cooldown or hourly cap.
    Send(SendRefusal),
    /// A wrong, expired or exhausted code, or no change open.
    Code(CheckFailure),
}

fn lift<R>(e: StepError<R>, f: impl FnOnce(R) -> ContactRefusal) -> StepError<ContactRefusal> {
    e.map_refused(f)
}

/// The change open for the account on `channel`, if any.
pub async fn progress(
    provider: &Provider,
    channel: Channel,
    account_id: &str,
) -> Result<Option<Change>, EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .get_json(&channel.key(account_id))
        .await?)
}

/// Checks the current password of `account_id` through the login attempt
/// limits (counted before Argon2); returns the account.
async fn check_password(
    provider: &Provider,
    account_id: &str,
    current: &str,
    client_ip: &str,
) -> Result<accounts::AccountRow, StepError<ContactRefusal>> {
    let id = account_id.to_owned();
    let Some(account) = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await?
    else {
        return refuse(ContactRefusal::Current(LoginFailure::Invalid));
    };
    let checked = login::check_credentials(provider, &account.email, current, client_ip).await;
    let checked = checked.map_err(|e| match e {
        ServiceError::Refused(failure) => ServiceError::Refused(ContactRefusal::Current(failure)),
        ServiceError::Failed(e) => ServiceError::Failed(EnrolError::Oidc(e)),
    })?;
    if checked.id != account_id {
        return refuse(ContactRefusal::Current(LoginFailure::Invalid));
    }
    Ok(checked)
}

/// Starts a change of mobile number: the password, then a code to `new`
/// (a decoy when another account uses it).
pub async fn start_mobile(
    provider: &Provider,
    account_id: &str,
    current: &str,
    new: &FrenchMobile,
    client_ip: &str,
) -> Result<(), StepError<ContactRefusal>> {
    let account = check_password(provider, account_id, current, client_ip).await?;
    match account.phone.as_deref() {
        None => return refuse(ContactRefusal::NoNumber),
        Some(own) if own == new.as_str() => return refuse(ContactRefusal::Same(Channel::Mobile)),
        Some(_) => {}
    }
    send_code(
        provider,
        Channel::Mobile,
        account_id,
        new.as_str(),
        client_ip,
    )
    .await
}

/// Starts a change of email address: the password, then a code to `new`
/// (a decoy when another account uses it).
pub async fn start_email(
    provider: &Provider,
    account_id: &str,
    current: &str,
    new: &Email,
    client_ip: &str,
) -> Result<(), StepError<ContactRefusal>> {
    let account = check_password(provider, account_id, current, client_ip).await?;
    if account.email == new.as_str() {
        return refuse(ContactRefusal::Same(Channel::Email));
    }
    send_code(
        provider,
        Channel::Email,
        account_id,
        new.as_str(),
        client_ip,
    )
    .await
}

/// "Renvoyer un code": a new code to the change's number or address (the
/// password was checked when it started).
pub async fn resend(
    provider: &Provider,
    channel: Channel,
    account_id: &str,
    client_ip: &str,
) -> Result<(), StepError<ContactRefusal>> {
    let open = progress(provider, channel, account_id).await?;
    let Some(change) = open.filter(|c| c.stage == Stage::CodeSent) else {
        return refuse(ContactRefusal::Code(CheckFailure::Expired));
    };
    send_code(provider, channel, account_id, &change.to, client_ip).await
}

/// Whether another account holds `to`.
fn in_use(
    conn: &mut DbConnection,
    channel: Channel,
    to: &str,
    account_id: &str,
) -> Result<bool, StoreError> {
    match channel {
        Channel::Mobile => phone_in_use(conn, to, account_id),
        Channel::Email => Ok(accounts::by_email(conn, to)?.is_some_and(|a| a.id != account_id)),
    }
}

/// The limits first, then the lookup, then a code or a decoy, then the
/// change opened: the same steps and answer whoever holds `to`.
async fn send_code(
    provider: &Provider,
    channel: Channel,
    account_id: &str,
    to: &str,
    client_ip: &str,
) -> Result<(), StepError<ContactRefusal>> {
    let reservation = otp::reserve(provider, channel.purpose(), to, client_ip)
        .await
        .map_err(|e| lift(e, ContactRefusal::Send))?;
    let (address, id) = (to.to_owned(), account_id.to_owned());
    let taken = provider
        .core
        .db
        .read(move |conn| in_use(conn, channel, &address, &id))
        .await?;
    let issue = if taken { Issue::Decoy } else { Issue::Code };
    let notifier = provider.core.notifier.clone();
    let address = to.to_owned();
    reservation
        .issue(provider, issue, |code| async move {
            match (code, channel) {
                (None, _) => Ok(()),
                (Some(code), Channel::Mobile) => {
                    notifier.send_sms(&mobile_code_sms(address, &code)).await
                }
                (Some(code), Channel::Email) => {
                    notifier
                        .send_email(&email_code_message(address, &code))
                        .await
                }
            }
        })
        .await?;
    let change = Change {
        to: to.to_owned(),
        stage: Stage::CodeSent,
    };
    let key = channel.key(account_id);
    provider
        .core
        .ephemeral
        .set_json(&key, &change, channel.ttl())
        .await?;
    Ok(())
}

/// Confirms the change with its code: one transaction writes the new number
/// or address and the audit entry; then the notices. A second submission
/// finds the change done and changes nothing.
pub async fn confirm(
    provider: &Provider,
    channel: Channel,
    account_id: &str,
    code: &str,
) -> Result<(), StepError<ContactRefusal>> {
    let key = channel.key(account_id);
    let eph = &provider.core.ephemeral;
    let expired = || refuse(ContactRefusal::Code(CheckFailure::Expired));
    let Some(raw) = eph.get(&key).await? else {
        return expired();
    };
    let Ok(change) = serde_json::from_slice::<Change>(&raw) else {
        return expired();
    };
    if change.stage == Stage::Done {
        return Ok(());
    }
    otp::check(provider, channel.purpose(), &change.to, code)
        .await
        .map_err(|e| lift(e, ContactRefusal::Code))?;
    let done = Change {
        stage: Stage::Done,
        ..change.clone()
    };
    let done = serde_json::to_vec(&done).map_err(|e| EnrolError::Internal(e.to_string()))?;
    if !eph
        .compare_and_set(
            &key,
            Expect::Value(&raw),
            Replace::Value(&done, channel.ttl()),
        )
        .await?
    {
        return match progress(provider, channel, account_id).await? {
            Some(c) if c.stage == Stage::Done => Ok(()),
            _ => expired(),
        };
    }
    let written = write(provider, channel, account_id, &change.to).await;
    match written {
        Ok(Some(previous)) => {
            notify(provider, channel, previous, change.to).await;
            Ok(())
        }
        Ok(None) => {
            let _ = eph.delete(&key).await;
            expired()
        }
        Err(e) => {
            // Nothing was written: let the person submit again.
            let back = Replace::Value(&raw, channel.ttl());
            let _ = eph.compare_and_set(&key, Expect::Value(&done), back).await;
            Err(e.into())
        }
    }
}

/// What the account had before: its address, and its old number for a
/// mobile change.
struct Previous {
    email: String,
    phone: Option<String>,
}

/// The one transaction: the new value, unless another account took it
/// meanwhile (`None`, nothing written), and the audit entry.
async fn write(
    provider: &Provider,
    channel: Channel,
    account_id: &str,
    to: &str,
) -> Result<Option<Previous>, EnrolError> {
    let (id, to) = (account_id.to_owned(), to.to_owned());
    Ok(provider
        .core
        .db
        .write(move |conn| {
            let Some(account) = accounts::by_id(conn, &id)? else {
                return Ok(None);
            };
            if in_use(conn, channel, &to, &id)? {
                return Ok(None);
            }
            let action = match channel {
                Channel::Mobile => {
                    set_phone(conn, &id, &to)?;
                    MOBILE_AUDIT
                }
                Channel::Email => {
                    accounts::set_email(conn, &id, &to)?;
                    EMAIL_AUDIT
                }
            };
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("account:{id}"),
                    action,
                    subject: &id,
                    details: serde_json::json!({}),
                },
            )?;
            Ok(Some(Previous {
                email: account.email,
                phone: account.phone,
            }))
        })
        .await?)
}

/// The notices after a change; the change is written: a failure is
/// logged, not shown.
async fn notify(provider: &Provider, channel: Channel, previous: Previous, to: String) {
    let base = provider.core.config.server.public_url.clone();
    let notifier = &provider.core.notifier;
    let sent = match channel {
        Channel::Mobile => {
            let masked = FrenchMobile::parse(&to)
                .map(|p| p.masked())
                .unwrap_or_default();
            let email = notifier
                .send_email(&mobile_changed_message(previous.email, &masked, &base))
                .await;
            match previous.phone {
                Some(old) => email.and(notifier.send_sms(&old_number_sms(old, &base)).await),
                None => email,
            }
        }
        Channel::Email => {
            notifier
                .send_email(&email_changed_message(previous.email, &to, &base))
                .await
        }
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "contact-change notice not sent");
    }
}

fn mobile_code_sms(to: String, code: &str) -> SmsMessage {
    SmsMessage {
        to,
        text: format!(
            "Sésame : votre code pour enregistrer ce nouveau numéro est {code}. \
             Il est valable 10 minutes."
        ),
    }
}

fn old_number_sms(to: String, base: &str) -> SmsMessage {
    SmsMessage {
        to,
        text: format!(
            "Sésame : le numéro de mobile de votre identité numérique a été remplacé. \
             Si ce n'est pas vous, vérifiez votre compte : {base}/compte"
        ),
    }
}

fn email_code_message(to: String, code: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre code pour changer d'adresse Sésame / Your Sésame address code".to_owned(),
        text: format!(
            "Bonjour,\n\nVotre code pour enregistrer cette adresse électronique est : {code}\n\
             Il est valable 15 minutes.\n\n\
             Si vous n'avez rien demandé, ignorez ce message.\n\n---\n\n\
             Hello,\n\nYour code to register this email address is: {code}\n\
             It is valid for 15 minutes.\n\n\
             If you did not ask for it, ignore this message.\n"
        ),
        html: None,
    }
}

fn mobile_changed_message(to: String, masked: &str, base: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject:
            "Votre numéro de mobile Sésame a été modifié / Your Sésame mobile number was changed"
                .to_owned(),
        text: format!(
            "Bonjour,\n\nLe numéro de mobile de votre identité numérique est maintenant \
             le {masked}. Vos appareils restent associés à votre compte.\n\n\
             Si ce n'est pas vous, changez votre mot de passe et vérifiez votre compte : \
             {base}/compte\n\n---\n\n\
             Hello,\n\nThe mobile number of your digital identity is now {masked}. \
             Your devices stay bound to your account.\n\n\
             If this was not you, change your password and check your account: {base}/compte\n"
        ),
        html: None,
    }
}

fn email_changed_message(to: String, new: &str, base: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre adresse Sésame a été modifiée / Your Sésame address was changed".to_owned(),
        text: format!(
            "Bonjour,\n\nL'adresse électronique de votre identité numérique est maintenant \
             {new}. Cette adresse-ci ne permet plus de vous connecter.\n\n\
             Si ce n'est pas vous, contactez le support Sésame et vérifiez votre compte : \
             {base}/compte\n\n---\n\n\
             Hello,\n\nThe email address of your digital identity is now {new}. \
             This address no longer logs you in.\n\n\
             If this was not you, contact Sésame support and check your account: {base}/compte\n"
        ),
        html: None,
    }
}
