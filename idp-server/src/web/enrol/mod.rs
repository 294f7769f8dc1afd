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
//! [`routes`] lists the paths and their handlers.

use actix_web::Route;

pub(crate) mod account;
mod choice;
mod eligibility;
mod email;
pub(crate) mod extract;
mod identity;
mod kind;
mod login;
mod mobile;
mod online;
mod outbox;
pub(crate) mod page;
mod password;
pub(crate) mod refusals;

/// The enrolment and account pages: (path, GET, POST), served by
/// `web::routes` like every other page.
pub fn routes() -> Vec<(&'static str, Option<Route>, Option<Route>)> {
    use actix_web::web::{get, post};
    vec![
        (
            "/inscription",
            Some(get().to(eligibility::eligibility_get)),
            Some(post().to(eligibility::eligibility_post)),
        ),
        (
            identity::COMMUNE_SUGGESTIONS,
            Some(get().to(identity::communes_get)),
            None,
        ),
        (
            "/inscription/courriel",
            Some(get().to(email::email_get)),
            Some(post().to(email::email_post)),
        ),
        (
            "/inscription/courriel/code",
            Some(get().to(email::email_code_get)),
            Some(post().to(email::email_code_post)),
        ),
        (
            "/inscription/courriel/renvoyer",
            None,
            Some(post().to(email::email_resend)),
        ),
        (
            "/inscription/mot-de-passe",
            Some(get().to(password::password_get)),
            Some(post().to(password::password_post)),
        ),
        (
            "/inscription/mobile",
            Some(get().to(mobile::mobile_get)),
            Some(post().to(mobile::mobile_post)),
        ),
        (
            "/inscription/mobile/code",
            Some(get().to(mobile::mobile_code_get)),
            Some(post().to(mobile::mobile_code_post)),
        ),
        (
            "/inscription/mobile/renvoyer",
            None,
            Some(post().to(mobile::mobile_resend)),
        ),
        (
            "/inscription/piece",
            Some(get().to(kind::kind_get)),
            Some(post().to(kind::kind_post)),
        ),
        (
            "/inscription/identite",
            Some(get().to(identity::identity_get)),
            Some(post().to(identity::identity_post)),
        ),
        (
            "/inscription/recapitulatif",
            Some(get().to(identity::review_get)),
            Some(post().to(identity::review_post)),
        ),
        (
            "/inscription/verification",
            Some(get().to(choice::choice_get)),
            Some(post().to(choice::choice_post)),
        ),
        (
            "/inscription/reference",
            Some(get().to(choice::reference_get)),
            None,
        ),
        (
            "/inscription/en-ligne",
            Some(get().to(online::remote_get)),
            None,
        ),
        (
            "/inscription/en-ligne/photos",
            None,
            Some(post().to(online::photos_post)),
        ),
        (
            "/inscription/en-ligne/video",
            Some(get().to(online::video_get)),
            Some(post().to(online::video_post)),
        ),
        (
            "/inscription/en-ligne/envoyee",
            Some(get().to(online::sent_get)),
            None,
        ),
        ("/compte", Some(get().to(account::account_get)), None),
        (
            "/compte/connexion",
            Some(get().to(login::account_login_get)),
            Some(post().to(login::account_login_post)),
        ),
        (
            "/compte/renvoyer-reference",
            None,
            Some(post().to(account::account_resend)),
        ),
        (
            "/compte/annuler",
            None,
            Some(post().to(account::account_cancel)),
        ),
        (
            "/compte/reprendre",
            None,
            Some(post().to(account::account_resume)),
        ),
        (
            "/compte/deconnexion",
            None,
            Some(post().to(account::account_logout)),
        ),
        ("/dev/outbox", Some(get().to(outbox::outbox)), None),
    ]
}

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
