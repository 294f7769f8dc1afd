//! What the services hand to the pages, the console and the CLI: the fields
//! they read, never a `store` row. No password hash, PIN verifier, device
//! key, activation-code hash, remote-verification challenge (except to its
//! own citizen, see `enrol::Collecting`) or audit hash leaves through these.

use serde::Serialize;

use crate::domain::account::{AccountState, RequestStatus, VerificationMethod};
use crate::domain::agent::Role;
use crate::domain::device::DeviceState;
use crate::store::accounts::{AccountRow, IdentityRow};
use crate::store::agents::{ActivationRow, AgentRow};
use crate::store::audit::AuditRow;
use crate::store::devices::DeviceRow;
use crate::store::enrolment::RequestRow;

/// An account (never its password hash).
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: String,
    pub state: AccountState,
    pub email: String,
    /// E.164; shown masked.
    pub phone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: r.id,
            state: r.state,
            email: r.email,
            phone: r.phone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The declared identity (never the document).
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub given_name: String,
    pub family_name: String,
    pub preferred_username: Option<String>,
    pub birthdate: String,
    pub gender: String,
    pub birthplace: String,
    pub birthcountry: String,
    pub verified_at: Option<i64>,
    pub verification_method: Option<VerificationMethod>,
}

impl From<IdentityRow> for Identity {
    fn from(r: IdentityRow) -> Self {
        Identity {
            given_name: r.given_name,
            family_name: r.family_name,
            preferred_username: r.preferred_username,
            birthdate: r.birthdate,
            gender: r.gender,
            birthplace: r.birthplace,
            birthcountry: r.birthcountry,
            verified_at: r.verified_at,
            verification_method: r.verification_method,
        }
    }
}

/// A verification request (never its video challenge).
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: String,
    pub method: VerificationMethod,
    pub reference: Option<String>,
    pub status: RequestStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub office: Option<String>,
    pub reason: Option<String>,
    pub reason_category: Option<crate::domain::account::RefusalCategory>,
    /// Face to face at the citizen's home (a postman visits).
    pub home_visit: bool,
}

impl From<RequestRow> for Request {
    fn from(r: RequestRow) -> Self {
        Request {
            id: r.id,
            method: r.method,
            reference: r.reference,
            status: r.status,
            created_at: r.created_at,
            expires_at: r.expires_at,
            submitted_at: r.submitted_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
            office: r.office,
            reason: r.reason,
            reason_category: r.reason_category,
            home_visit: r.home_visit,
        }
    }
}

/// A pending activation code (never its hash).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Activation {
    pub expires_at: i64,
    /// Failed attempts so far.
    pub attempts: i32,
}

impl From<ActivationRow> for Activation {
    fn from(r: ActivationRow) -> Self {
        Activation {
            expires_at: r.expires_at,
            attempts: r.attempts,
        }
    }
}

/// An app installation as support sees it (never its key or PIN verifier).
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub state: DeviceState,
    pub pin_failures: i32,
    pub number_failures: i32,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        Device {
            id: r.id,
            name: r.name,
            state: r.state,
            pin_failures: r.pin_failures,
            number_failures: r.number_failures,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// One audit entry (without the chain's hashes).
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    /// The JSON details as stored.
    pub details: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            details: r.details,
        }
    }
}

/// An agent as the roster lists it (never the password hash or the sealed
/// TOTP secret); serialised with the same fields as before.
#[derive(Debug, Clone, Serialize)]
pub struct RosterAgent {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub office: Option<String>,
    /// Whether a TOTP secret is set up (not serialised).
    #[serde(skip)]
    pub has_totp: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<AgentRow> for RosterAgent {
    fn from(r: AgentRow) -> Self {
        RosterAgent {
            has_totp: r.totp_sealed.is_some(),
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role: r.role,
            office: r.office,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
