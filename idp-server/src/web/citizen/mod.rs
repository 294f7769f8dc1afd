//! The citizen's pages after enrolment (issue #16), over `crate::citizen`:
//! `password` (the forgotten password, `/compte/mot-de-passe-oublie/…`, and
//! the change from the account page, `/compte/mot-de-passe`), `extract`
//! (`Resetting`: the reset in progress under the browser's cookie),
//! `refusals` (how the services' refusals read), `rgpd` (the data
//! export, `/compte/mes-donnees`, and the deletion of the identity,
//! `/compte/supprimer/…`). They draw on the
//! enrolment's step page (`web::enrol::page`) and extractors.

use actix_web::Route;

mod extract;
mod password;
mod refusals;
mod rgpd;

/// The citizen pages: (path, GET, POST), served by `web::routes`.
pub fn routes() -> Vec<(&'static str, Option<Route>, Option<Route>)> {
    use actix_web::web::{get, post};
    vec![
        (
            password::RESET,
            Some(get().to(password::reset_get)),
            Some(post().to(password::reset_post)),
        ),
        (
            password::RESET_CODE,
            Some(get().to(password::code_get)),
            Some(post().to(password::code_post)),
        ),
        (
            password::RESET_RESEND,
            None,
            Some(post().to(password::resend_post)),
        ),
        (
            password::RESET_NEW,
            Some(get().to(password::new_get)),
            Some(post().to(password::new_post)),
        ),
        (
            password::RESET_DONE,
            Some(get().to(password::done_get)),
            None,
        ),
        (
            password::CHANGE,
            Some(get().to(password::change_get)),
            Some(post().to(password::change_post)),
        ),
        (
            password::CHANGED,
            Some(get().to(password::changed_get)),
            None,
        ),
        (rgpd::EXPORT, Some(get().to(rgpd::export_get)), None),
        (
            rgpd::DELETE,
            Some(get().to(rgpd::delete_get)),
            Some(post().to(rgpd::delete_post)),
        ),
        (
            rgpd::DELETE_CODE,
            Some(get().to(rgpd::code_get)),
            Some(post().to(rgpd::code_post)),
        ),
        (
            rgpd::DELETE_CONFIRM,
            Some(get().to(rgpd::confirm_get)),
            Some(post().to(rgpd::confirm_post)),
        ),
        (rgpd::DELETED, Some(get().to(rgpd::deleted_get)), None),
    ]
}
