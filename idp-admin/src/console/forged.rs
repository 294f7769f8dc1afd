//! The answer to a form posted without the session's CSRF token, per page
//! family (what each page said before the extractors existed).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::decision::EXPIRED;
use super::page::{Message, render, see_other};
use super::session::AgentSession;
use super::{counter, support};

pub fn answer<S>(s: &AgentSession<S>, path: &str) -> HttpResponse {
    let bad = StatusCode::BAD_REQUEST;
    if path.starts_with("/admin/") {
        let page = ["/admin/cles", "/admin/agents", "/admin/clients"]
            .into_iter()
            .find(|p| path.starts_with(p))
            .unwrap_or("/");
        return see_other(page);
    }
    if path.starts_with("/guichet") {
        return render(bad, &counter::lookup_page(s, "", |f| f.error(EXPIRED)));
    }
    if path.starts_with(super::session::OWN_ACCOUNT) {
        let frame = s.frame("Mon compte").error(EXPIRED);
        return render(
            bad,
            &Message::linked(frame, super::session::OWN_ACCOUNT, "Recommencer"),
        );
    }
    if path.starts_with("/comptes") {
        return render(bad, &support::search_page(s, "", |f| f.error(EXPIRED)));
    }
    let frame = s.frame("Vérification en ligne").error(EXPIRED);
    render(bad, &Message::linked(frame, "/revue", "Retour à la file"))
}
