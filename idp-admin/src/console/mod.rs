//! The agents' console (`idp-admin serve`): a separate listener, server-rendered
//! French pages. Agents log in with password + TOTP or a security key;
//! clerks verify references face to face; reviewers clear the online queue;
//! administrators support accounts and manage keys, agents and clients.
//!
//! Handlers start from the extractors of [`session`] (who, which role, the
//! form bound to the session's CSRF token), call one idp-server service
//! (`agents`, `support`, `verification`, `keys`, `oidc::clients`) and render
//! an askama template from `idp-admin/templates/` ([`page`]).

pub mod account;
pub mod admin;
pub mod counter;
pub mod decision;
pub mod desk;
mod forged;
pub mod login;
pub mod page;
pub mod requests;
pub mod review;
pub mod session;
pub mod support;
pub mod webauthn;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{App, HttpResponse, HttpServer, web};
use askama::Template;
use idp_server::app::Core;
use idp_server::domain::agent::Role;

use page::{Failure, Frame, ok};
use session::AnySession;

/// Shared state of the console.
pub struct Console {
    pub core: Core,
    /// Verified against when a username is unknown (same time either way).
    pub dummy_hash: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    csrf: String,
    counter: bool,
    review: bool,
    admin: bool,
    /// The agent's own decisions of today, newest first.
    today: Vec<desk::TodayLine>,
}

async fn home(console: web::Data<Console>, s: AnySession) -> Result<HttpResponse, Failure> {
    let role = s.role();
    ok(&HomePage {
        today: desk::today(&console, &s).await?,
        frame: s.frame("Accueil"),
        csrf: s.csrf().to_owned(),
        counter: role.verifies_face_to_face(),
        review: role.reviews_remote(),
        admin: role == Role::Admin,
    })
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .body(body)
}

async fn webauthn_script() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("webauthn.js"),
    )
}

/// Reads the citizen's QR code with the device camera where the browser can
/// (BarcodeDetector); the typed field stays the way that always works.
async fn scan_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", include_str!("scan.js"))
}

async fn stylesheet() -> HttpResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../idp-server/static/sesame.css"),
    )
}

fn routes(cfg: &mut web::ServiceConfig) {
    use admin::{agents, clients, keys};
    cfg.route("/", web::get().to(home))
        .route("/connexion", web::get().to(login::login_get))
        .route("/connexion", web::post().to(login::login_post))
        .route("/totp", web::get().to(login::code_get))
        .route("/totp", web::post().to(login::code_post))
        .route("/deconnexion", web::post().to(login::logout))
        .route("/guichet", web::get().to(counter::counter_get))
        .route("/guichet", web::post().to(counter::counter_post))
        .route("/guichet/recherche", web::get().to(desk::search_get))
        .route("/mon-compte", web::get().to(account::account_get))
        .route("/mon-compte", web::post().to(account::account_post))
        .route("/guichet/demandes", web::get().to(requests::requests_get))
        .route("/revue", web::get().to(review::queue))
        .route("/revue/{id}", web::get().to(review::review_get))
        .route("/revue/{id}", web::post().to(review::review_post))
        .route(
            "/revue/{id}/media/{kind}",
            web::get().to(review::review_media),
        )
        .route("/static/sesame.css", web::get().to(stylesheet))
        .route("/static/scan.js", web::get().to(scan_script))
        .route("/static/webauthn.js", web::get().to(webauthn_script))
        .route("/admin/cles", web::get().to(keys::keys_get))
        .route("/admin/cles", web::post().to(keys::keys_post))
        .route("/admin/agents", web::get().to(agents::agents_get))
        .route("/admin/agents", web::post().to(agents::agents_post))
        .route(
            "/admin/agents/{username}/{action}",
            web::post().to(agents::agent_action),
        )
        .route("/admin/clients", web::get().to(clients::clients_get))
        .route("/admin/clients", web::post().to(clients::clients_post))
        .route(
            "/admin/clients/{id}/{action}",
            web::post().to(clients::client_action),
        )
        .route("/comptes", web::get().to(support::support_get))
        .route(
            "/comptes/{id}/{action}",
            web::post().to(support::support_action),
        )
        .route("/cle", web::get().to(webauthn::keys_page))
        .route(
            "/cle/enregistrement/debut",
            web::post().to(webauthn::register_start),
        )
        .route(
            "/cle/enregistrement/fin",
            web::post().to(webauthn::register_finish),
        )
        .route(
            "/cle/connexion/debut",
            web::post().to(webauthn::login_start),
        )
        .route("/cle/connexion/fin", web::post().to(webauthn::login_finish));
}

/// Builds the console server on `listener`.
pub async fn server(core: Core, listener: TcpListener) -> std::io::Result<Server> {
    let dummy_hash = tokio::task::spawn_blocking(idp_server::oidc::login::dummy_hash)
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Cookies become `Secure` and HSTS is sent when the console is reached
    // through https (the middleware rewrites every Set-Cookie).
    let transport = web::Data::new(
        idp_server::web::middleware::TransportSecurity::for_public_url(
            &core.config.console.public_url,
        ),
    );
    let console = web::Data::new(Console { core, dummy_hash });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(console.clone())
            .app_data(transport.clone())
            .wrap(actix_web::middleware::from_fn(
                idp_server::web::middleware::observe,
            ))
            .configure(routes)
    })
    .workers(2)
    .listen(listener)?
    .run())
}
