//! The citizen's pages after enrolment (issue #16), over `crate::citizen`:
//! `history` (`/compte/historique`, the connection history), `block`
//! (`/compte/bloquer`: password, email code, blocked),
//! `password` (the forgotten password, `/compte/mot-de-passe-oublie/…`, and
//! the change from the account page, `/compte/mot-de-passe`), `extract`
//! (`Resetting`: the reset in progress under the browser's cookie),
//! `refusals` (how the services' refusals read). They draw on the
//! enrolment's step page (`web::enrol::page`) and extractors.

use actix_web::Route;

mod block;
mod extract;
mod history;
mod password;
mod refusals;

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
    ]
}
