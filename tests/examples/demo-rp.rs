//! Demo relying party: "Mon compte formation (démo)".
//!
//! A small server-rendered web app that logs citizens in with Sésame using the
//! authorization code flow (client_secret_basic, PKCE S256, nonce, state,
//! `acr_values`), then shows the "identité pivot" read from userinfo.
//! Consulting the account needs eIDAS 1; buying a training course needs
//! eIDAS 2 (step-up).
//!
//! ```sh
//! DEMO_CLIENT_SECRET=… cargo run -p idp-tests --example demo-rp
//! ```
//!
//! Environment: `DEMO_ISSUER` (default http://127.0.0.1:8080),
//! `DEMO_CLIENT_ID` (default demo-rp), `DEMO_CLIENT_SECRET` (required),
//! `DEMO_BIND` (default 127.0.0.1:8090), `DEMO_URL` (default
//! http://127.0.0.1:8090). `make run` seeds the client and starts this app.
//!
//! State lives in memory: a random cookie names the browser; its pending
//! login (PKCE verifier, nonce, state, level) and its session stay here.
//! Userinfo is fetched with the `openidconnect` client and a custom
//! `AdditionalClaims` type, so `birthplace` and `birthcountry` are kept.
//! Secrets and tokens are never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGenderClaim, CoreGrantType, CoreIdToken, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthType,
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    LogoutProviderMetadata, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};

/// Name of the browser cookie. Cookies ignore ports, so on 127.0.0.1 the IdP
/// sees it too: the name must not clash with the IdP's `sesame_*` cookies.
const COOKIE: &str = "demo_rp";
/// How long a started login may take before its callback is refused.
const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
/// How long an idle browser entry is kept.
const BROWSER_TTL: Duration = Duration::from_secs(2 * 3600);
/// How long discovery metadata (and the JWKS fetched with it) is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// Scopes asked for: FranceConnect's identité pivot plus the email address.
const SCOPES: [&str; 2] = ["identite_pivot", "email"];

// ------------------------------------------------------------------ levels

/// The eIDAS levels this RP asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Eidas1,
    Eidas2,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "eidas1" => Some(Level::Eidas1),
            "eidas2" => Some(Level::Eidas2),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Eidas1 => "eidas1",
            Level::Eidas2 => "eidas2",
        }
    }

    /// Where the person lands after logging in at this level.
    fn landing(self) -> &'static str {
        match self {
            Level::Eidas1 => "/compte",
            Level::Eidas2 => "/achat",
        }
    }
}

/// Rank of an `acr` value returned by the provider (eidas3 included).
fn acr_rank(acr: &str) -> Option<u8> {
    match acr {
        "eidas1" => Some(1),
        "eidas2" => Some(2),
        "eidas3" => Some(3),
        _ => None,
    }
}

fn meets(acr: &str, level: Level) -> bool {
    let wanted = match level {
        Level::Eidas1 => 1,
        Level::Eidas2 => 2,
    };
    acr_rank(acr).is_some_and(|rank| rank >= wanted)
}

// ------------------------------------------------------------------ OIDC types

/// Non-standard userinfo claims of the identité pivot (INSEE codes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PivotClaims {
    birthplace: Option<String>,
    birthcountry: Option<String>,
}
impl AdditionalClaims for PivotClaims {}

/// Discovery fields beyond the core and logout metadata (RFC 9207).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IssMetadata {
    authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for IssMetadata {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<IssMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What `CoreClient::from_provider_metadata` returns: authorization endpoint
/// set, token and userinfo endpoints as discovered.
type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider as discovered, and the client built from it.
struct Oidc {
    client: OidcClient,
    issuer: String,
    end_session: Option<EndSessionUrl>,
    /// The provider promises `iss` in authorization responses (RFC 9207).
    iss_required: bool,
}

// ------------------------------------------------------------------ state

struct Config {
    issuer: IssuerUrl,
    client_id: String,
    client_secret: String,
    bind: String,
    base_url: String,
}

/// A login started by this browser, waiting for its callback.
struct Pending {
    csrf: CsrfToken,
    nonce: Nonce,
    pkce: PkceCodeVerifier,
    level: Level,
    started: Instant,
}

/// A logged-in person, as the ID token and userinfo described them.
#[derive(Clone)]
struct Session {
    given_name: Option<String>,
    family_name: Option<String>,
    birthdate: Option<String>,
    birthplace: Option<String>,
    birthcountry: Option<String>,
    email: Option<String>,
    acr: String,
    amr: Vec<String>,
    /// Kept only as `id_token_hint` for logout.
    id_token: CoreIdToken,
}

#[derive(Default)]
struct Browser {
    pending: Option<Pending>,
    session: Option<Session>,
    /// `state` sent with the last logout, to recognise the return.
    logout_state: Option<String>,
    touched: Option<Instant>,
}

struct AppState {
    config: Config,
    http: reqwest::Client,
    oidc: RwLock<Option<(Instant, Arc<Oidc>)>>,
    browsers: Mutex<HashMap<String, Browser>>,
}

impl AppState {
    /// The discovered provider, re-read every five minutes (a stale copy is
    /// used if the provider cannot be reached).
    async fn oidc(&self) -> Result<Arc<Oidc>, Failure> {
        let cached = self.oidc.read().ok().and_then(|guard| guard.clone());
        if let Some((at, oidc)) = &cached
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(Arc::clone(oidc));
        }
        match self.discover().await {
            Ok(oidc) => {
                let oidc = Arc::new(oidc);
                if let Ok(mut guard) = self.oidc.write() {
                    *guard = Some((Instant::now(), Arc::clone(&oidc)));
                }
                Ok(oidc)
            }
            Err(detail) => {
                eprintln!("demo-rp: discovery failed: {detail}");
                match cached {
                    Some((_, oidc)) => Ok(oidc),
                    None => Err(Failure::unavailable(
                        "Le fournisseur d'identité Sésame ne répond pas. Est-il démarré ?",
                    )),
                }
            }
        }
    }

    async fn discover(&self) -> Result<Oidc, String> {
        let metadata = Metadata::discover_async(self.config.issuer.clone(), &self.http)
            .await
            .map_err(|e| error_chain(&e))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let iss_required = metadata
            .additional_metadata()
            .additional_metadata
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        let redirect = RedirectUrl::new(format!("{}/callback", self.config.base_url))
            .map_err(|e| format!("DEMO_URL: {e}"))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_auth_type(AuthType::BasicAuth)
        .set_redirect_uri(redirect);
        Ok(Oidc {
            client,
            issuer: self.config.issuer.as_str().to_owned(),
            end_session,
            iss_required,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Browser>> {
        match self.browsers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs `f` on this browser's entry (created if needed), dropping idle ones.
    fn with_browser<R>(&self, key: &str, f: impl FnOnce(&mut Browser) -> R) -> R {
        let mut browsers = self.lock();
        browsers.retain(|_, b| b.touched.is_some_and(|t| t.elapsed() < BROWSER_TTL));
        let browser = browsers.entry(key.to_owned()).or_default();
        browser.touched = Some(Instant::now());
        f(browser)
    }

    /// Runs `f` on the entry of the browser presenting `req`'s cookie, if
    /// this server knows it (never creates one for an unknown value).
    fn with_known<R>(&self, req: &HttpRequest, f: impl FnOnce(&mut Browser) -> R) -> Option<R> {
        let key = req.cookie(COOKIE)?.value().to_owned();
        let mut browsers = self.lock();
        let browser = browsers
            .get_mut(&key)
            .filter(|b| b.touched.is_some_and(|t| t.elapsed() < BROWSER_TTL))?;
        browser.touched = Some(Instant::now());
        Some(f(browser))
    }

    /// Moves a browser's entry under a new key (after login).
    fn rekey(&self, old: &str, new: &str) {
        let mut browsers = self.lock();
        if let Some(browser) = browsers.remove(old) {
            browsers.insert(new.to_owned(), browser);
        }
    }

    fn session(&self, req: &HttpRequest) -> Option<Session> {
        self.with_known(req, |b| b.session.clone()).flatten()
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(COOKIE, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.config.base_url.starts_with("https://"))
            .finish()
    }
}

/// An error with its whole source chain, on one line (no secrets in it).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

// ------------------------------------------------------------------ HTML

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page; `title` is escaped here, `body` must already be safe HTML.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Mon compte formation (démo)</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1e1e1e}}\n\
         header{{border-bottom:3px solid #000091;margin-bottom:1.5rem}}\n\
         header a{{color:#000091;text-decoration:none;font-weight:bold}}\n\
         .button{{display:inline-block;background:#000091;color:#fff;padding:.6rem 1rem;margin:.3rem 0;text-decoration:none;border:0;font-size:1rem}}\n\
         .secondary{{background:#fff;color:#000091;border:1px solid #000091}}\n\
         .notice{{background:#e8edff;padding:.8rem}}\n.error{{background:#ffe9e9;padding:.8rem}}\n\
         dt{{font-weight:bold}}dd{{margin:0 0 .6rem 0}}\n\
         </style>\n</head>\n<body>\n<header><p><a href=\"/\">Mon compte formation (démo)</a></p></header>\n\
         <main>\n<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        title = escape(title),
    );
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(html)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// A failure shown to the person as a French page.
struct Failure {
    status: StatusCode,
    message: String,
    detail: Option<String>,
}

impl Failure {
    fn bad_request(message: &str) -> Self {
        Failure {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
            detail: None,
        }
    }

    fn unavailable(message: &str) -> Self {
        Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.to_owned(),
            detail: None,
        }
    }

    /// The provider answered something this RP must refuse.
    fn provider(message: &str, detail: String) -> Self {
        eprintln!("demo-rp: {message} ({detail})");
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.to_owned(),
            detail: Some(detail),
        }
    }

    fn render(&self) -> HttpResponse {
        let detail = self
            .detail
            .as_ref()
            .map(|d| format!("<p>Détail technique : <code>{}</code></p>", escape(d)))
            .unwrap_or_default();
        page(
            self.status,
            "Une erreur est survenue",
            &format!(
                "<p class=\"error\">{}</p>\n{detail}\n<p><a class=\"button\" href=\"/\">Retour à l'accueil</a></p>",
                escape(&self.message)
            ),
        )
    }
}

// ------------------------------------------------------------------ pages

type Query = web::Query<HashMap<String, String>>;

fn identity_name(session: &Session) -> String {
    [
        session.given_name.as_deref(),
        session.family_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
}

/// `/`: what the service does and the two ways in.
async fn home(state: web::Data<AppState>, req: HttpRequest, query: Query) -> HttpResponse {
    let mut notice = String::new();
    if let Some(returned) = query.get("state") {
        let ours = state.with_known(&req, |b| b.logout_state.take()).flatten();
        if ours.is_some_and(|s| constant_time_eq(&s, returned)) {
            notice = "<p class=\"notice\" role=\"status\">Vous êtes déconnecté(e) de Mon compte formation et de Sésame.</p>\n".to_owned();
        }
    }
    let who = match state.session(&req) {
        Some(session) => format!(
            "<p>Connecté(e) : <strong>{}</strong> (niveau {}). \
             <a href=\"/compte\">Mon compte</a> · <a href=\"/logout\">Se déconnecter</a></p>\n",
            escape(&identity_name(&session)),
            escape(&session.acr)
        ),
        None => String::new(),
    };
    let body = format!(
        "{notice}{who}<p>Consultez vos droits à la formation et achetez une formation, \
         en vous connectant avec <strong>Sésame</strong>.</p>\n\
         <p><a class=\"button\" href=\"/login?level=eidas1\">Consulter mon compte</a></p>\n\
         <p><a class=\"button\" href=\"/login?level=eidas2\">Acheter une formation</a></p>\n\
         <p>Consulter votre compte demande le niveau de garantie eIDAS « faible » (eidas1) : \
         une connexion par mot de passe suffit. Acheter une formation engage vos droits : \
         cela demande le niveau « substantiel » (eidas2), c'est-à-dire une identité vérifiée \
         et une connexion par l'application Sésame.</p>"
    );
    page(StatusCode::OK, "Mon compte formation (démo)", &body)
}

/// `/login?level=eidas1|eidas2`: starts the authorization code flow.
async fn login(state: web::Data<AppState>, req: HttpRequest, query: Query) -> HttpResponse {
    let level = match query.get("level").map(String::as_str) {
        None => Level::Eidas1,
        Some(raw) => match Level::parse(raw) {
            Some(level) => level,
            None => {
                return Failure::bad_request(
                    "Niveau de garantie inconnu : choisissez eidas1 ou eidas2.",
                )
                .render();
            }
        },
    };
    let oidc = match state.oidc().await {
        Ok(oidc) => oidc,
        Err(failure) => return failure.render(),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = oidc
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_auth_context_value(AuthenticationContextClass::new(level.as_str().to_owned()));
    for scope in SCOPES {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, csrf, nonce) = request.url();

    let pending = Pending {
        csrf,
        nonce,
        pkce: verifier,
        level,
        started: Instant::now(),
    };
    // Keep a cookie this server issued (it may hold the session being
    // stepped up); anything else gets a fresh random value.
    let mut pending = Some(pending);
    let known = state
        .with_known(&req, |b| b.pending = pending.take())
        .is_some();
    let mut response = see_other(url.as_str());
    if !known {
        let key = CsrfToken::new_random().secret().clone();
        state.with_browser(&key, |b| b.pending = pending.take());
        let _ = response.add_cookie(&state.cookie(key));
    }
    response
}

/// `/callback`: the provider's answer (code or error).
async fn callback(state: web::Data<AppState>, req: HttpRequest, query: Query) -> HttpResponse {
    match finish_login(&state, &req, &query).await {
        Ok(response) => response,
        Err(failure) => failure.render(),
    }
}

async fn finish_login(
    state: &AppState,
    req: &HttpRequest,
    query: &HashMap<String, String>,
) -> Result<HttpResponse, Failure> {
    let get = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(key) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return Err(Failure::bad_request(
            "Aucune connexion n'était en cours dans ce navigateur (cookie absent). Recommencez depuis l'accueil.",
        ));
    };
    let Some(pending) = state.with_known(req, |b| b.pending.take()).flatten() else {
        return Err(Failure::bad_request(
            "Aucune connexion n'était en cours dans ce navigateur, ou elle a déjà abouti. Recommencez depuis l'accueil.",
        ));
    };
    if pending.started.elapsed() > PENDING_TTL {
        return Err(Failure::bad_request(
            "La connexion a pris trop de temps. Recommencez depuis l'accueil.",
        ));
    }
    if !get("state").is_some_and(|s| constant_time_eq(s, pending.csrf.secret())) {
        return Err(Failure::bad_request(
            "La réponse du fournisseur d'identité ne correspond pas à la connexion en cours (state). Recommencez depuis l'accueil.",
        ));
    }
    let oidc = state.oidc().await?;
    // RFC 9207: the response names its issuer (defence against mix-up).
    match get("iss") {
        Some(iss) if iss != oidc.issuer => {
            return Err(Failure::bad_request(
                "La réponse vient d'un autre fournisseur d'identité que celui sollicité.",
            ));
        }
        None if oidc.iss_required => {
            return Err(Failure::bad_request(
                "La réponse du fournisseur d'identité ne précise pas son émetteur (iss).",
            ));
        }
        _ => {}
    }

    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or("");
        let (title, explanation) = if error == "access_denied" {
            (
                "Connexion annulée ou niveau de garantie non atteint",
                match pending.level {
                    Level::Eidas2 => {
                        "Vous avez annulé la connexion, ou votre compte Sésame ne permet pas \
                         encore d'atteindre le niveau de garantie « substantiel » (eidas2) \
                         exigé pour acheter une formation. Il faut une identité vérifiée et \
                         l'application Sésame."
                    }
                    Level::Eidas1 => "Vous avez annulé la connexion avec Sésame.",
                },
            )
        } else {
            (
                "La connexion a échoué",
                "Le fournisseur d'identité a refusé la demande de connexion.",
            )
        };
        let status = if error == "access_denied" {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = format!(
            "<p class=\"error\" role=\"alert\">{}</p>\n<dl>\n<dt>Erreur</dt><dd><code>{}</code></dd>\n\
             <dt>Description</dt><dd>{}</dd>\n<dt>Niveau demandé</dt><dd>{}</dd>\n</dl>\n\
             <p><a class=\"button\" href=\"/\">Retour à l'accueil</a></p>",
            escape(explanation),
            escape(error),
            escape(description),
            pending.level.as_str()
        );
        return Ok(page(status, title, &body));
    }
    let Some(code) = get("code") else {
        return Err(Failure::bad_request(
            "La réponse du fournisseur d'identité ne contient ni code ni erreur.",
        ));
    };

    // Code exchange, with the PKCE verifier (client_secret_basic).
    let token_response = oidc
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| {
            Failure::provider(
                "Le fournisseur n'a pas de point d'accès token.",
                e.to_string(),
            )
        })?
        .set_pkce_verifier(pending.pkce)
        .request_async(&state.http)
        .await
        .map_err(|e| {
            Failure::provider(
                "L'échange du code d'autorisation a échoué.",
                error_chain(&e),
            )
        })?;

    // ID token: signature, issuer, audience, expiry, nonce.
    let id_token = token_response.id_token().ok_or_else(|| {
        Failure::provider(
            "Le fournisseur n'a pas renvoyé de jeton d'identité.",
            "no id_token in the token response".into(),
        )
    })?;
    let verifier = oidc.client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &pending.nonce)
        .map_err(|e| Failure::provider("Le jeton d'identité est invalide.", error_chain(&e)))?;

    // acr: at least the level asked for.
    let acr = claims
        .auth_context_ref()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    if !meets(&acr, pending.level) {
        return Err(Failure::provider(
            "Le niveau de garantie obtenu est inférieur à celui demandé.",
            format!(
                "acr {:?} < {}",
                if acr.is_empty() { "(absent)" } else { &acr },
                pending.level.as_str()
            ),
        ));
    }

    // at_hash: the access token belongs to this ID token.
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| Failure::provider("Le jeton d'identité est invalide.", error_chain(&e)))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| Failure::provider("Le jeton d'identité est invalide.", error_chain(&e)))?;
        let actual = AccessTokenHash::from_token(token_response.access_token(), alg, key)
            .map_err(|e| Failure::provider("Le jeton d'identité est invalide.", error_chain(&e)))?;
        if actual != *expected {
            return Err(Failure::provider(
                "Le jeton d'accès ne correspond pas au jeton d'identité.",
                "at_hash mismatch".into(),
            ));
        }
    } else {
        eprintln!("demo-rp: the ID token has no at_hash");
    }
    let amr: Vec<String> = claims
        .auth_method_refs()
        .map(|list| list.iter().map(|a| a.as_str().to_owned()).collect())
        .unwrap_or_default();

    // userinfo, for the same subject, with the identité pivot claims.
    let userinfo: UserInfoClaims<PivotClaims, CoreGenderClaim> = oidc
        .client
        .user_info(
            token_response.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .map_err(|e| {
            Failure::provider(
                "Le fournisseur n'a pas de point d'accès userinfo.",
                e.to_string(),
            )
        })?
        .request_async(&state.http)
        .await
        .map_err(|e| {
            Failure::provider(
                "La lecture de votre identité (userinfo) a échoué.",
                error_chain(&e),
            )
        })?;

    let session = Session {
        given_name: userinfo
            .given_name()
            .and_then(|c| c.get(None))
            .map(|v| v.as_str().to_owned()),
        family_name: userinfo
            .family_name()
            .and_then(|c| c.get(None))
            .map(|v| v.as_str().to_owned()),
        birthdate: userinfo.birthdate().map(|v| v.as_str().to_owned()),
        birthplace: userinfo.additional_claims().birthplace.clone(),
        birthcountry: userinfo.additional_claims().birthcountry.clone(),
        email: userinfo.email().map(|v| v.as_str().to_owned()),
        acr,
        amr,
        id_token: id_token.clone(),
    };
    // A fresh cookie value once logged in (no session fixation).
    let new_key = CsrfToken::new_random().secret().clone();
    state.with_browser(&key, |b| b.session = Some(session));
    state.rekey(&key, &new_key);
    let mut response = see_other(pending.level.landing());
    let _ = response.add_cookie(&state.cookie(new_key));
    Ok(response)
}

fn definition(label: &str, value: Option<&str>) -> String {
    format!(
        "<dt>{}</dt><dd>{}</dd>\n",
        escape(label),
        value.map_or_else(|| "<em>non transmis</em>".to_owned(), escape)
    )
}

/// `/compte`: the identity read from userinfo, and the level reached.
async fn account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(session) = state.session(&req) else {
        return see_other("/login?level=eidas1");
    };
    let amr = session.amr.join(" ");
    let body = format!(
        "<p>Bonjour {} ! Voici l'identité transmise par Sésame.</p>\n<dl>\n{}{}{}{}{}{}</dl>\n\
         <h2>Connexion</h2>\n<dl>\n{}{}</dl>\n\
         <p>Solde de vos droits à la formation : <strong>1 250 €</strong> (fictif).</p>\n\
         <p><a class=\"button\" href=\"/achat\">Acheter une formation</a> \
         <a class=\"button secondary\" href=\"/logout\">Se déconnecter</a></p>",
        escape(&identity_name(&session)),
        definition("Prénom(s)", session.given_name.as_deref()),
        definition("Nom de naissance", session.family_name.as_deref()),
        definition("Date de naissance", session.birthdate.as_deref()),
        definition(
            "Lieu de naissance (code INSEE)",
            session.birthplace.as_deref()
        ),
        definition(
            "Pays de naissance (code INSEE)",
            session.birthcountry.as_deref()
        ),
        definition("Adresse électronique", session.email.as_deref()),
        definition("Niveau de garantie (acr)", Some(&session.acr)),
        definition(
            "Méthodes d'authentification (amr)",
            (!amr.is_empty()).then_some(amr.as_str())
        ),
    );
    page(StatusCode::OK, "Mon compte", &body)
}

/// `/achat`: needs eidas2; otherwise step up.
async fn purchase(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match state.session(&req) {
        Some(session) if meets(&session.acr, Level::Eidas2) => {
            let body = format!(
                "<p class=\"notice\">Connexion au niveau <strong>{}</strong> : vous pouvez acheter une formation.</p>\n\
                 <p>Formation « Gestion de projet » — 1 200 € pris sur vos droits (démonstration, rien n'est acheté).</p>\n\
                 <p><a class=\"button\" href=\"/compte\">Retour à mon compte</a> \
                 <a class=\"button secondary\" href=\"/logout\">Se déconnecter</a></p>",
                escape(&session.acr)
            );
            page(StatusCode::OK, "Acheter une formation", &body)
        }
        _ => see_other("/login?level=eidas2"),
    }
}

/// `/logout`: ends the local session, then the provider's (RP-initiated logout).
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(session) = state.with_known(&req, |b| b.session.take()).flatten() else {
        return see_other("/");
    };
    let oidc = match state.oidc().await {
        Ok(oidc) => oidc,
        Err(failure) => return failure.render(),
    };
    let Some(end_session) = oidc.end_session.clone() else {
        return see_other("/");
    };
    let post_logout = match PostLogoutRedirectUrl::new(format!("{}/", state.config.base_url)) {
        Ok(url) => url,
        Err(e) => {
            return Failure::provider("DEMO_URL n'est pas une URL valide.", e.to_string()).render();
        }
    };
    let logout_state = CsrfToken::new_random();
    state.with_known(&req, |b| {
        b.logout_state = Some(logout_state.secret().clone());
    });
    let url = LogoutRequest::from(end_session)
        .set_id_token_hint(&session.id_token)
        .set_post_logout_redirect_uri(post_logout)
        .set_state(logout_state)
        .http_get_url();
    see_other(url.as_str())
}

async fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Page introuvable",
        "<p><a href=\"/\">Retour à l'accueil</a></p>",
    )
}

// ------------------------------------------------------------------ main

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Some(client_secret) = std::env::var("DEMO_CLIENT_SECRET")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!(
            "demo-rp: DEMO_CLIENT_SECRET is not set (run `idp-admin dev seed` and export its output)"
        );
        std::process::exit(2);
    };
    let issuer = env_or("DEMO_ISSUER", "http://127.0.0.1:8080");
    let config = Config {
        issuer: IssuerUrl::new(issuer.trim_end_matches('/').to_owned())
            .expect("DEMO_ISSUER must be a URL"),
        client_id: env_or("DEMO_CLIENT_ID", "demo-rp"),
        client_secret,
        bind: env_or("DEMO_BIND", "127.0.0.1:8090"),
        base_url: env_or("DEMO_URL", "http://127.0.0.1:8090")
            .trim_end_matches('/')
            .to_owned(),
    };
    url::Url::parse(&config.base_url).expect("DEMO_URL must be a URL");
    // No redirects: following them would open the client to SSRF.
    let http = reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("cannot build the HTTP client");
    let bind = config.bind.clone();
    println!(
        "demo-rp: Mon compte formation (démo) on {} (bind {bind}), issuer {}, client {}",
        config.base_url,
        config.issuer.as_str(),
        config.client_id
    );
    let state = web::Data::new(AppState {
        config,
        http,
        oidc: RwLock::new(None),
        browsers: Mutex::new(HashMap::new()),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/compte", web::get().to(account))
            .route("/achat", web::get().to(purchase))
            .route("/logout", web::get().to(logout))
            .default_service(web::to(not_found))
    })
    .workers(2)
    .bind(bind)?
    .run()
    .await
}
