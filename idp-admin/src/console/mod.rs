//! The agents' console (`idp-admin serve`): a separate listener, server-rendered
//! French pages. Agents log in with password + TOTP; clerks verify references
//! face to face; reviewers clear the online queue. Every form carries the
//! session's CSRF token; every decision goes through `idp_server::verification`.

pub mod admin;
pub mod auth;
pub mod keys;

use std::collections::HashMap;
use std::net::TcpListener;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use askama::Template;
use idp_server::app::Core;
use idp_server::domain::agent::Role;
use idp_server::store::enrolment as rows;
use idp_server::store::{accounts, agents::AgentRow, now_unix};
use idp_server::verification::{self, Decision, Place, Refusal};

use auth::{AgentSession, LoginFailure};

type Params = HashMap<String, String>;

const SESSION_COOKIE: &str = "sesame_console";
const PRE_COOKIE: &str = "sesame_console_pre";

/// Shared state of the console.
pub struct Console {
    pub core: Core,
    /// Verified against when a username is unknown (same time either way).
    pub dummy_hash: String,
}

#[derive(Template)]
#[template(path = "base.html")]
struct Page<'a> {
    title: &'a str,
    who: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    body: String,
}

/// Escapes text inserted into HTML built here.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn page(
    status: StatusCode,
    title: &str,
    who: Option<&AgentRow>,
    error: Option<String>,
    notice: Option<String>,
    body: String,
) -> HttpResponse {
    let rendered = Page {
        title,
        who: who.map(|a| {
            format!(
                "{} ({}{})",
                a.display_name,
                role_label(a.role.as_str()),
                a.office
                    .as_ref()
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default()
            )
        }),
        error,
        notice,
        body,
    }
    .render();
    match rendered {
        Ok(html) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn role_label(role: &str) -> &'static str {
    match role {
        "clerk" => "guichet",
        "reviewer" => "revue en ligne",
        _ => "administration",
    }
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

pub(crate) fn unavailable(error: impl std::fmt::Display) -> HttpResponse {
    tracing::warn!(error = %error, "console answered 503");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service indisponible",
        None,
        Some("Le service est momentanément indisponible. Réessayez dans quelques instants.".into()),
        None,
        String::new(),
    )
}

fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish()
}

pub(crate) fn hidden_csrf(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

pub(crate) fn csrf_ok(expected: &str, params: &Params) -> bool {
    let presented = params.get("csrf").map(String::as_str).unwrap_or("");
    idp_server::crypto::constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// The logged-in agent (password and TOTP done) with one of `roles`.
pub(crate) async fn require(
    console: &Console,
    req: &HttpRequest,
    roles: &[Role],
) -> Result<(AgentRow, AgentSession), HttpResponse> {
    let Some(value) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(see_other("/connexion"));
    };
    let session = match auth::load(&console.core, &value).await {
        Ok(Some(s)) if s.totp_ok => s,
        Ok(Some(_)) => return Err(see_other("/totp")),
        Ok(None) => return Err(see_other("/connexion")),
        Err(e) => return Err(unavailable(e)),
    };
    let agent = match auth::agent(&console.core, &session.agent_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(see_other("/connexion")),
        Err(e) => return Err(unavailable(e)),
    };
    let allowed = roles.contains(&agent.role);
    if !allowed {
        return Err(page(
            StatusCode::FORBIDDEN,
            "Accès refusé",
            Some(&agent),
            Some("Votre rôle ne donne pas accès à cette page.".into()),
            None,
            "<p><a href=\"/\">Retour à l'accueil</a></p>".into(),
        ));
    }
    Ok((agent, session))
}

// ------------------------------------------------------------------ login

fn login_form(csrf: &str, username: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/connexion\">{}<label for=\"username\">Identifiant</label>\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" value=\"{}\">\
         <label for=\"password\">Mot de passe</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
         <button type=\"submit\">Continuer</button></form>\
         <button type=\"button\" id=\"key-login\" class=\"secondary\" data-csrf=\"{}\" hidden>Se connecter avec une clé de sécurité</button>\
         <p id=\"key-status\" role=\"status\"></p><script src=\"/static/webauthn.js\"></script>",
        hidden_csrf(csrf),
        esc(username),
        esc(csrf)
    )
}

fn pre_csrf(console: &Console, pre: &str) -> String {
    idp_server::crypto::hmac_hex(
        &console.core.subkeys.token_hash_key,
        format!("console-login:{pre}").as_bytes(),
    )
}

async fn login_get(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let pre = req
        .cookie(PRE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32);
    let (pre, new) = match pre {
        Some(p) => (p, false),
        None => (idp_server::crypto::random_token().unwrap_or_default(), true),
    };
    let mut response = page(
        StatusCode::OK,
        "Connexion",
        None,
        None,
        None,
        login_form(&pre_csrf(&console, &pre), ""),
    );
    if new {
        let _ = response.add_cookie(&cookie(PRE_COOKIE, pre));
    }
    response
}

async fn login_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let Some(pre) = req.cookie(PRE_COOKIE).map(|c| c.value().to_owned()) else {
        return see_other("/connexion");
    };
    let csrf = pre_csrf(&console, &pre);
    if !csrf_ok(&csrf, &form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Connexion",
            None,
            Some("Formulaire expiré : rechargez la page.".into()),
            None,
            login_form(&csrf, ""),
        );
    }
    let username = form
        .get("username")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    let password = form.get("password").map(String::as_str).unwrap_or("");
    match auth::password(&console.core, &console.dummy_hash, username, password).await {
        Ok(Ok((value, _))) => {
            let mut response = see_other("/totp");
            let _ = response.add_cookie(&cookie(SESSION_COOKIE, value));
            response
        }
        Ok(Err(LoginFailure::Invalid)) => page(
            StatusCode::BAD_REQUEST,
            "Connexion",
            None,
            Some("Identifiant ou mot de passe incorrect.".into()),
            None,
            login_form(&csrf, username),
        ),
        Ok(Err(LoginFailure::Locked)) => page(
            StatusCode::TOO_MANY_REQUESTS,
            "Connexion",
            None,
            Some("Trop d'échecs : ce compte est bloqué 15 minutes.".into()),
            None,
            login_form(&csrf, username),
        ),
        Err(e) => unavailable(e),
    }
}

async fn pending_session(
    console: &Console,
    req: &HttpRequest,
) -> Result<(String, AgentSession, AgentRow), HttpResponse> {
    let Some(value) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(see_other("/connexion"));
    };
    let session = match auth::load(&console.core, &value).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/connexion")),
        Err(e) => return Err(unavailable(e)),
    };
    match auth::agent(&console.core, &session.agent_id).await {
        Ok(Some(agent)) => Ok((value, session, agent)),
        Ok(None) => Err(see_other("/connexion")),
        Err(e) => Err(unavailable(e)),
    }
}

fn totp_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/totp\">{}<label for=\"code\">Code à 6 chiffres de votre application d'authentification</label>\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\"><button type=\"submit\">Valider</button></form>",
        hidden_csrf(csrf)
    )
}

fn enrolment_body(csrf: &str, secret: &str, username: &str) -> String {
    let url = auth::otpauth_url(secret, username);
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|c| {
            c.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    format!(
        "<p>Première connexion : ajoutez ce compte à votre application d'authentification (TOTP) en scannant le QR code, \
         ou saisissez la clé ci-dessous, puis entrez le code affiché.</p><div class=\"qr\">{qr}</div>\
         <p>Clé : <code id=\"totp-secret\">{}</code></p>{}",
        esc(secret),
        totp_form(csrf)
    )
}

async fn totp_get(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (value, mut session, agent) = match pending_session(&console, &req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if session.totp_ok {
        return see_other("/");
    }
    if agent.totp_sealed.is_some() {
        return page(
            StatusCode::OK,
            "Code de vérification",
            None,
            None,
            None,
            totp_form(&session.csrf),
        );
    }
    let secret = match session.enrolling.clone() {
        Some(s) => s,
        None => match auth::new_secret() {
            Ok(s) => s,
            Err(e) => return unavailable(e),
        },
    };
    session.enrolling = Some(secret.clone());
    if let Err(e) = auth::save(&console.core, &value, &session).await {
        return unavailable(e);
    }
    page(
        StatusCode::OK,
        "Activer la double authentification",
        None,
        None,
        None,
        enrolment_body(&session.csrf, &secret, &agent.username),
    )
}

async fn totp_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (value, mut session, agent) = match pending_session(&console, &req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Code de vérification",
            None,
            Some("Formulaire expiré : rechargez la page.".into()),
            None,
            totp_form(&session.csrf),
        );
    }
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let checked = match (&agent.totp_sealed, &session.enrolling) {
        (None, Some(secret)) => auth::confirm_enrolment(&console.core, &agent, secret, code).await,
        (None, None) => return see_other("/totp"),
        (Some(_), _) => auth::check_code(&console.core, &agent, code).await,
    };
    match checked {
        Ok(Ok(())) => {
            session.totp_ok = true;
            session.enrolling = None;
            // A new session id once fully authenticated.
            let fresh = idp_server::crypto::random_token().unwrap_or_default();
            if let Err(e) = auth::end(&console.core, &value)
                .await
                .and(auth::save(&console.core, &fresh, &session).await)
            {
                return unavailable(e);
            }
            let mut response = see_other("/");
            let _ = response.add_cookie(&cookie(SESSION_COOKIE, fresh));
            response
        }
        Ok(Err(failure)) => {
            let message = if failure == LoginFailure::Locked {
                "Trop d'échecs : ce compte est bloqué 15 minutes."
            } else {
                "Code incorrect ou déjà utilisé."
            };
            let body = match (&agent.totp_sealed, &session.enrolling) {
                (None, Some(secret)) => enrolment_body(&session.csrf, secret, &agent.username),
                _ => totp_form(&session.csrf),
            };
            let status = if failure == LoginFailure::Locked {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            page(
                status,
                "Code de vérification",
                None,
                Some(message.into()),
                None,
                body,
            )
        }
        Err(e) => unavailable(e),
    }
}

async fn logout(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    if let Ok((value, session, _)) = pending_session(&console, &req).await
        && csrf_ok(&session.csrf, &form)
        && let Err(e) = auth::end(&console.core, &value).await
    {
        return unavailable(e);
    }
    let mut response = see_other("/connexion");
    let mut gone = cookie(SESSION_COOKIE, String::new());
    gone.make_removal();
    let _ = response.add_cookie(&gone);
    response
}

// ------------------------------------------------------------------ home

async fn home(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, session) =
        match require(&console, &req, &[Role::Clerk, Role::Reviewer, Role::Admin]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let role = Some(agent.role);
    let mut links = String::from("<ul>");
    if role.is_some_and(Role::verifies_face_to_face) {
        links.push_str("<li><a href=\"/guichet\">Vérifier une identité au guichet</a></li>");
    }
    if role.is_some_and(Role::reviews_remote) {
        links.push_str("<li><a href=\"/revue\">Demandes de vérification en ligne</a></li>");
    }
    if role == Some(Role::Admin) {
        links.push_str(
            "<li><a href=\"/comptes\">Assistance aux comptes</a></li><li><a href=\"/admin/clients\">Clients</a></li>\
             <li><a href=\"/admin/agents\">Agents</a></li><li><a href=\"/admin/cles\">Clés de signature</a></li>",
        );
    }
    links.push_str("<li><a href=\"/cle\">Mes clés de sécurité</a></li></ul>");
    links.push_str(&format!("<form method=\"post\" action=\"/deconnexion\">{}<button class=\"secondary\">Se déconnecter</button></form>", hidden_csrf(&session.csrf)));
    page(StatusCode::OK, "Accueil", Some(&agent), None, None, links)
}

// ------------------------------------------------------------------ counter (face to face)

fn refusal_text(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::ReferenceMalformed => "La référence comporte 8 caractères (lettres et chiffres).",
        Refusal::NotFound => "Aucune demande ne correspond à cette référence.",
        Refusal::Expired => "Cette référence a expiré : la personne doit refaire une demande.",
        Refusal::AlreadyDecided => "Cette référence a déjà été traitée ou annulée.",
        Refusal::WrongMethod => "Cette demande est une vérification en ligne.",
        Refusal::Role => "Votre rôle ne permet pas cette vérification.",
        Refusal::Office => "Vous ne pouvez enregistrer une vérification que pour votre bureau.",
        Refusal::ReasonRequired => "Indiquez le motif du refus.",
    }
}

fn lookup_form(reference: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/guichet\" id=\"lookup\"><label for=\"reference\">Référence (8 caractères, ou scannez le QR code)</label>\
         <input id=\"reference\" name=\"reference\" type=\"text\" autocomplete=\"off\" autofocus value=\"{}\"><button type=\"submit\">Rechercher</button>\
         <button type=\"button\" id=\"scan\" class=\"secondary\" hidden>Scanner le QR code avec la caméra</button>\
         <video id=\"camera\" muted playsinline hidden></video></form><script src=\"/static/scan.js\"></script>",
        esc(reference)
    )
}

/// `1990-04-12` → `12/04/1990`, as printed on French documents.
fn french_date(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| iso.to_owned())
}

fn identity_summary(identity: &accounts::IdentityRow) -> String {
    let birthplace = if identity.birthplace.is_empty() {
        "—".to_owned()
    } else {
        format!(
            "{} ({})",
            idp_server::domain::insee::commune_name(&identity.birthplace).unwrap_or(""),
            identity.birthplace
        )
    };
    format!(
        "<dl class=\"summary\"><dt>Nom de naissance</dt><dd>{}</dd><dt>Nom d'usage</dt><dd>{}</dd><dt>Prénoms</dt><dd>{}</dd>\
         <dt>Sexe</dt><dd>{}</dd><dt>Date de naissance</dt><dd>{}</dd><dt>Lieu de naissance</dt><dd>{}</dd><dt>Pays de naissance</dt><dd>{}</dd></dl>",
        esc(&identity.family_name),
        esc(identity.preferred_username.as_deref().unwrap_or("—")),
        esc(&identity.given_name),
        if identity.gender == "female" {
            "Féminin"
        } else {
            "Masculin"
        },
        esc(&french_date(&identity.birthdate)),
        esc(&birthplace),
        esc(
            idp_server::domain::insee::country_name(&identity.birthcountry)
                .unwrap_or(&identity.birthcountry)
        ),
    )
}

fn decision_form(action: &str, csrf: &str, extra_fields: &str, checks: bool) -> String {
    let checks = if checks {
        "<fieldset><legend>Contrôles</legend>\
         <div class=\"check\"><input type=\"checkbox\" id=\"c1\" name=\"check_document\" value=\"yes\"><label for=\"c1\">La pièce paraît authentique et en cours de validité</label></div>\
         <div class=\"check\"><input type=\"checkbox\" id=\"c2\" name=\"check_photo\" value=\"yes\"><label for=\"c2\">La photo correspond à la personne</label></div>\
         <div class=\"check\"><input type=\"checkbox\" id=\"c3\" name=\"check_data\" value=\"yes\"><label for=\"c3\">Les informations correspondent à la pièce</label></div></fieldset>"
    } else {
        ""
    };
    format!(
        // The disabled first button is the form's default: Enter in a field
        // submits nothing, so no decision is ever taken by accident.
        "<form method=\"post\" action=\"{action}\"><button type=\"submit\" disabled hidden aria-hidden=\"true\" tabindex=\"-1\"></button>{}{extra_fields}{checks}\
         <label for=\"reason\">Motif (obligatoire en cas de refus)</label><input id=\"reason\" name=\"reason\" type=\"text\">\
         <button type=\"submit\" name=\"decision\" value=\"verified\">Identité vérifiée</button>\
         <button type=\"submit\" name=\"decision\" value=\"rejected\" class=\"secondary\">Refuser</button></form>",
        hidden_csrf(csrf)
    )
}

async fn counter_get(
    console: web::Data<Console>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Clerk, Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let Some(reference) = query.get("reference").filter(|r| !r.trim().is_empty()) else {
        return page(
            StatusCode::OK,
            "Vérification au guichet",
            Some(&agent),
            None,
            None,
            lookup_form(""),
        );
    };
    let Some(acting) = auth::as_agent(&agent) else {
        return unavailable("agent role unreadable");
    };
    match verification::counter_view(&console.core, &acting, reference).await {
        Ok(Ok(view)) => {
            let kind = match view.document_kind.as_str() {
                "identity_card" => "Carte nationale d'identité",
                "passport" => "Passeport",
                _ => "Titre de séjour",
            };
            // Clerks act for their own office; an admin names the office.
            let office_field = if agent.office.is_none() {
                "<label for=\"office\">Code du bureau</label><input id=\"office\" name=\"office\" type=\"text\" autocomplete=\"off\">"
            } else {
                ""
            };
            let place = format!(
                "<input type=\"hidden\" name=\"reference\" value=\"{}\">{office_field}<fieldset><legend>Lieu</legend>\
                 <div class=\"check\"><input type=\"radio\" id=\"p1\" name=\"place\" value=\"office\" checked><label for=\"p1\">Au guichet ({})</label></div>\
                 <div class=\"check\"><input type=\"radio\" id=\"p2\" name=\"place\" value=\"home\"><label for=\"p2\">À domicile (facteur)</label></div></fieldset>",
                esc(view.request.reference.as_deref().unwrap_or("")),
                esc(agent
                    .office
                    .as_deref()
                    .unwrap_or("bureau indiqué ci-dessus"))
            );
            let body = format!(
                "{}<h2>Pièce présentée</h2><dl class=\"summary\"><dt>Type</dt><dd>{kind}</dd><dt>Numéro</dt><dd>{}</dd><dt>Validité</dt><dd>du {} au {}</dd></dl><h2>Décision</h2>{}",
                identity_summary(&view.identity),
                esc(&view.document_number),
                esc(&french_date(&view.document_issued_on)),
                esc(&french_date(&view.document_expires_on)),
                decision_form("/guichet", &session.csrf, &place, true)
            );
            page(
                StatusCode::OK,
                &format!(
                    "Référence {}",
                    view.request.reference.as_deref().unwrap_or("")
                ),
                Some(&agent),
                None,
                None,
                body,
            )
        }
        Ok(Err(refusal)) => page(
            StatusCode::BAD_REQUEST,
            "Vérification au guichet",
            Some(&agent),
            Some(refusal_text(&refusal).into()),
            None,
            lookup_form(reference),
        ),
        Err(e) => unavailable(e),
    }
}

/// The three checks of the decision form, all ticked.
fn all_checks(form: &Params) -> bool {
    ["check_document", "check_photo", "check_data"]
        .iter()
        .all(|k| form.get(*k).map(String::as_str) == Some("yes"))
}

fn decision_of(form: &Params) -> Option<Decision> {
    match form.get("decision").map(String::as_str) {
        Some("verified") => Some(Decision::Verified),
        Some("rejected") => Some(Decision::Rejected {
            reason: form.get("reason").cloned().unwrap_or_default(),
        }),
        _ => None,
    }
}

async fn counter_post(
    console: web::Data<Console>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Clerk, Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Vérification au guichet",
            Some(&agent),
            Some("Formulaire expiré : recommencez.".into()),
            None,
            lookup_form(""),
        );
    }
    let reference = form.get("reference").cloned().unwrap_or_default();
    let Some(decision) = decision_of(&form) else {
        return see_other("/guichet");
    };
    if decision == Decision::Verified && !all_checks(&form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Vérification au guichet",
            Some(&agent),
            Some("Cochez les trois contrôles avant de valider l'identité.".into()),
            None,
            format!(
                "<p><a href=\"/guichet?reference={}\">Revenir à la demande</a></p>",
                esc(&reference)
            ),
        );
    }
    let (Some(acting), Some(office)) = (
        auth::as_agent(&agent),
        agent.office.clone().or_else(|| {
            form.get("office")
                .and_then(|o| idp_server::domain::agent::parse_office(o))
        }),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Vérification au guichet",
            Some(&agent),
            Some("Indiquez le code du bureau (5 à 10 lettres ou chiffres).".into()),
            None,
            lookup_form(&reference),
        );
    };
    let place = if form.get("place").map(String::as_str) == Some("home") {
        Place::Home(office)
    } else {
        Place::Office(office)
    };
    match verification::decide_face_to_face(&console.core, &acting, &reference, place, decision)
        .await
    {
        Ok(Ok(outcome)) => {
            let notice = if outcome.state.as_str() == "verified" {
                "Identité vérifiée. Le code d'activation de l'application est envoyé par SMS et par courriel."
            } else {
                "Demande refusée. La personne en est informée dans son compte."
            };
            page(
                StatusCode::OK,
                "Vérification au guichet",
                Some(&agent),
                None,
                Some(notice.into()),
                lookup_form(""),
            )
        }
        Ok(Err(refusal)) => page(
            StatusCode::BAD_REQUEST,
            "Vérification au guichet",
            Some(&agent),
            Some(refusal_text(&refusal).into()),
            None,
            lookup_form(&reference),
        ),
        Err(e) => unavailable(e),
    }
}

// ------------------------------------------------------------------ online review

async fn queue(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, _) = match require(&console, &req, &[Role::Reviewer, Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let requests = match console
        .core
        .db
        .read(|conn| rows::review_queue(conn, 200))
        .await
    {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let now = now_unix();
    let late = requests
        .iter()
        .filter(|r| now - r.submitted_at.unwrap_or(now) > 86_400)
        .count();
    let mut body = format!(
        "<p class=\"{}\">{} demande(s) en attente, dont {late} depuis plus de 24 h (objectif : toutes traitées sous 24 h).</p><ul>",
        if late > 0 { "error" } else { "hint" },
        requests.len()
    );
    for r in &requests {
        let hours = (now - r.submitted_at.unwrap_or(now)) / 3600;
        body.push_str(&format!(
            "<li><a href=\"/revue/{}\">Demande du {}</a> — en attente depuis {hours} h</li>",
            esc(&r.id),
            chrono::DateTime::from_timestamp(r.submitted_at.unwrap_or(now), 0)
                .map(|t| t.format("%d/%m %H:%M").to_string())
                .unwrap_or_default()
        ));
    }
    body.push_str("</ul>");
    page(
        StatusCode::OK,
        "Vérifications en ligne",
        Some(&agent),
        None,
        None,
        body,
    )
}

async fn review_get(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Reviewer, Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let lookup = id.clone();
    let found = console
        .core
        .db
        .read(move |conn| {
            let Some(request) = rows::request(conn, &lookup)? else {
                return Ok(None);
            };
            let identity = accounts::identity(conn, &request.account_id)?;
            Ok(Some((request, identity)))
        })
        .await;
    let (request, identity) = match found {
        Ok(Some((r, Some(i))))
            if r.method == "remote"
                && r.status == idp_server::domain::account::RequestStatus::Pending =>
        {
            (r, i)
        }
        Ok(_) => {
            return page(
                StatusCode::NOT_FOUND,
                "Vérification en ligne",
                Some(&agent),
                Some("Cette demande n'est plus en attente.".into()),
                None,
                "<p><a href=\"/revue\">Retour à la file</a></p>".into(),
            );
        }
        Err(e) => return unavailable(e),
    };
    let body = format!(
        "<p>Chiffres que la personne devait prononcer (ou montrer) : <strong class=\"reference\">{}</strong></p>{}\
         <h2>Pièce</h2><img src=\"/revue/{id}/media/front\" alt=\"Recto de la pièce\" style=\"max-width:100%\"><img src=\"/revue/{id}/media/back\" alt=\"Verso de la pièce\" style=\"max-width:100%\">\
         <h2>Vidéo</h2><video src=\"/revue/{id}/media/video\" controls style=\"width:100%\"></video><h2>Décision</h2>{}",
        esc(request.challenge.as_deref().unwrap_or("")),
        identity_summary(&identity),
        decision_form(&format!("/revue/{id}"), &session.csrf, "", true),
        id = esc(&id)
    );
    page(
        StatusCode::OK,
        "Vérification en ligne",
        Some(&agent),
        None,
        None,
        body,
    )
}

async fn review_media(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    if let Err(r) = require(&console, &req, &[Role::Reviewer, Role::Admin]).await {
        return r;
    }
    let (id, kind) = path.into_inner();
    if !matches!(kind.as_str(), "front" | "back" | "video") {
        return HttpResponse::NotFound().finish();
    }
    let (lookup, k) = (id.clone(), kind.clone());
    let found = console
        .core
        .db
        .read(move |conn| rows::media(conn, &lookup, &k))
        .await;
    let (content_type, sealed) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return HttpResponse::NotFound().finish(),
        Err(e) => return unavailable(e),
    };
    let kek = std::sync::Arc::clone(&console.core.subkeys.kek);
    let aad = format!("media:{id}:{kind}");
    let opened = tokio::task::spawn_blocking(move || kek.open(&sealed, aad.as_bytes())).await;
    match opened {
        Ok(Ok(bytes)) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, content_type))
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header(("Content-Disposition", "inline"))
            .body(bytes),
        _ => unavailable("a review medium cannot be decrypted"),
    }
}

async fn review_post(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Reviewer, Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Vérification en ligne",
            Some(&agent),
            Some("Formulaire expiré : recommencez.".into()),
            None,
            "<p><a href=\"/revue\">Retour à la file</a></p>".into(),
        );
    }
    let Some(decision) = decision_of(&form) else {
        return see_other("/revue");
    };
    if decision == Decision::Verified && !all_checks(&form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Vérification en ligne",
            Some(&agent),
            Some("Cochez les trois contrôles avant de valider l'identité.".into()),
            None,
            "<p><a href=\"/revue\">Retour à la file</a></p>".into(),
        );
    }
    let Some(acting) = auth::as_agent(&agent) else {
        return unavailable("agent role unreadable");
    };
    match verification::decide_remote(&console.core, &acting, &path.into_inner(), decision).await {
        Ok(Ok(_)) => see_other("/revue"),
        Ok(Err(refusal)) => page(
            StatusCode::BAD_REQUEST,
            "Vérification en ligne",
            Some(&agent),
            Some(refusal_text(&refusal).into()),
            None,
            "<p><a href=\"/revue\">Retour à la file</a></p>".into(),
        ),
        Err(e) => unavailable(e),
    }
}

// ------------------------------------------------------------------ account support (admin)

fn support_search(query: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/comptes\"><label for=\"q\">Adresse électronique ou numéro de portable</label>\
         <input id=\"q\" name=\"q\" type=\"text\" autocomplete=\"off\" autofocus value=\"{}\"><button type=\"submit\">Rechercher</button></form>",
        esc(query)
    )
}

fn action_form(action: &str, csrf: &str, label: &str, reason: bool) -> String {
    let field = if reason {
        "<label for=\"reason\">Motif</label><input id=\"reason\" name=\"reason\" type=\"text\">"
    } else {
        ""
    };
    format!(
        "<form method=\"post\" action=\"{}\"><button type=\"submit\" disabled hidden aria-hidden=\"true\" tabindex=\"-1\"></button>{}{field}<button type=\"submit\" class=\"secondary\">{}</button></form>",
        esc(action),
        hidden_csrf(csrf),
        esc(label)
    )
}

async fn support_get(
    console: web::Data<Console>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let q = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    // Only fixed notices travel in the URL; refusals are rendered directly.
    let notice = match query.get("fait").map(String::as_str) {
        Some("suspendu") => Some("Compte suspendu.".to_owned()),
        Some("retabli") => Some("Suspension levée.".to_owned()),
        Some("activation") => {
            Some("Nouveau code d'activation envoyé par SMS et par courriel.".to_owned())
        }
        Some("appareil") => Some("Appareil révoqué.".to_owned()),
        _ => None,
    };
    support_page(&console, &agent, &session, &q, notice, None, StatusCode::OK).await
}

async fn support_page(
    console: &Console,
    agent: &AgentRow,
    session: &AgentSession,
    q: &str,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let agent = agent.clone();
    let q = q.to_owned();
    if q.is_empty() {
        return page(
            status,
            "Assistance aux comptes",
            Some(&agent),
            error,
            notice,
            support_search(""),
        );
    }
    let row = match crate::support::Lookup::parse(&q) {
        Ok(lookup) => crate::support::find(&console.core.db, &lookup).await,
        Err(e) => Err(e),
    };
    let row = match row {
        Ok(row) => row,
        Err(crate::AdminError::Usage(message)) => {
            return page(
                StatusCode::NOT_FOUND,
                "Assistance aux comptes",
                Some(&agent),
                Some(message),
                None,
                support_search(&q),
            );
        }
        Err(e) => return unavailable(e),
    };
    let overview = match crate::support::overview(&console.core.db, &row.id).await {
        Ok(o) => o,
        Err(e) => return unavailable(e),
    };
    let when = |t: i64| crate::format_time(t);
    let mut body = support_search(&q);
    body.push_str(&format!(
        "<h2>{}</h2><dl class=\"summary\"><dt>État</dt><dd>{}</dd><dt>Téléphone</dt><dd>{}</dd><dt>Créé le</dt><dd>{}</dd></dl>",
        esc(&row.email),
        esc(&row.state),
        esc(&row.phone.as_deref().map(idp_server::notify::mask_phone).unwrap_or_else(|| "—".into())),
        when(row.created_at)
    ));
    if let Some(identity) = &overview.identity {
        body.push_str("<h2>Identité</h2>");
        body.push_str(&identity_summary(identity));
        body.push_str(&format!(
            "<p>{}</p>",
            match (
                identity.verified_at,
                identity.verification_method.as_deref()
            ) {
                (Some(t), Some(m)) => format!(
                    "Vérifiée le {} ({})",
                    when(t),
                    if m == "remote" {
                        "en ligne"
                    } else {
                        "face à face"
                    }
                ),
                _ => "Déclarée, non vérifiée".to_owned(),
            }
        ));
    }
    if let Some(r) = &overview.request {
        body.push_str(&format!(
            "<h2>Dernière demande de vérification</h2><p>{} — {}{}{}</p>",
            if r.method == "remote" {
                "en ligne"
            } else {
                "face à face"
            },
            esc(r.status.as_str()),
            r.reference
                .as_deref()
                .map(|x| format!(", référence {}", esc(x)))
                .unwrap_or_default(),
            r.reason
                .as_deref()
                .map(|x| format!(", motif : {}", esc(x)))
                .unwrap_or_default(),
        ));
    }
    if let Some(a) = &overview.activation {
        body.push_str(&format!(
            "<p>Code d'activation en attente, valable jusqu'au {}.</p>",
            when(a.expires_at)
        ));
    }
    let base = format!("/comptes/{}", row.id);
    body.push_str("<h2>Appareils</h2>");
    if overview.devices.is_empty() {
        body.push_str("<p>Aucune application activée.</p>");
    }
    for d in &overview.devices {
        let state = match d.state.as_str() {
            "active" => "actif",
            "locked" => "bloqué (3 codes secrets erronés)",
            _ => "révoqué",
        };
        body.push_str(&format!(
            "<div class=\"device\"><p><strong>{}</strong> — {} — activé le {}{}</p>",
            esc(&d.name),
            state,
            when(d.created_at),
            d.last_used_at
                .map(|t| format!(", dernière approbation le {}", when(t)))
                .unwrap_or_default()
        ));
        if d.state != idp_server::domain::device::DeviceState::Revoked {
            body.push_str(&format!(
                "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"device\" value=\"{}\">\
                 <label for=\"reason-{id}\">Motif</label><input id=\"reason-{id}\" name=\"reason\" type=\"text\" required>\
                 <button type=\"submit\" class=\"secondary\">Révoquer cet appareil</button></form>",
                esc(&format!("{base}/revoquer-appareil")),
                hidden_csrf(&session.csrf),
                esc(&d.id),
                id = esc(&d.id),
            ));
        }
        body.push_str("</div>");
    }
    body.push_str("<h2>Actions</h2>");
    if row.state == "suspended" {
        body.push_str(&action_form(
            &format!("{base}/retablir"),
            &session.csrf,
            "Lever la suspension",
            true,
        ));
    } else {
        body.push_str(&action_form(
            &format!("{base}/suspendre"),
            &session.csrf,
            "Suspendre le compte",
            true,
        ));
    }
    if matches!(row.state.as_str(), "verified" | "active" | "device_locked") {
        body.push_str(&action_form(
            &format!("{base}/activation"),
            &session.csrf,
            "Envoyer un nouveau code d'activation",
            false,
        ));
    }
    body.push_str("<h2>Historique</h2><ul>");
    for e in &overview.audit {
        body.push_str(&format!(
            "<li>{} — {} ({})</li>",
            when(e.at),
            esc(&e.action),
            esc(&e.actor)
        ));
    }
    body.push_str("</ul>");
    page(
        status,
        "Assistance aux comptes",
        Some(&agent),
        error,
        notice,
        body,
    )
}

async fn support_action(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Params>,
) -> HttpResponse {
    let (agent, session) = match require(&console, &req, &[Role::Admin]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&session.csrf, &form) {
        return page(
            StatusCode::BAD_REQUEST,
            "Assistance aux comptes",
            Some(&agent),
            Some("Formulaire expiré : recommencez.".into()),
            None,
            support_search(""),
        );
    }
    let (account_id, action) = path.into_inner();
    let row = match crate::support::by_id(&console.core.db, &account_id).await {
        Ok(row) => row,
        Err(crate::AdminError::Usage(m)) => {
            return page(
                StatusCode::NOT_FOUND,
                "Assistance aux comptes",
                Some(&agent),
                Some(m),
                None,
                support_search(""),
            );
        }
        Err(e) => return unavailable(e),
    };
    let actor = format!("agent:{}", agent.username);
    let reason = form.get("reason").cloned().unwrap_or_default();
    if matches!(action.as_str(), "suspendre" | "revoquer-appareil") && reason.trim().is_empty() {
        let message = if action == "suspendre" {
            "Indiquez le motif de la suspension."
        } else {
            "Indiquez le motif de la révocation de l'appareil."
        }
        .to_owned();
        return support_page(
            &console,
            &agent,
            &session,
            &row.email,
            None,
            Some(message),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let done = match action.as_str() {
        "suspendre" => crate::support::suspend(&console.core.db, &row, &actor, &reason)
            .await
            .map(|_| "suspendu"),
        "retablir" => crate::support::unsuspend(&console.core.db, &row, &actor, Some(reason))
            .await
            .map(|_| "retabli"),
        "activation" => crate::support::reissue_activation(&console.core, &row, &actor)
            .await
            .map(|_| "activation"),
        "revoquer-appareil" => {
            let device = form.get("device").map(String::as_str).unwrap_or("");
            crate::support::revoke_device(&console.core, &row, device, &actor, &reason)
                .await
                .map(|_| "appareil")
        }
        _ => return HttpResponse::NotFound().finish(),
    };
    let email: String = url::form_urlencoded::byte_serialize(row.email.as_bytes()).collect();
    match done {
        Ok(what) => see_other(&format!("/comptes?q={email}&fait={what}")),
        // Refusals are rendered on the account's page, never put in a URL.
        Err(crate::AdminError::Usage(message)) => {
            support_page(
                &console,
                &agent,
                &session,
                &row.email,
                None,
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => unavailable(e),
    }
}

// ------------------------------------------------------------------ security keys

async fn keys_page(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, session) =
        match require(&console, &req, &[Role::Clerk, Role::Reviewer, Role::Admin]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let id = agent.id.clone();
    let count = match console
        .core
        .db
        .read(move |conn| idp_server::store::agents::keys_of(conn, &id))
        .await
    {
        Ok(keys) => keys.len(),
        Err(e) => return unavailable(e),
    };
    let body = format!(
        "<p>Clés enregistrées : {count}. Une clé de sécurité (avec code PIN ou empreinte) remplace le mot de passe et le code TOTP.</p>\
         <button type=\"button\" id=\"key-register\" data-csrf=\"{}\" hidden>Enregistrer une clé de sécurité</button>\
         <p id=\"key-status\" role=\"status\"></p><script src=\"/static/webauthn.js\"></script><p><a href=\"/\">Retour</a></p>",
        esc(&session.csrf)
    );
    page(
        StatusCode::OK,
        "Clés de sécurité",
        Some(&agent),
        None,
        None,
        body,
    )
}

fn json_status(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

fn header_csrf(req: &HttpRequest) -> Params {
    let mut params = Params::new();
    if let Some(v) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        params.insert("csrf".into(), v.to_owned());
    }
    params
}

async fn key_register_start(console: web::Data<Console>, req: HttpRequest) -> HttpResponse {
    let (agent, session) =
        match require(&console, &req, &[Role::Clerk, Role::Reviewer, Role::Admin]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&session.csrf, &header_csrf(&req)) {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "csrf" }),
        );
    }
    match keys::start_registration(&console.core, &agent).await {
        Ok(challenge) => json_status(
            StatusCode::OK,
            serde_json::to_value(challenge).unwrap_or_default(),
        ),
        Err(e) => unavailable(e),
    }
}

async fn key_register_finish(
    console: web::Data<Console>,
    req: HttpRequest,
    answer: web::Json<webauthn_rs::prelude::RegisterPublicKeyCredential>,
) -> HttpResponse {
    let (agent, session) =
        match require(&console, &req, &[Role::Clerk, Role::Reviewer, Role::Admin]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&session.csrf, &header_csrf(&req)) {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "csrf" }),
        );
    }
    match keys::finish_registration(&console.core, &agent, &answer).await {
        Ok(true) => json_status(StatusCode::OK, serde_json::json!({ "ok": true })),
        Ok(false) => json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "registration_failed" }),
        ),
        Err(e) => unavailable(e),
    }
}

async fn key_login_start(
    console: web::Data<Console>,
    req: HttpRequest,
    body: web::Json<Params>,
) -> HttpResponse {
    let Some(pre) = req.cookie(PRE_COOKIE).map(|c| c.value().to_owned()) else {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "no_session" }),
        );
    };
    if !csrf_ok(&pre_csrf(&console, &pre), &header_csrf(&req)) {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "csrf" }),
        );
    }
    let username = body
        .get("username")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    match keys::start_login(&console.core, &pre, username).await {
        Ok(Some(challenge)) => json_status(
            StatusCode::OK,
            serde_json::to_value(challenge).unwrap_or_default(),
        ),
        Ok(None) => json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "no_key" }),
        ),
        Err(e) => unavailable(e),
    }
}

async fn key_login_finish(
    console: web::Data<Console>,
    req: HttpRequest,
    answer: web::Json<webauthn_rs::prelude::PublicKeyCredential>,
) -> HttpResponse {
    let Some(pre) = req.cookie(PRE_COOKIE).map(|c| c.value().to_owned()) else {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "no_session" }),
        );
    };
    if !csrf_ok(&pre_csrf(&console, &pre), &header_csrf(&req)) {
        return json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "csrf" }),
        );
    }
    match keys::finish_login(&console.core, &pre, &answer).await {
        Ok(Some(agent)) => {
            let session = AgentSession {
                agent_id: agent.id,
                totp_ok: true,
                csrf: idp_server::crypto::random_token().unwrap_or_default(),
                enrolling: None,
            };
            let value = idp_server::crypto::random_token().unwrap_or_default();
            if let Err(e) = auth::save(&console.core, &value, &session).await {
                return unavailable(e);
            }
            let mut response = json_status(StatusCode::OK, serde_json::json!({ "redirect": "/" }));
            let _ = response.add_cookie(&cookie(SESSION_COOKIE, value));
            response
        }
        Ok(None) => json_status(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "not_recognised" }),
        ),
        Err(e) => unavailable(e),
    }
}

async fn webauthn_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .body(include_str!("webauthn.js"))
}

/// Reads the citizen's QR code with the device camera where the browser can
/// (BarcodeDetector); the typed field stays the way that always works.
async fn scan_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .body(include_str!("scan.js"))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .body(include_str!("../../../idp-server/static/sesame.css"))
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
            .route("/", web::get().to(home))
            .route("/connexion", web::get().to(login_get))
            .route("/connexion", web::post().to(login_post))
            .route("/totp", web::get().to(totp_get))
            .route("/totp", web::post().to(totp_post))
            .route("/deconnexion", web::post().to(logout))
            .route("/guichet", web::get().to(counter_get))
            .route("/guichet", web::post().to(counter_post))
            .route("/revue", web::get().to(queue))
            .route("/revue/{id}", web::get().to(review_get))
            .route("/revue/{id}", web::post().to(review_post))
            .route("/revue/{id}/media/{kind}", web::get().to(review_media))
            .route("/static/sesame.css", web::get().to(stylesheet))
            .route("/static/scan.js", web::get().to(scan_script))
            .route("/static/webauthn.js", web::get().to(webauthn_script))
            .route("/admin/cles", web::get().to(admin::keys_get))
            .route("/admin/cles", web::post().to(admin::keys_post))
            .route("/admin/agents", web::get().to(admin::agents_get))
            .route("/admin/agents", web::post().to(admin::agents_post))
            .route(
                "/admin/agents/{username}/{action}",
                web::post().to(admin::agent_action),
            )
            .route("/admin/clients", web::get().to(admin::clients_get))
            .route("/admin/clients", web::post().to(admin::clients_post))
            .route(
                "/admin/clients/{id}/{action}",
                web::post().to(admin::client_action),
            )
            .route("/comptes", web::get().to(support_get))
            .route("/comptes/{id}/{action}", web::post().to(support_action))
            .route("/cle", web::get().to(keys_page))
            .route(
                "/cle/enregistrement/debut",
                web::post().to(key_register_start),
            )
            .route(
                "/cle/enregistrement/fin",
                web::post().to(key_register_finish),
            )
            .route("/cle/connexion/debut", web::post().to(key_login_start))
            .route("/cle/connexion/fin", web::post().to(key_login_finish))
    })
    .workers(2)
    .listen(listener)?
    .run())
}
