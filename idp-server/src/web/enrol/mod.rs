//! Enrolment pages (`/inscription/…`) and the account page (`/compte`).
//!
//! Before the account exists, progress hangs off the `sesame_enrol` cookie;
//! from the password step on, the person has an SSO session and every page
//! derives the step from the account's state (`extract::AccountAt`), so
//! back/forward or a reload lands on the right page. Every form carries a
//! CSRF token bound to the cookie it acts on (`csrf::CsrfForm`).
//!
//! One file per step; `page` is the generic step page, `extract` the
//! prelude every handler shares, `refusals` how the services' refusals read.
//! The routes are listed in `web::routes` with the handlers re-exported here.

mod account;
mod choice;
mod eligibility;
mod email;
mod extract;
mod identity;
mod kind;
mod login;
mod mobile;
mod online;
mod outbox;
mod page;
mod password;
mod refusals;

pub use account::{account_cancel, account_get, account_logout, account_resend};
pub use choice::{choice_get, choice_post, reference_get};
pub use eligibility::{eligibility_get, eligibility_post, home};
pub use email::{email_code_get, email_code_post, email_get, email_post, email_resend};
pub use identity::{identity_get, identity_post, review_get, review_post};
pub use kind::{kind_get, kind_post};
pub use login::{account_login_get, account_login_post};
pub use mobile::{mobile_code_get, mobile_code_post, mobile_get, mobile_post, mobile_resend};
pub use online::{photos_post, remote_get, video_get, video_post};
pub use outbox::outbox;
pub use page::{Field, FieldKind, HomePage, StepPage};
pub use password::{password_get, password_post};

/// Cookie carrying enrolment progress before the account exists.
pub const ENROL_COOKIE: &str = "sesame_enrol";

/// A form with nothing but its CSRF token (resend, cancel, log out, confirm).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// `?renvoye=1` after a code was sent again.
#[derive(serde::Deserialize)]
pub struct ResentQuery {
    renvoye: Option<String>,
}
