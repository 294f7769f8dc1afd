//! The citizen's RGPD rights from `/compte`: the export of their data
//! ("Télécharger mes données") and the deletion of their digital identity
//! ("Supprimer mon identité numérique").
//!
//! The export ([`export`]) is everything the service holds about the
//! account, read in one transaction, without a single secret: no password
//! hash, PIN verifier, device key, code hash, TOTP, video challenge, audit
//! hash or document number (the types below have no field for them). The
//! document photos and the video are not in it: they are kept sealed only
//! until the retention period after the decision, and are given on a
//! separate written request (docs/operations.md, "Retention").
//!
//! The deletion takes the password (through the login attempt limits), then
//! a 6-digit email code of its own purpose (`otp::Purpose::Erasure`, the
//! enrolment rules), then a final confirmation. [`erase`] then runs one
//! transaction: the account row and everything personal bound to it are
//! deleted (`store::erasure::erase_account`: identity, document, requests
//! and media, devices and push subscriptions, consents, refresh tokens,
//! activation code, revocation marker) and one audit entry
//! (`account.erased`) keeps the account's random id with keyed digests
//! (HMAC under the `erasure-pseudonym` subkey) of its email and phone in
//! place of the values. No session, access token or refresh token can
//! stand afterwards: `token_revocations::*_stands` refuse an account that
//! does not exist, so a login that was under way fails at its next step.
//! Then the pending approval is cancelled, this browser's session ends and
//! a last email tells the address that the identity was deleted.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::Core;
use crate::crypto::hmac_hex;
use crate::enrol::otp::{self, CheckFailure, Issue, Purpose, SendRefusal};
use crate::enrol::{EnrolError, StepError};
use crate::ephemeral::{EphemeralStore, Expect, Replace, keys};
use crate::notify::EmailMessage;
use crate::oidc::Provider;
use crate::oidc::login::{self, LoginFailure};
use crate::outcome::{ServiceError, refuse};
use crate::store::audit::{self, AuditEvent};
use crate::store::erasure::{self, Erased};
use crate::store::login_history::{self, LoginRow};
use crate::store::{DbConnection, StoreError, accounts, consents, devices, enrolment, now_unix};
use crate::views;

/// The audit action of a deletion by the citizen.
pub const ERASED: &str = "account.erased";

/// The export format's name and version (the first key of the file).
pub const FORMAT: &str = "sesame-export/1";

/// How many audit entries of the account the export lists at most.
const HISTORY_LIMIT: i64 = 10_000;

/// Everything the service holds about one citizen, as the JSON file of
/// "Télécharger mes données". No type here has a field for a secret.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub exported_at: i64,
    pub account: ExportedAccount,
    pub identity: Option<views::Identity>,
    pub document: Option<ExportedDocument>,
    pub verification_requests: Vec<ExportedRequest>,
    pub devices: Vec<ExportedDevice>,
    pub consents: Vec<ExportedConsent>,
    /// The logins to partner sites, newest first.
    pub connection_history: Vec<LoginRow>,
    /// What was recorded about the account, newest first.
    pub history: Vec<ExportedEvent>,
    /// What the file leaves out on purpose, in words.
    pub not_included: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedAccount {
    pub email: String,
    pub phone: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The identity document as declared: its kind and dates (the number is
/// stored sealed and only as a keyed hash, and is not exported).
#[derive(Debug, Clone, Serialize)]
pub struct ExportedDocument {
    pub kind: String,
    pub issued_on: String,
    pub expires_on: String,
    pub declared_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedRequest {
    pub method: String,
    pub status: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub office: Option<String>,
    pub reason: Option<String>,
    /// Kinds of the photos and video held for it (not their content).
    pub media: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedDevice {
    pub name: String,
    pub state: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedConsent {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedEvent {
    pub action: String,
    pub at: i64,
}

const NOT_INCLUDED: [&str; 3] = [
    "secrets: password, app secret code (PIN), device keys, codes",
    "the identity document's number, photos and video: on written request to the operator",
    "internal integrity data of the audit log",
];

/// The export of `account_id`, or `None` if the account does not exist.
pub async fn export(core: &Core, account_id: &str) -> Result<Option<Export>, StoreError> {
    let id = account_id.to_owned();
    core.db.read(move |conn| export_in(conn, &id)).await
}

fn export_in(conn: &mut DbConnection, id: &str) -> Result<Option<Export>, StoreError> {
    let Some(account) = accounts::by_id(conn, id)? else {
        return Ok(None);
    };
    let mut requests = Vec::new();
    for r in requests_of(conn, id)? {
        requests.push(ExportedRequest {
            media: enrolment::media_kinds(conn, &r.id)?,
            method: r.method.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            reference: r.reference,
            created_at: r.created_at,
            submitted_at: r.submitted_at,
            decided_at: r.decided_at,
            office: r.office,
            reason: r.reason,
        });
    }
    Ok(Some(Export {
        format: FORMAT,
        exported_at: now_unix(),
        account: ExportedAccount {
            email: account.email,
            phone: account.phone,
            state: account.state.as_str().to_owned(),
            created_at: account.created_at,
            updated_at: account.updated_at,
        },
        identity: accounts::identity(conn, id)?.map(views::Identity::from),
        document: enrolment::document(conn, id)?.map(|d| ExportedDocument {
            kind: d.kind,
            issued_on: d.issued_on,
            expires_on: d.expires_on,
            declared_at: d.created_at,
        }),
        verification_requests: requests,
        devices: devices::of_account(conn, id)?
            .into_iter()
            .map(|d| ExportedDevice {
                name: d.name,
                state: d.state.as_str().to_owned(),
                created_at: d.created_at,
                last_used_at: d.last_used_at,
                revoked_at: d.revoked_at,
            })
            .collect(),
        consents: consents::of_account(conn, id)?
            .into_iter()
            .map(
                |(client_id, client_name, scopes, granted_at)| ExportedConsent {
                    client_id,
                    client_name,
                    scopes: scopes
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    granted_at,
                },
            )
            .collect(),
        connection_history: connection_history(conn, id)?,
        history: audit::for_subject(conn, id, HISTORY_LIMIT)?
            .into_iter()
            .map(|e| ExportedEvent {
                action: e.action,
                at: e.at,
            })
            .collect(),
        not_included: NOT_INCLUDED.to_vec(),
    }))
}

/// Every verification request of the account, newest first.
fn requests_of(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Vec<enrolment::RequestRow>, StoreError> {
    use crate::store::schema::verification_requests as v;
    use diesel::prelude::*;
    Ok(v::table
        .filter(v::account_id.eq(id))
        .order(v::created_at.desc())
        .load(conn)?)
}

/// The account's logins to partner sites (partner, time, acr, approximate
/// IP, user agent, outcome), newest first, from `login_history`.
fn connection_history(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<LoginRow>, StoreError> {
    login_history::all(conn, account_id)
}

/// How long a deletion stays open between its steps (the code's lifetime).
const ERASURE_TTL: Duration = Duration::from_secs(15 * 60);

/// Where a deletion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The password was right; a code was sent to the account's address.
    CodeSent,
    /// The code was typed: only the final confirmation remains.
    Confirmed,
    /// Deleted.
    Done,
}

/// A deletion in progress, under the session cookie's lookup hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Erasing {
    pub account_id: String,
    pub email: String,
    pub stage: Stage,
}

/// Why a step of the deletion did not happen (nothing was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureRefusal {
    /// The password is wrong, or too many attempts.
    Password(LoginFailure),
    /// The code could not be sent (cooldown, hourly cap).
    Send(SendRefusal),
    /// The code is wrong, expired or used up.
    Code(CheckFailure),
    /// No deletion in progress for this session (expired): start again.
    NotStarted,
}

fn erasure_key(provider: &Provider, cookie: &str) -> String {
    keys::erasure(&provider.lookup_hash(cookie))
}

/// The deletion in progress for this session's `cookie` and `account_id`.
pub async fn progress(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
) -> Result<Option<Erasing>, EnrolError> {
    let found: Option<Erasing> = provider
        .core
        .ephemeral
        .get_json(&erasure_key(provider, cookie))
        .await?;
    Ok(found.filter(|e| e.account_id == account_id))
}

async fn save(provider: &Provider, cookie: &str, erasing: &Erasing) -> Result<(), EnrolError> {
    Ok(provider
        .core
        .ephemeral
        .set_json(&erasure_key(provider, cookie), erasing, ERASURE_TTL)
        .await?)
}

fn password_refusal(
    e: ServiceError<LoginFailure, crate::oidc::error::OidcError>,
) -> StepError<ErasureRefusal> {
    match e {
        ServiceError::Refused(f) => ServiceError::Refused(ErasureRefusal::Password(f)),
        ServiceError::Failed(e) => ServiceError::Failed(EnrolError::Oidc(e)),
    }
}

/// First step: the signed-in citizen's password (counted by the login
/// limits before Argon2), then a code to the account's address.
pub async fn start(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
    password: &str,
    client_ip: &str,
) -> Result<(), StepError<ErasureRefusal>> {
    let id = account_id.to_owned();
    let account = provider
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await?;
    let Some(email) = account.map(|a| a.email) else {
        return refuse(ErasureRefusal::Password(LoginFailure::Invalid));
    };
    let checked = login::check_credentials(provider, &email, password, client_ip).await;
    if checked.map_err(password_refusal)?.id != account_id {
        return refuse(ErasureRefusal::Password(LoginFailure::Invalid));
    }
    let reservation = otp::reserve(provider, Purpose::Erasure, &email, client_ip)
        .await
        .map_err(|e| e.map_refused(ErasureRefusal::Send))?;
    let notifier = provider.core.notifier.clone();
    let to = email.clone();
    reservation
        .issue(provider, Issue::Code, |code| async move {
            match code {
                Some(code) => notifier.send_email(&code_message(to, &code)).await,
                None => Ok(()),
            }
        })
        .await?;
    let erasing = Erasing {
        account_id: account_id.to_owned(),
        email,
        stage: Stage::CodeSent,
    };
    save(provider, cookie, &erasing).await?;
    Ok(())
}

/// Second step: the email code. A deletion already past it is left as is.
pub async fn verify_code(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
    code: &str,
) -> Result<(), StepError<ErasureRefusal>> {
    let Some(mut erasing) = progress(provider, cookie, account_id).await? else {
        return refuse(ErasureRefusal::NotStarted);
    };
    if erasing.stage != Stage::CodeSent {
        return Ok(());
    }
    otp::check(provider, Purpose::Erasure, &erasing.email, code)
        .await
        .map_err(|e| e.map_refused(ErasureRefusal::Code))?;
    erasing.stage = Stage::Confirmed;
    save(provider, cookie, &erasing).await?;
    Ok(())
}

/// Final step: deletes the identity of a confirmed deletion. Exactly one
/// submission claims it (compare-and-set on the stored progress); a second
/// one, or a concurrent one, finds it done and changes nothing.
pub async fn erase(
    provider: &Provider,
    cookie: &str,
    account_id: &str,
) -> Result<(), StepError<ErasureRefusal>> {
    let key = erasure_key(provider, cookie);
    let eph = &provider.core.ephemeral;
    let Some(raw) = eph.get(&key).await? else {
        return refuse(ErasureRefusal::NotStarted);
    };
    let erasing = match serde_json::from_slice::<Erasing>(&raw) {
        Ok(e) if e.account_id == account_id => e,
        _ => return refuse(ErasureRefusal::NotStarted),
    };
    match erasing.stage {
        // Claimed before: finish it, in case the process stopped between
        // the claim and the transaction (a no-op once the account is gone).
        Stage::Done => {
            return finish(provider, cookie, account_id)
                .await
                .map_err(Into::into);
        }
        Stage::CodeSent => return refuse(ErasureRefusal::NotStarted),
        Stage::Confirmed => {}
    }
    let done = Erasing {
        stage: Stage::Done,
        ..erasing.clone()
    };
    let done = serde_json::to_vec(&done).map_err(|e| EnrolError::Internal(e.to_string()))?;
    let claimed = Replace::Value(&done, ERASURE_TTL);
    if !eph
        .compare_and_set(&key, Expect::Value(&raw), claimed)
        .await?
    {
        return match progress(provider, cookie, account_id)
            .await?
            .map(|e| e.stage)
        {
            Some(Stage::Done) => Ok(()),
            _ => refuse(ErasureRefusal::NotStarted),
        };
    }
    match finish(provider, cookie, account_id).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // Nothing was written: let the person confirm again.
            let back = Replace::Value(&raw, ERASURE_TTL);
            let _ = eph.compare_and_set(&key, Expect::Value(&done), back).await;
            Err(e.into())
        }
    }
}

/// The erasure of a claimed deletion, then what follows it (approval,
/// ephemeral state, session, last email) when it erased something.
async fn finish(provider: &Provider, cookie: &str, account_id: &str) -> Result<(), StoreError> {
    let actor = format!("account:{account_id}");
    if let Some(email) = erase_account(&provider.core, account_id, &actor).await? {
        after_erasure(provider, account_id, cookie).await;
        notify_erased(provider, email).await;
    }
    Ok(())
}

/// The one transaction of a deletion: everything personal of the account
/// deleted, one audit entry (`action`, by `actor`) with keyed digests of
/// the email and phone. Returns the address it had, or `None` if the
/// account was already gone. Shared with the purge of abandoned
/// enrolments (`citizen::retention`), which calls [`erase_in`].
pub async fn erase_account(
    core: &Core,
    account_id: &str,
    actor: &str,
) -> Result<Option<String>, StoreError> {
    let key = core.subkeys.erasure_key;
    let (id, who) = (account_id.to_owned(), actor.to_owned());
    core.db
        .write(move |conn| erase_in(conn, &key, &id, &who, ERASED))
        .await
}

/// [`erase_account`]'s transaction body, in the caller's transaction.
pub fn erase_in(
    conn: &mut DbConnection,
    erasure_key: &[u8; 32],
    account_id: &str,
    actor: &str,
    action: &str,
) -> Result<Option<String>, StoreError> {
    let Some(account) = accounts::by_id(conn, account_id)? else {
        return Ok(None);
    };
    let Some(erased) = erasure::erase_account(conn, account_id)? else {
        return Ok(None);
    };
    audit::append(
        conn,
        &AuditEvent {
            actor,
            action,
            subject: account_id,
            details: erased_details(erasure_key, &account, &erased),
        },
    )?;
    Ok(Some(account.email))
}

/// What the audit entry of an erasure keeps: keyed digests in place of the
/// email and phone, the state it was in, and counts.
fn erased_details(
    erasure_key: &[u8; 32],
    account: &accounts::AccountRow,
    erased: &Erased,
) -> serde_json::Value {
    serde_json::json!({
        "email_digest": pseudonym(erasure_key, &account.email),
        "phone_digest": account.phone.as_deref().map(|p| pseudonym(erasure_key, p)),
        "previous_state": account.state.as_str(),
        "removed": erased,
    })
}

/// The keyed digest that stands for an erased email address or phone
/// number (lower-cased first, so an operator can recompute it from the
/// address as typed).
pub fn pseudonym(erasure_key: &[u8; 32], value: &str) -> String {
    hmac_hex(erasure_key, value.trim().to_lowercase().as_bytes())
}

/// What lives in the ephemeral store about the account, ended after the
/// deletion (best effort: all of it expires by itself, and nothing of it
/// stands once the account is gone).
async fn after_erasure(provider: &Provider, account_id: &str, cookie: &str) {
    let core = &provider.core;
    if let Err(e) = crate::device::challenge::cancel_of_account(core, account_id).await {
        tracing::warn!(error = %e, "approval of an erased account not cancelled");
    }
    for key in [
        keys::enrolment_draft(account_id),
        keys::enrolment_phone(account_id),
    ] {
        let _ = core.ephemeral.delete(&key).await;
    }
    if let Err(e) = crate::oidc::session::destroy(provider, cookie).await {
        tracing::warn!(error = %e, "session of an erased account not ended");
    }
}

async fn notify_erased(provider: &Provider, to: String) {
    if let Err(e) = provider.core.notifier.send_email(&erased_message(to)).await {
        tracing::warn!(error = %e, "deletion notice not sent");
    }
}

fn code_message(to: String, code: &str) -> EmailMessage {
    EmailMessage {
        to,
        subject: "Votre code pour supprimer votre identité numérique Sésame / Your code to delete your Sésame identity".to_owned(),
        text: format!(
            "Bonjour,\n\nVotre code pour confirmer la suppression de votre identité numérique est : {code}\n\
             Il est valable 15 minutes.\n\n\
             Si vous n'avez pas demandé cette suppression, ne communiquez ce code à personne et \
             changez votre mot de passe : quelqu'un le connaît.\n\n---\n\n\
             Hello,\n\nYour code to confirm the deletion of your digital identity is: {code}\n\
             It is valid for 15 minutes.\n\n\
             If you did not ask for this deletion, give this code to nobody and change your \
             password: someone knows it.\n"
        ),
        html: None,
    }
}

fn erased_message(to: String) -> EmailMessage {
    EmailMessage {
        to,
        subject:
            "Votre identité numérique Sésame a été supprimée / Your Sésame identity was deleted"
                .to_owned(),
        text: "Bonjour,\n\nVotre identité numérique a été supprimée, comme vous l'avez demandé. \
             Vos données personnelles ont été effacées, vos appareils et vos sessions ne \
             fonctionnent plus. Vous pouvez créer une nouvelle identité avec cette adresse \
             quand vous le souhaitez.\n\n---\n\n\
             Hello,\n\nYour digital identity was deleted, as you asked. Your personal data was \
             erased; your devices and sessions no longer work. You may create a new identity \
             with this address whenever you wish.\n"
            .to_owned(),
        html: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_ignore_case_and_spaces() {
        let key = [1u8; 32];
        let digest = pseudonym(&key, "camille@exemple.fr");
        assert_eq!(digest.len(), 64);
        assert_eq!(pseudonym(&key, " Camille@Exemple.FR "), digest);
        assert_ne!(pseudonym(&[2u8; 32], "camille@exemple.fr"), digest);
        assert_ne!(pseudonym(&key, "camille@exemple.com"), digest);
    }

    #[test]
    fn the_export_types_name_no_secret() {
        let names = serde_json::to_string(&NOT_INCLUDED).unwrap();
        assert!(names.contains("secrets"));
        let device = ExportedDevice {
            name: "Pixel".into(),
            state: "active".into(),
            created_at: 1,
            last_used_at: None,
            revoked_at: None,
        };
        let json = serde_json::to_value(&device).unwrap();
        let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at", "last_used_at", "name", "revoked_at", "state"]
        );
    }
}
