//! Account life (DESIGN §7): states and the only transitions allowed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stored as text (`store::text_enum!`), the values of `as_str`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// At a post office, or at home by the postman.
    FaceToFace,
    /// Online review of document photos and a video.
    Remote,
}

impl VerificationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMethod::FaceToFace => "face_to_face",
            VerificationMethod::Remote => "remote",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "face_to_face" => Some(VerificationMethod::FaceToFace),
            "remote" => Some(VerificationMethod::Remote),
            _ => None,
        }
    }
}

impl fmt::Display for VerificationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Stored as text (`store::text_enum!`), the values of `as_str`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum AccountState {
    EmailVerified,
    PhoneVerified,
    IdentitySubmitted,
    AwaitingVerification(VerificationMethod),
    Verified,
    Active,
    Rejected,
    Suspended,
    DeviceLocked,
    /// Every device revoked (lost or stolen phone): eidas2 is refused until
    /// a new activation code is issued by the normal route.
    Blocked,
    /// Three "Ce n'est pas moi" in 24 hours: approvals are refused until the
    /// citizen resumes them from `/compte` (after a password login).
    ApprovalsPaused,
}

/// What happens to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEvent {
    VerifyPhone,
    SubmitIdentity,
    RequestVerification(VerificationMethod),
    CancelVerification,
    Verify,
    Reject,
    Activate,
    LockDevice,
    UnlockDevice,
    Suspend,
    /// The identity is blocked (lost phone, fraud): every device revoked.
    Block,
    /// A new activation code was issued to a blocked account.
    Unblock,
    /// The third fraud report in 24 hours.
    PauseApprovals,
    /// The citizen confirms from `/compte` and takes the identity back.
    ResumeApprovals,
    /// A verified identity declares a new document (the old one expires or
    /// has expired): it must be verified again.
    RenewDocument,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} is not allowed in state {from}")]
pub struct IllegalTransition {
    pub from: AccountState,
    pub event: AccountEvent,
}

/// Lifting a suspension to a state that cannot follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot restore {to} from state {from}")]
pub struct IllegalRestore {
    pub from: AccountState,
    pub to: AccountState,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::EmailVerified => "email_verified",
            AccountState::PhoneVerified => "phone_verified",
            AccountState::IdentitySubmitted => "identity_submitted",
            AccountState::AwaitingVerification(VerificationMethod::FaceToFace) => {
                "awaiting_verification_face_to_face"
            }
            AccountState::AwaitingVerification(VerificationMethod::Remote) => {
                "awaiting_verification_remote"
            }
            AccountState::Verified => "verified",
            AccountState::Active => "active",
            AccountState::Rejected => "rejected",
            AccountState::Suspended => "suspended",
            AccountState::DeviceLocked => "device_locked",
            AccountState::Blocked => "blocked",
            AccountState::ApprovalsPaused => "approvals_paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email_verified" => AccountState::EmailVerified,
            "phone_verified" => AccountState::PhoneVerified,
            "identity_submitted" => AccountState::IdentitySubmitted,
            "awaiting_verification_face_to_face" => {
                AccountState::AwaitingVerification(VerificationMethod::FaceToFace)
            }
            "awaiting_verification_remote" => {
                AccountState::AwaitingVerification(VerificationMethod::Remote)
            }
            "verified" => AccountState::Verified,
            "active" => AccountState::Active,
            "rejected" => AccountState::Rejected,
            "suspended" => AccountState::Suspended,
            "device_locked" => AccountState::DeviceLocked,
            "blocked" => AccountState::Blocked,
            "approvals_paused" => AccountState::ApprovalsPaused,
            _ => return None,
        })
    }

    /// The one place that decides which arrows exist.
    pub fn apply(self, event: AccountEvent) -> Result<AccountState, IllegalTransition> {
        use AccountEvent as E;
        use AccountState as S;
        let next = match (self, event) {
            (S::EmailVerified, E::VerifyPhone) => S::PhoneVerified,
            (S::PhoneVerified, E::SubmitIdentity) => S::IdentitySubmitted,
            // A rejected request may be started again with corrected data.
            (S::Rejected, E::SubmitIdentity) => S::IdentitySubmitted,
            (S::IdentitySubmitted, E::RequestVerification(m)) => S::AwaitingVerification(m),
            (S::AwaitingVerification(_), E::CancelVerification) => S::IdentitySubmitted,
            (S::AwaitingVerification(_), E::Verify) => S::Verified,
            (S::AwaitingVerification(_), E::Reject) => S::Rejected,
            (S::Verified, E::Activate) => S::Active,
            (S::Active, E::LockDevice) => S::DeviceLocked,
            (S::DeviceLocked, E::UnlockDevice) => S::Active,
            (S::Verified | S::Active | S::DeviceLocked | S::ApprovalsPaused, E::Block) => {
                S::Blocked
            }
            (S::Blocked, E::Unblock) => S::Verified,
            (S::Active, E::PauseApprovals) => S::ApprovalsPaused,
            (S::Verified | S::Active | S::DeviceLocked, E::RenewDocument) => S::IdentitySubmitted,
            (S::ApprovalsPaused, E::ResumeApprovals) => S::Active,
            (S::Suspended, _) => return Err(IllegalTransition { from: self, event }),
            (_, E::Suspend) => S::Suspended,
            _ => return Err(IllegalTransition { from: self, event }),
        };
        Ok(next)
    }

    /// Lifts a suspension: back to `previous`, the state the account had when
    /// it was suspended (recorded by the suspension, not an [`AccountEvent`],
    /// since the target depends on history). Only from `Suspended`, and only
    /// to a state that is not itself `Suspended`.
    pub fn restore_from_suspension(
        self,
        previous: AccountState,
    ) -> Result<AccountState, IllegalRestore> {
        if self != AccountState::Suspended || previous == AccountState::Suspended {
            return Err(IllegalRestore {
                from: self,
                to: previous,
            });
        }
        Ok(previous)
    }
}

/// Where a verification request stands. Stored as text (the same values as
/// before the type existed); `store::text_enum!` maps it on both backends.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// A remote request gathering its photos and video.
    Collecting,
    /// Waiting for a clerk (face-to-face) or a reviewer (remote).
    Pending,
    Verified,
    Rejected,
    /// Withdrawn by the person.
    Cancelled,
}

/// What happens to a verification request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEvent {
    /// The remote request's media are complete.
    Submit,
    /// The person withdraws it.
    Cancel,
    Verify,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} is not allowed for a request that is {from}")]
pub struct IllegalRequestTransition {
    pub from: RequestStatus,
    pub event: RequestEvent,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Collecting => "collecting",
            RequestStatus::Pending => "pending",
            RequestStatus::Verified => "verified",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "collecting" => RequestStatus::Collecting,
            "pending" => RequestStatus::Pending,
            "verified" => RequestStatus::Verified,
            "rejected" => RequestStatus::Rejected,
            "cancelled" => RequestStatus::Cancelled,
            _ => return None,
        })
    }

    /// Still open: it may yet be submitted, decided or withdrawn.
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::Collecting | RequestStatus::Pending)
    }

    /// The one place that decides which arrows exist: a request is
    /// submitted once, decided once, and withdrawn only while open.
    pub fn apply(self, event: RequestEvent) -> Result<RequestStatus, IllegalRequestTransition> {
        use RequestEvent as E;
        use RequestStatus as S;
        Ok(match (self, event) {
            (S::Collecting, E::Submit) => S::Pending,
            (S::Collecting | S::Pending, E::Cancel) => S::Cancelled,
            (S::Pending, E::Verify) => S::Verified,
            (S::Pending, E::Reject) => S::Rejected,
            _ => return Err(IllegalRequestTransition { from: self, event }),
        })
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a verification was refused, in the categories the citizen is told
/// (the agent's own words stay in the console and the audit log). Stored
/// as text (`store::text_enum!`), the values of `as_str`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCategory {
    /// The document is not valid, unreadable or expired.
    Document,
    /// The declared information does not match the document.
    Information,
    /// The person (or the photos and video) does not match the document.
    Person,
    Other,
}

impl RefusalCategory {
    pub const ALL: [RefusalCategory; 4] = [
        RefusalCategory::Document,
        RefusalCategory::Information,
        RefusalCategory::Person,
        RefusalCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCategory::Document => "document",
            RefusalCategory::Information => "information",
            RefusalCategory::Person => "person",
            RefusalCategory::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The category in plain French, as the citizen reads it (notices, the
    /// console's choices).
    pub fn french(self) -> &'static str {
        match self {
            RefusalCategory::Document => {
                "la pièce d'identité n'est pas valable, pas lisible ou a expiré"
            }
            RefusalCategory::Information => {
                "les informations déclarées ne correspondent pas à la pièce d'identité"
            }
            RefusalCategory::Person => {
                "la personne ne correspond pas à la photo de la pièce d'identité"
            }
            RefusalCategory::Other => "la vérification n'a pas pu être menée à bien",
        }
    }
}

impl fmt::Display for RefusalCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Serialised as its stored name (what the CLI's JSON and exports show).
impl Serialize for AccountState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Crockford base32 without I, L, O, U: easy to read aloud and to type.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A face-to-face reference: 8 characters of Crockford base32 (40 bits).
pub fn new_reference(random: [u8; 5]) -> String {
    let mut value = random
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out = [b'0'; 8];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(value & 31) as usize];
        value >>= 5;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

/// Reads a reference as typed by a person: case-insensitive, O→0, I/L→1, no spaces or dashes.
pub fn normalise_reference(raw: &str) -> Option<String> {
    let value: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (value.len() == 8 && value.bytes().all(|b| CROCKFORD.contains(&b))).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_categories_round_trip() {
        for c in RefusalCategory::ALL {
            assert_eq!(RefusalCategory::parse(c.as_str()), Some(c));
            assert!(!c.french().is_empty());
        }
        assert_eq!(RefusalCategory::parse("agent"), None);
    }

    #[test]
    fn request_arrows() {
        use RequestEvent as E;
        use RequestStatus as S;
        let all = [
            S::Collecting,
            S::Pending,
            S::Verified,
            S::Rejected,
            S::Cancelled,
        ];
        for status in all {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
        assert_eq!(S::Collecting.apply(E::Submit), Ok(S::Pending));
        assert_eq!(S::Collecting.apply(E::Cancel), Ok(S::Cancelled));
        assert_eq!(S::Pending.apply(E::Cancel), Ok(S::Cancelled));
        assert_eq!(S::Pending.apply(E::Verify), Ok(S::Verified));
        assert_eq!(S::Pending.apply(E::Reject), Ok(S::Rejected));
        // Decided once, submitted once; nothing leaves a closed request.
        assert!(S::Collecting.apply(E::Verify).is_err());
        assert!(S::Pending.apply(E::Submit).is_err());
        for closed in [S::Verified, S::Rejected, S::Cancelled] {
            assert!(!closed.is_open());
            for event in [E::Submit, E::Cancel, E::Verify, E::Reject] {
                assert!(closed.apply(event).is_err(), "{closed} {event:?}");
            }
        }
    }
    use AccountEvent as E;
    use AccountState as S;
    use VerificationMethod::*;

    #[test]
    fn the_happy_path() {
        let mut state = S::EmailVerified;
        for event in [
            E::VerifyPhone,
            E::SubmitIdentity,
            E::RequestVerification(FaceToFace),
            E::Verify,
            E::Activate,
        ] {
            state = state.apply(event).unwrap();
        }
        assert_eq!(state, S::Active);
    }

    #[test]
    fn every_arrow_and_some_non_arrows() {
        assert_eq!(
            S::AwaitingVerification(Remote).apply(E::CancelVerification),
            Ok(S::IdentitySubmitted)
        );
        assert_eq!(
            S::AwaitingVerification(Remote).apply(E::Reject),
            Ok(S::Rejected)
        );
        assert_eq!(
            S::Rejected.apply(E::SubmitIdentity),
            Ok(S::IdentitySubmitted)
        );
        for state in [S::Verified, S::Active, S::DeviceLocked] {
            assert_eq!(state.apply(E::RenewDocument), Ok(S::IdentitySubmitted));
        }
        for state in [S::Rejected, S::Blocked, S::Suspended, S::ApprovalsPaused] {
            assert!(state.apply(E::RenewDocument).is_err(), "{state}");
        }
        assert_eq!(S::Active.apply(E::LockDevice), Ok(S::DeviceLocked));
        assert_eq!(S::DeviceLocked.apply(E::UnlockDevice), Ok(S::Active));
        assert_eq!(S::Active.apply(E::Suspend), Ok(S::Suspended));
        for (state, event) in [
            (S::EmailVerified, E::SubmitIdentity),
            (S::PhoneVerified, E::Verify),
            (S::IdentitySubmitted, E::Verify),
            (S::Verified, E::RequestVerification(Remote)),
            (S::Suspended, E::Activate),
            (S::Suspended, E::Suspend),
            (S::Active, E::Verify),
        ] {
            assert!(state.apply(event).is_err(), "{state} {event:?}");
        }
        for state in [
            S::EmailVerified,
            S::Verified,
            S::DeviceLocked,
            S::AwaitingVerification(FaceToFace),
        ] {
            assert_eq!(S::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn a_suspension_is_lifted_to_the_previous_state_only() {
        for previous in [
            S::EmailVerified,
            S::AwaitingVerification(Remote),
            S::Verified,
            S::Active,
            S::Rejected,
            S::DeviceLocked,
        ] {
            let suspended = previous.apply(E::Suspend).unwrap();
            assert_eq!(suspended.restore_from_suspension(previous), Ok(previous));
        }
        assert_eq!(
            S::Suspended.restore_from_suspension(S::Suspended),
            Err(IllegalRestore {
                from: S::Suspended,
                to: S::Suspended
            })
        );
        for state in [S::Active, S::Verified, S::DeviceLocked] {
            assert!(state.restore_from_suspension(S::Active).is_err(), "{state}");
        }
    }

    #[test]
    fn blocking_and_unblocking() {
        for state in [S::Verified, S::Active, S::DeviceLocked] {
            assert_eq!(state.apply(E::Block), Ok(S::Blocked), "{state}");
        }
        assert_eq!(S::Blocked.apply(E::Unblock), Ok(S::Verified));
        assert_eq!(S::parse(S::Blocked.as_str()), Some(S::Blocked));
        assert_eq!(S::Blocked.as_str(), "blocked");
        // Blocked once; nothing but a new activation code (or a suspension)
        // leaves it.
        for event in [
            E::Block,
            E::Activate,
            E::UnlockDevice,
            E::LockDevice,
            E::Verify,
        ] {
            assert!(S::Blocked.apply(event).is_err(), "{event:?}");
        }
        for state in [
            S::EmailVerified,
            S::PhoneVerified,
            S::IdentitySubmitted,
            S::AwaitingVerification(FaceToFace),
            S::Rejected,
            S::Suspended,
        ] {
            assert!(state.apply(E::Block).is_err(), "{state}");
        }
        for state in [S::Verified, S::Active, S::DeviceLocked, S::Rejected] {
            assert!(state.apply(E::Unblock).is_err(), "{state}");
        }
        // A suspension of a blocked account is lifted back to blocked.
        let suspended = S::Blocked.apply(E::Suspend).unwrap();
        assert_eq!(
            suspended.restore_from_suspension(S::Blocked),
            Ok(S::Blocked)
        );
    }

    #[test]
    fn approvals_paused_and_resumed() {
        assert_eq!(S::Active.apply(E::PauseApprovals), Ok(S::ApprovalsPaused));
        assert_eq!(S::ApprovalsPaused.apply(E::ResumeApprovals), Ok(S::Active));
        assert_eq!(S::ApprovalsPaused.apply(E::Block), Ok(S::Blocked));
        assert_eq!(S::parse("approvals_paused"), Some(S::ApprovalsPaused));
        for state in [S::Verified, S::DeviceLocked, S::Blocked, S::ApprovalsPaused] {
            assert!(state.apply(E::PauseApprovals).is_err(), "{state}");
        }
        for state in [S::Active, S::Verified, S::Blocked] {
            assert!(state.apply(E::ResumeApprovals).is_err(), "{state}");
        }
        assert!(S::ApprovalsPaused.apply(E::LockDevice).is_err());
        let suspended = S::ApprovalsPaused.apply(E::Suspend).unwrap();
        assert_eq!(
            suspended.restore_from_suspension(S::ApprovalsPaused),
            Ok(S::ApprovalsPaused)
        );
    }

    #[test]
    fn references() {
        let r = new_reference([0xff, 0, 0x12, 0x34, 0x56]);
        assert_eq!(r.len(), 8);
        assert_eq!(normalise_reference(&r.to_lowercase()), Some(r.clone()));
        assert_eq!(normalise_reference("abcd-efgh"), Some("ABCDEFGH".into()));
        assert_eq!(
            normalise_reference("ol0i 1234"),
            Some("0101 1234".replace(' ', ""))
        );
        assert_eq!(normalise_reference("ABCDEFGU"), None);
        assert_eq!(normalise_reference("SHORT"), None);
    }
}
