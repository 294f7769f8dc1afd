//! How the password services' refusals read (`UserFacing`).

use actix_web::http::StatusCode;

use crate::citizen::contact::{Channel, ContactRefusal};
use crate::citizen::password::PasswordRefusal;
use crate::citizen::rgpd::ErasureRefusal;
use crate::citizen::self_block::SelfBlockRefusal;
use crate::domain::password::PasswordProblem;
use crate::oidc::login::LoginFailure;
use crate::web::enrol::page::Cooldown;
use crate::web::enrol::refusals::AccountLogin;
use crate::web::error::UserFacing;
use crate::web::i18n::Texts;

impl UserFacing for PasswordRefusal {
    fn status(&self) -> StatusCode {
        match self {
            PasswordRefusal::Current(LoginFailure::Throttled { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            PasswordRefusal::Current(LoginFailure::Suspended) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        let (e, c) = (t.enrol, t.citizen);
        match self {
            PasswordRefusal::NotVerified => c.reset_expired,
            PasswordRefusal::Current(LoginFailure::Invalid) => c.wrong_current_password,
            PasswordRefusal::Current(LoginFailure::Throttled { .. }) => t.throttled,
            PasswordRefusal::Current(LoginFailure::Suspended) => t.suspended,
            PasswordRefusal::Mismatch => e.password_mismatch,
            PasswordRefusal::Weak(PasswordProblem::TooShort) => e.password_too_short,
            PasswordRefusal::Weak(PasswordProblem::TooLong) => e.password_too_long,
            PasswordRefusal::Weak(PasswordProblem::TooSimple) => e.password_too_simple,
            PasswordRefusal::Weak(PasswordProblem::ContainsEmail) => e.password_contains_email,
        }
        .to_owned()
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            PasswordRefusal::Current(LoginFailure::Throttled { retry_after }) => Some(*retry_after),
            _ => None,
        }
    }
}

impl UserFacing for ContactRefusal {
    fn status(&self) -> StatusCode {
        match self {
            ContactRefusal::Current(failure) => PasswordRefusal::Current(failure.clone()).status(),
            ContactRefusal::Send(refusal) => refusal.status(),
            ContactRefusal::Code(failure) => failure.status(),
            ContactRefusal::Same(_) | ContactRefusal::NoNumber => StatusCode::BAD_REQUEST,
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        match self {
            ContactRefusal::Current(failure) => {
                PasswordRefusal::Current(failure.clone()).message(t)
            }
            ContactRefusal::Send(refusal) => refusal.message(t),
            ContactRefusal::Code(failure) => failure.message(t),
            ContactRefusal::Same(Channel::Mobile) => t.contact.same_mobile.to_owned(),
            ContactRefusal::Same(Channel::Email) => t.contact.same_email.to_owned(),
            ContactRefusal::NoNumber => t.contact.no_number.to_owned(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            ContactRefusal::Current(failure) => {
                PasswordRefusal::Current(failure.clone()).retry_after()
            }
            ContactRefusal::Send(refusal) => refusal.retry_after(),
            _ => None,
        }
    }
}

impl Cooldown for ContactRefusal {
    fn cooldown(&self) -> Option<u64> {
        match self {
            ContactRefusal::Send(refusal) => refusal.cooldown(),
            _ => None,
        }
    }
}

impl UserFacing for SelfBlockRefusal {
    fn status(&self) -> StatusCode {
        match self {
            SelfBlockRefusal::Password(failure) => AccountLogin(failure.clone()).status(),
            SelfBlockRefusal::Send(refusal) => refusal.status(),
            SelfBlockRefusal::Code(failure) => failure.status(),
            SelfBlockRefusal::NotBlockable(_) => StatusCode::FORBIDDEN,
            SelfBlockRefusal::NotStarted => StatusCode::BAD_REQUEST,
            SelfBlockRefusal::Changed => StatusCode::CONFLICT,
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        match self {
            SelfBlockRefusal::Password(LoginFailure::Invalid) => {
                t.citizen.wrong_current_password.to_owned()
            }
            SelfBlockRefusal::Password(failure) => AccountLogin(failure.clone()).message(t),
            SelfBlockRefusal::Send(refusal) => refusal.message(t),
            SelfBlockRefusal::Code(failure) => failure.message(t),
            SelfBlockRefusal::NotBlockable(_) => t.life.not_blockable.to_owned(),
            SelfBlockRefusal::NotStarted => t.life.block_expired.to_owned(),
            SelfBlockRefusal::Changed => t.life.block_changed.to_owned(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            SelfBlockRefusal::Password(LoginFailure::Throttled { retry_after }) => {
                Some(*retry_after)
            }
            SelfBlockRefusal::Send(refusal) => refusal.retry_after(),
            _ => None,
        }
    }
}

impl UserFacing for ErasureRefusal {
    fn status(&self) -> StatusCode {
        match self {
            ErasureRefusal::Password(LoginFailure::Throttled { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErasureRefusal::Password(LoginFailure::Suspended) => StatusCode::FORBIDDEN,
            ErasureRefusal::Send(refusal) => refusal.status(),
            ErasureRefusal::Code(failure) => failure.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }
    fn message(&self, t: &'static Texts) -> String {
        match self {
            ErasureRefusal::Password(LoginFailure::Invalid) => t.rgpd.wrong_password.to_owned(),
            ErasureRefusal::Password(LoginFailure::Throttled { .. }) => t.throttled.to_owned(),
            ErasureRefusal::Password(LoginFailure::Suspended) => t.suspended.to_owned(),
            ErasureRefusal::Send(refusal) => refusal.message(t),
            ErasureRefusal::Code(failure) => failure.message(t),
            ErasureRefusal::NotStarted => t.rgpd.not_started.to_owned(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            ErasureRefusal::Password(LoginFailure::Throttled { retry_after }) => Some(*retry_after),
            ErasureRefusal::Send(refusal) => refusal.retry_after(),
            ErasureRefusal::Code(failure) => failure.retry_after(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{EN, FR};

    #[test]
    fn password_refusals_read_in_both_languages() {
        let throttled = PasswordRefusal::Current(LoginFailure::Throttled { retry_after: 60 });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.retry_after(), Some(60));
        let wrong = PasswordRefusal::Current(LoginFailure::Invalid);
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(wrong.message(&FR), FR.citizen.wrong_current_password);
        assert_eq!(wrong.message(&EN), EN.citizen.wrong_current_password);
        let weak = PasswordRefusal::Weak(PasswordProblem::TooShort);
        assert_eq!(weak.message(&FR), FR.enrol.password_too_short);
        assert_eq!(
            PasswordRefusal::NotVerified.message(&EN),
            EN.citizen.reset_expired
        );
    }

    #[test]
    fn contact_refusals_read_in_both_languages() {
        use crate::enrol::otp::{CheckFailure, SendRefusal};
        let cooldown = ContactRefusal::Send(SendRefusal::Cooldown { retry_after: 42 });
        assert_eq!(cooldown.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(cooldown.retry_after(), Some(42));
        let wrong = ContactRefusal::Code(CheckFailure::Wrong { remaining: 3 });
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert!(wrong.message(&FR).contains('3'), "{}", wrong.message(&FR));
        let current = ContactRefusal::Current(LoginFailure::Invalid);
        assert_eq!(current.message(&FR), FR.citizen.wrong_current_password);
        let same = ContactRefusal::Same(Channel::Email);
        assert_eq!(same.message(&EN), EN.contact.same_email);
        assert_eq!(ContactRefusal::NoNumber.message(&FR), FR.contact.no_number);
    }

    #[test]
    fn self_block_refusals_read_in_both_languages() {
        use crate::citizen::self_block::SelfBlockRefusal as R;
        use crate::domain::account::AccountState;
        let throttled = R::Password(LoginFailure::Throttled { retry_after: 30 });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.retry_after(), Some(30));
        let wrong = R::Password(LoginFailure::Invalid);
        assert_eq!(wrong.message(&FR), FR.citizen.wrong_current_password);
        let not = R::NotBlockable(AccountState::Suspended);
        assert_eq!(not.status(), StatusCode::FORBIDDEN);
        assert_eq!(not.message(&FR), FR.life.not_blockable);
        assert_eq!(not.message(&EN), EN.life.not_blockable);
        assert_eq!(R::NotStarted.message(&EN), EN.life.block_expired);
    }
}
