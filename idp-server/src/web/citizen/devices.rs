//! The identity and the devices on `/compte` (issue #16): what the account
//! page lists (`device_lines`, `identity_lines`), and the rename and revoke
//! forms, each over one service (`device::devices::rename`,
//! `citizen::devices::revoke`). Both answer with the account page and a
//! notice; a revocation ends every session of the account, this browser's
//! too, so the page comes back under a fresh session.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::device::{DeviceError, devices};
use crate::domain::device::{DeviceState, LockReason};
use crate::domain::paris;
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::store::now_millis;
use crate::views::Identity;
use crate::web::cookies;
use crate::web::csrf::{self, CsrfForm, Purpose};
use crate::web::enrol::account::after_action;
use crate::web::enrol::extract::Session;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, Texts};

pub const RENAME: &str = "/compte/appareils/renommer";
pub const REVOKE: &str = "/compte/appareils/revoquer";

/// One device as `/compte` lists it.
pub struct DeviceLine {
    pub id: String,
    pub name: String,
    pub activated: String,
    pub last_used: String,
    pub state: String,
    /// Not revoked: it can be renamed and revoked.
    pub live: bool,
}

/// The declared identity as `/compte` shows it.
pub struct IdentityLines {
    pub given_names: String,
    pub family_name: String,
    pub birthdate: String,
    /// "Identité vérifiée le …" or "pas encore vérifiée".
    pub verification: String,
    pub verified: bool,
}

/// "03/12/2026": the day, Paris time.
fn day(unix: i64) -> String {
    paris::local(unix)
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// "1990-05-17" as a French reader writes it.
fn birthdate(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| iso.to_owned())
}

pub fn identity_lines(t: &'static Texts, identity: &Identity) -> IdentityLines {
    let c = t.contact;
    IdentityLines {
        given_names: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        birthdate: birthdate(&identity.birthdate),
        verification: match identity.verified_at {
            Some(at) => (c.identity_verified)(&day(at)),
            None => c.identity_unverified.to_owned(),
        },
        verified: identity.verified_at.is_some(),
    }
}

/// The account's devices, oldest first.
pub async fn device_lines(
    provider: &Provider,
    lang: Lang,
    account_id: &str,
) -> Result<Vec<DeviceLine>, PageError> {
    let c = i18n::texts(lang).contact;
    let rows = devices::list(&provider.core, account_id)
        .await
        .or_page(lang)?;
    Ok(rows
        .into_iter()
        .map(|row| DeviceLine {
            live: row.state != DeviceState::Revoked,
            state: match row.state {
                DeviceState::Active => c.state_active,
                DeviceState::Locked => match row.lock_reason() {
                    LockReason::WrongPins => c.state_locked,
                    LockReason::WrongNumbers => c.state_locked_numbers,
                },
                DeviceState::Revoked => c.state_revoked,
            }
            .to_owned(),
            activated: day(row.created_at),
            last_used: row
                .last_used_at
                .map_or_else(|| c.device_never_used.to_owned(), paris::format),
            id: row.id,
            name: row.name,
        })
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RenameForm {
    device: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeviceForm {
    device: String,
}

/// A refusal of the device services as the notice on `/compte`; a failure
/// stays an error.
fn notice(lang: Lang, error: DeviceError) -> Result<&'static str, PageError> {
    let c = i18n::texts(lang).contact;
    match error {
        DeviceError::InvalidRequest(_) => Ok(c.bad_name),
        DeviceError::UnknownDevice => Ok(c.unknown_device),
        other => Err(PageError::failure(lang, other)),
    }
}

pub async fn rename_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<RenameForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let renamed = devices::rename(&provider.core, &bound.account_id, &form.device, &form.name);
    let said = match renamed.await {
        Ok(_) => i18n::texts(lang).contact.renamed,
        Err(e) => notice(lang, e)?,
    };
    after_action(&provider, &bound, said).await
}

/// Every session ends with the device's revocation; this browser's page
/// comes back under a fresh one.
pub async fn revoke_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<DeviceForm, Session>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang;
    let revoked = crate::citizen::devices::revoke(&provider, &bound.account_id, &form.device);
    let auth = match revoked.await {
        Ok(auth) => auth,
        Err(e) => return after_action(&provider, &bound, notice(lang, e)?).await,
    };
    let fresh = session::create_after(&provider, &auth, now_millis()).await;
    let fresh = fresh_session(&provider, &bound, fresh.or_page(lang)?);
    let mut page = after_action(&provider, &fresh, i18n::texts(lang).contact.revoked).await?;
    let _ = page.add_cookie(&cookies::session(&provider, fresh.cookie));
    Ok(page)
}

/// The signed-in browser under its new session cookie (and its forms'
/// token, derived from it).
fn fresh_session(provider: &Provider, old: &Session, cookie: String) -> Session {
    Session {
        lang: old.lang,
        account_id: old.account_id.clone(),
        csrf: csrf::derive(provider, Purpose::Enrolment, &cookie),
        cookie,
    }
}
