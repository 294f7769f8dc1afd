//! The citizen's pages after enrolment (issue #16), over `crate::citizen`:
//! `history` (`/compte/historique`, the connection history), `block`
//! (`/compte/bloquer`: password, email code, blocked),
//! `password` (the forgotten password, `/compte/mot-de-passe-oublie/…`, and
//! the change from the account page, `/compte/mot-de-passe`), `extract`
//! (`Resetting`: the reset in progress under the browser's cookie),
//! `refusals` (how the services' refusals read), `devices` (the identity
//! and devices on `/compte`, rename and revoke), `contact` (the change of
//! mobile number, `/compte/mobile/…`, and of address, `/compte/adresse/…`),
//! `rgpd` (the data export, `/compte/mes-donnees`, and the deletion of the
//! identity, `/compte/supprimer/…`). They draw on the
//! enrolment's step page (`web::enrol::page`) and extractors.

use actix_web::Route;

mod block;
mod contact;
pub(crate) mod devices;
mod extract;
mod history;
mod password;
mod refusals;
mod rgpd;

/// The citizen pages: (path, GET, POST), served by `web::routes`.
pub fn routes() -> Vec<(&'static str, Option<Route>, Option<Route>)> {
    use actix_web::web::{get, post};
    vec![
        (history::HISTORY, Some(get().to(history::history_get)), None),
        (
            block::BLOCK,
            Some(get().to(block::block_get)),
            Some(post().to(block::block_post)),
        ),
        (
            block::BLOCK_CODE,
            Some(get().to(block::code_get)),
            Some(post().to(block::code_post)),
        ),
        (block::BLOCKED, Some(get().to(block::blocked_get)), None),
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
        (devices::RENAME, None, Some(post().to(devices::rename_post))),
        (devices::REVOKE, None, Some(post().to(devices::revoke_post))),
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
    .into_iter()
    .chain(contact_routes::<contact::Mobile>())
    .chain(contact_routes::<contact::Address>())
    .collect()
}

/// The four pages of a change of number or address.
fn contact_routes<K: contact::Kind>() -> Vec<(&'static str, Option<Route>, Option<Route>)> {
    use actix_web::web::{get, post};
    vec![
        (
            K::START,
            Some(get().to(contact::start_get::<K>)),
            Some(post().to(contact::start_post::<K>)),
        ),
        (
            K::CODE,
            Some(get().to(contact::code_get::<K>)),
            Some(post().to(contact::code_post::<K>)),
        ),
        (K::RESEND, None, Some(post().to(contact::resend_post::<K>))),
        (K::DONE, Some(get().to(contact::done_get::<K>)), None),
    ]
}
