//! How each enrolment refusal reads: status, sentence (from the texts
//! structs) and when to retry. The services say what went wrong; this file
//! is the only place that decides how it is shown.

use actix_web::http::StatusCode;

use crate::domain::document::DateProblem;
use crate::domain::identity::IdentityProblem;
use crate::domain::password::PasswordProblem;
use crate::domain::phone::PhoneError;
use crate::enrol::otp::{CheckFailure, SendRefusal};
use crate::enrol::{AccountProblem, DraftProblem, MediaProblem, TooManyEnrolments};
use crate::oidc::login::LoginFailure;
use crate::web::error::UserFacing;
use crate::web::i18n::Texts;

impl UserFacing for SendRefusal {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }
    fn message(&self, t: &'static Texts) -> String {
        match *self {
            SendRefusal::Cooldown { retry_after } => (t.enrol.cooldown)(retry_after),
            SendRefusal::HourlyCap { .. } => t.enrol.hourly_cap.to_owned(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match *self {
            SendRefusal::Cooldown { retry_after } | SendRefusal::HourlyCap { retry_after } => {
                Some(retry_after)
            }
        }
    }
}

impl UserFacing for CheckFailure {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        match *self {
            CheckFailure::Wrong { remaining } => (t.enrol.wrong_code)(remaining),
            CheckFailure::Expired => t.enrol.code_expired.to_owned(),
            CheckFailure::TooManyAttempts => t.enrol.code_too_many.to_owned(),
        }
    }
}

impl UserFacing for TooManyEnrolments {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }
    fn message(&self, t: &'static Texts) -> String {
        t.enrol.too_many_enrolments.to_owned()
    }
    fn retry_after(&self) -> Option<u64> {
        Some(self.retry_after)
    }
}

/// Not all three eligibility conditions ticked.
pub struct NotEligible;

impl UserFacing for NotEligible {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        t.enrol.not_eligible.to_owned()
    }
}

/// Not an email address (`Email::parse` refused it).
pub struct InvalidEmail;

impl UserFacing for InvalidEmail {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        t.enrol.email_invalid.to_owned()
    }
}

/// The password step's refusals. `EmailNotVerified` and `InUse` are not
/// shown: the handler sends the person back to the email step.
impl UserFacing for AccountProblem {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        let e = t.enrol;
        match self {
            AccountProblem::Mismatch => e.password_mismatch,
            AccountProblem::Password(PasswordProblem::TooShort) => e.password_too_short,
            AccountProblem::Password(PasswordProblem::TooLong) => e.password_too_long,
            AccountProblem::Password(PasswordProblem::TooSimple) => e.password_too_simple,
            AccountProblem::Password(PasswordProblem::ContainsEmail) => e.password_contains_email,
            AccountProblem::EmailNotVerified | AccountProblem::InUse => e.email_invalid,
        }
        .to_owned()
    }
}

/// Not a French mobile number (the enrolment's wording; the login's phone
/// page has its own).
pub struct InvalidMobile(pub PhoneError);

impl UserFacing for InvalidMobile {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        match self.0 {
            PhoneError::NotMobile => t.enrol.mobile_not_mobile,
            PhoneError::NotFrench => t.enrol.mobile_not_french,
            PhoneError::Unparseable => t.enrol.mobile_unparseable,
        }
        .to_owned()
    }
}

/// No document kind chosen.
pub struct NoDocumentKind;

impl UserFacing for NoDocumentKind {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        t.enrol.kind_missing.to_owned()
    }
}

impl UserFacing for MediaProblem {
    fn status(&self) -> StatusCode {
        if *self == MediaProblem::TooLarge {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        match self {
            MediaProblem::Empty => t.enrol.media_empty,
            MediaProblem::TooLarge => t.enrol.media_too_large,
            MediaProblem::WrongType => t.enrol.media_wrong_type,
            MediaProblem::NoOpenRequest => t.enrol.media_no_request,
        }
        .to_owned()
    }
}

/// The field a draft problem is shown next to.
pub fn draft_field(problem: DraftProblem) -> &'static str {
    use IdentityProblem as I;
    match problem {
        DraftProblem::Identity(I::FamilyName) => "family_name",
        DraftProblem::Identity(I::UsageName) => "usage_name",
        DraftProblem::Identity(I::GivenNames) => "given_names",
        DraftProblem::Identity(I::Gender) => "gender",
        DraftProblem::Identity(I::Birthdate | I::Underage) => "birthdate",
        DraftProblem::Identity(I::BirthCountry) => "birth_country",
        DraftProblem::Identity(
            I::BirthCommuneMissing | I::BirthCommuneUnknown | I::BirthCommuneAbroad,
        ) => "birth_commune",
        DraftProblem::DocumentKind | DraftProblem::DocumentNumber | DraftProblem::DocumentInUse => {
            "document_number"
        }
        DraftProblem::IssuedOn | DraftProblem::Dates(DateProblem::IssuedInFuture) => "issued_on",
        DraftProblem::ExpiresOn
        | DraftProblem::Dates(
            DateProblem::ExpiresBeforeIssue | DateProblem::Expired | DateProblem::PermitTooShort,
        ) => "expires_on",
    }
}

impl UserFacing for DraftProblem {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn message(&self, t: &'static Texts) -> String {
        use IdentityProblem as I;
        let e = t.enrol;
        match self {
            DraftProblem::Identity(I::FamilyName) => e.bad_family_name,
            DraftProblem::Identity(I::UsageName) => e.bad_usage_name,
            DraftProblem::Identity(I::GivenNames) => e.bad_given_names,
            DraftProblem::Identity(I::Gender) => e.bad_gender,
            DraftProblem::Identity(I::Birthdate) => e.bad_birthdate,
            DraftProblem::Identity(I::Underage) => e.underage,
            DraftProblem::Identity(I::BirthCountry) => e.bad_birth_country,
            DraftProblem::Identity(I::BirthCommuneMissing) => e.birth_commune_missing,
            DraftProblem::Identity(I::BirthCommuneUnknown) => e.birth_commune_unknown,
            DraftProblem::Identity(I::BirthCommuneAbroad) => e.birth_commune_abroad,
            DraftProblem::DocumentKind => e.kind_first,
            DraftProblem::DocumentNumber => e.bad_document_number,
            DraftProblem::IssuedOn => e.missing_issued_on,
            DraftProblem::ExpiresOn => e.missing_expires_on,
            DraftProblem::Dates(DateProblem::IssuedInFuture) => e.issued_in_future,
            DraftProblem::Dates(DateProblem::ExpiresBeforeIssue) => e.expires_before_issue,
            DraftProblem::Dates(DateProblem::Expired) => e.document_expired,
            DraftProblem::Dates(DateProblem::PermitTooShort) => e.permit_too_short,
            DraftProblem::DocumentInUse => e.document_in_use,
        }
        .to_owned()
    }
}

/// A refused password login on the account page (the wording of the
/// provider's login page).
pub struct AccountLogin(pub LoginFailure);

impl UserFacing for AccountLogin {
    fn status(&self) -> StatusCode {
        match self.0 {
            LoginFailure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            LoginFailure::Suspended => StatusCode::FORBIDDEN,
            LoginFailure::Invalid => StatusCode::BAD_REQUEST,
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        match self.0 {
            LoginFailure::Throttled { .. } => t.throttled,
            LoginFailure::Suspended => t.suspended,
            LoginFailure::Invalid => t.bad_credentials,
        }
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{EN, FR};

    #[test]
    fn send_refusals_are_429_with_retry_after_and_say_when() {
        let cooldown = SendRefusal::Cooldown { retry_after: 42 };
        assert_eq!(cooldown.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(cooldown.retry_after(), Some(42));
        assert!(cooldown.message(&FR).contains("dans 42 secondes"));
        assert!(cooldown.message(&EN).contains("in 42 seconds"));
        let cap = SendRefusal::HourlyCap { retry_after: 1800 };
        assert_eq!(cap.retry_after(), Some(1800));
        assert_eq!(cap.message(&FR), FR.enrol.hourly_cap);
    }

    #[test]
    fn code_failures_are_400_and_count_what_is_left() {
        let wrong = CheckFailure::Wrong { remaining: 3 };
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(wrong.retry_after(), None);
        assert!(wrong.message(&FR).contains("Il vous reste 3 essai(s)"));
        assert!(wrong.message(&EN).contains("3 attempt(s) left"));
    }

    #[test]
    fn media_status_follows_the_problem() {
        assert_eq!(
            MediaProblem::TooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        for problem in [
            MediaProblem::Empty,
            MediaProblem::WrongType,
            MediaProblem::NoOpenRequest,
        ] {
            assert_eq!(problem.status(), StatusCode::BAD_REQUEST, "{problem:?}");
        }
    }

    #[test]
    fn login_refusals_keep_the_login_page_statuses() {
        let throttled = AccountLogin(LoginFailure::Throttled { retry_after: 60 });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.message(&EN), EN.throttled);
        assert_eq!(
            AccountLogin(LoginFailure::Suspended).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            AccountLogin(LoginFailure::Invalid).message(&FR),
            FR.bad_credentials
        );
    }

    #[test]
    fn draft_problems_are_shown_next_to_their_field() {
        use IdentityProblem as I;
        assert_eq!(
            draft_field(DraftProblem::Identity(I::Underage)),
            "birthdate"
        );
        assert_eq!(
            draft_field(DraftProblem::Identity(I::BirthCommuneAbroad)),
            "birth_commune"
        );
        assert_eq!(draft_field(DraftProblem::DocumentInUse), "document_number");
        assert_eq!(
            draft_field(DraftProblem::Dates(DateProblem::IssuedInFuture)),
            "issued_on"
        );
        assert_eq!(
            draft_field(DraftProblem::Dates(DateProblem::PermitTooShort)),
            "expires_on"
        );
        assert_eq!(
            DraftProblem::Identity(I::Underage).message(&EN),
            EN.enrol.underage
        );
    }
}
