//! The authorization endpoint and the steps after it (OIDC Core §3.1.2):
//! validate the request, then log in, consent and answer with a code.
//!
//! Errors before the client and its redirect URI are known to be valid are
//! shown on a page (never redirected, to avoid open redirects); after that
//! they go back to the client with `error`, `error_description`, `state`, `iss`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Provider;
use super::clients::Client;
use super::error::{ErrorCode, OAuthError, OidcError};
use super::session::{self, NewSession};
use super::types::{
    AuthRequest, Authenticated, ClaimsRequest, CodeData, Grant, Lang, Prompt, ResponseMode,
};
use crate::crypto::random_token;
use crate::domain::acr::Acr;
use crate::domain::scope;
use crate::ephemeral::keys;
use crate::ephemeral::{EphemeralStore, PreparedSet, Write};
use crate::outcome::{ServiceError, refuse};
use crate::ratelimit::{Limit, address_bucket};
use crate::store::audit::{self, AuditEvent};
use crate::store::{consents, now_unix};

/// How long a person has to log in and consent.
pub const REQUEST_TTL: Duration = Duration::from_secs(30 * 60);

const MAX_PARAM_LEN: usize = 2048;
/// `state` and `nonce` are stored with the request until the person logs
/// in: they are kept shorter than other parameters so that what an
/// anonymous request can store stays small (docs/operations.md).
const MAX_STORED_PARAM_LEN: usize = 1024;
/// A login hint is a phone number or an email address.
const MAX_LOGIN_HINT_LEN: usize = 256;

/// A problem shown on a page instead of being sent to the client (the web
/// layer words it: `web::error`'s `UserFacing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
    /// `client_id` or `redirect_uri` appears more than once (RFC 6749 §3.1):
    /// which one to trust cannot be known, so nothing is redirected.
    RepeatedParameter,
    /// The request expired or was never made from this browser.
    UnknownRequest,
    /// The form was not posted by the page we served (CSRF).
    Forged,
    /// This address has too many authorization requests in progress.
    TooManyRequests {
        retry_after: u64,
    },
}

/// Where the browser goes back to the relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl AuthorizationResponse {
    fn new(issuer: &str, redirect_uri: &str, mode: ResponseMode, state: Option<&str>) -> Self {
        let mut params = Vec::new();
        if let Some(state) = state {
            params.push(("state".to_owned(), state.to_owned()));
        }
        params.push(("iss".to_owned(), issuer.to_owned()));
        AuthorizationResponse {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }

    pub fn error(
        issuer: &str,
        redirect_uri: &str,
        mode: ResponseMode,
        state: Option<&str>,
        error: &OAuthError,
    ) -> Self {
        let mut response = Self::new(issuer, redirect_uri, mode, state);
        response
            .params
            .insert(0, ("error".into(), error.code.as_str().into()));
        response
            .params
            .insert(1, ("error_description".into(), error.description.clone()));
        response
    }

    fn code(issuer: &str, request: &AuthRequest, code: String) -> Self {
        let mut response = Self::new(
            issuer,
            &request.redirect_uri,
            request.response_mode,
            request.state.as_deref(),
        );
        response.params.insert(0, ("code".into(), code));
        response
    }

    /// The redirect URI with the parameters in its query (response_mode=query).
    pub fn query_url(&self) -> String {
        match url::Url::parse(&self.redirect_uri) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(&self.params);
                url.to_string()
            }
            Err(_) => self.redirect_uri.clone(),
        }
    }
}

/// What the browser should see next.
#[derive(Debug, Clone)]
pub enum Next {
    /// A page explaining a problem (no redirect).
    Page(Refusal),
    /// The login page of this request.
    Login(AuthRequest),
    /// The consent page of this request.
    Consent(AuthRequest, Arc<Client>),
    /// The person cannot reach the level the client requires: explain, then
    /// send `access_denied` when they continue.
    AcrUnreachable(AuthRequest, Arc<Client>),
    /// Back to the relying party.
    Respond(AuthorizationResponse),
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // select_account, create…: nothing to select or create here.
            _ => {}
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// Names in one member of the `claims` parameter, and the `acr` values it asks for.
fn claims_member(value: Option<&Value>) -> Result<(Vec<String>, Vec<Acr>), OAuthError> {
    let Some(value) = value else {
        return Ok((Vec::new(), Vec::new()));
    };
    let object = value
        .as_object()
        .ok_or_else(|| OAuthError::invalid_request("claims members must be JSON objects"))?;
    let mut names = Vec::new();
    let mut acrs = Vec::new();
    for (name, request) in object {
        if name == "acr" {
            let listed = request
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                .or_else(|| {
                    request
                        .get("value")
                        .and_then(Value::as_str)
                        .map(|v| vec![v])
                })
                .unwrap_or_default();
            acrs.extend(listed.into_iter().filter_map(Acr::parse));
        } else {
            names.push(name.clone());
        }
    }
    Ok((names, acrs))
}

fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates an authorization request (GET query or POST form).
/// `browser` is the hash of the browser cookie, `session` the SSO session if any.
/// `repeated` names a parameter that appeared more than once (the map keeps
/// its first value): once the client and redirect URI are trusted, the
/// request goes back with `invalid_request` (RFC 6749 §3.1).
pub async fn start(
    provider: &Provider,
    params: &HashMap<String, String>,
    repeated: Option<&str>,
    browser: &Browser<'_>,
    session: Option<Authenticated>,
) -> Result<Next, OidcError> {
    if matches!(repeated, Some("client_id" | "redirect_uri")) {
        return Ok(Next::Page(Refusal::RepeatedParameter));
    }
    let Some(client_id) = param(params, "client_id") else {
        return Ok(Next::Page(Refusal::MissingClientId));
    };
    let Some(client) = provider.clients.get(client_id).await? else {
        return Ok(Next::Page(Refusal::UnknownClient));
    };
    let Some(redirect_uri) = param(params, "redirect_uri") else {
        return Ok(Next::Page(Refusal::MissingRedirectUri));
    };
    if !client
        .metadata
        .redirect_uris
        .iter()
        .any(|r| r == redirect_uri)
    {
        return Ok(Next::Page(Refusal::UnregisteredRedirectUri));
    }
    let state = param(params, "state");
    let issuer = provider.issuer();
    let fail = |mode: ResponseMode, error: OAuthError| {
        Ok(Next::Respond(AuthorizationResponse::error(
            issuer,
            redirect_uri,
            mode,
            state,
            &error,
        )))
    };

    let mode = match param(params, "response_mode") {
        _ if repeated == Some("response_mode") => ResponseMode::Query,
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return fail(
                ResponseMode::Query,
                OAuthError::invalid_request(format!("unsupported response_mode {other}")),
            );
        }
    };
    if let Some(name) = repeated {
        return fail(
            mode,
            OAuthError::invalid_request(format!("{name} must not be sent more than once")),
        );
    }
    match param(params, "response_type") {
        None => {
            return fail(
                mode,
                OAuthError::invalid_request("response_type is required"),
            );
        }
        Some("code") => {}
        Some(other) => {
            return fail(
                mode,
                OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    format!("unsupported response_type {other}; only code is supported"),
                ),
            );
        }
    }
    if params.contains_key("request") {
        return fail(
            mode,
            OAuthError::new(
                ErrorCode::RequestNotSupported,
                "request objects are not supported",
            ),
        );
    }
    if params.contains_key("request_uri") {
        return fail(
            mode,
            OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ),
        );
    }
    if let Some((name, _)) = params.iter().find(|(name, v)| v.len() > max_len(name)) {
        return fail(
            mode,
            OAuthError::invalid_request(format!(
                "{name} is too long ({} bytes at most)",
                max_len(name)
            )),
        );
    }

    let scopes = scope::parse(param(params, "scope").unwrap_or(""));
    if !scopes.iter().any(|s| s == "openid") {
        return fail(
            mode,
            OAuthError::invalid_scope("the openid scope is required"),
        );
    }
    let refused: Vec<&str> = scopes
        .iter()
        .filter(|s| !client.metadata.allows_scope(s))
        .map(String::as_str)
        .collect();
    if !refused.is_empty() {
        return fail(
            mode,
            OAuthError::invalid_scope(format!(
                "scope not allowed for this client: {}",
                refused.join(" ")
            )),
        );
    }

    let code_challenge = match (
        param(params, "code_challenge"),
        param(params, "code_challenge_method"),
    ) {
        (Some(_), Some(method)) if method != "S256" => {
            return fail(
                mode,
                OAuthError::invalid_request("code_challenge_method must be S256"),
            );
        }
        (Some(_), None) => {
            return fail(
                mode,
                OAuthError::invalid_request(
                    "code_challenge_method is required (S256; plain is not accepted)",
                ),
            );
        }
        (Some(challenge), Some(_)) if !is_pkce_value(challenge) => {
            return fail(
                mode,
                OAuthError::invalid_request("malformed code_challenge"),
            );
        }
        (Some(challenge), Some(_)) => Some(challenge.to_owned()),
        (None, _) if client.metadata.require_pkce => {
            return fail(
                mode,
                OAuthError::invalid_request("PKCE is required: send code_challenge with S256"),
            );
        }
        (None, _) => None,
    };

    let prompt = match parse_prompt(param(params, "prompt")) {
        Ok(prompt) => prompt,
        Err(e) => return fail(mode, e),
    };
    let max_age = match param(params, "max_age") {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return fail(
                    mode,
                    OAuthError::invalid_request("max_age must be a non-negative integer"),
                );
            }
        },
    };

    let mut claims = ClaimsRequest::default();
    let mut acrs: Vec<Acr> = param(params, "acr_values")
        .unwrap_or("")
        .split(' ')
        .filter_map(Acr::parse)
        .collect();
    if let Some(raw) = param(params, "claims") {
        let parsed: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(_) => {
                return fail(
                    mode,
                    OAuthError::invalid_request("claims is not valid JSON"),
                );
            }
        };
        let members = claims_member(parsed.get("userinfo"))
            .and_then(|u| claims_member(parsed.get("id_token")).map(|i| (u, i)));
        match members {
            Ok(((userinfo, a), (id_token, b))) => {
                claims.userinfo = userinfo;
                claims.id_token = id_token;
                acrs.extend(a);
                acrs.extend(b);
            }
            Err(e) => return fail(mode, e),
        }
        // Individually requested claims are limited to what the client's scopes cover.
        let allowed = super::claims::requested_claims(&client.metadata.allowed_scopes, &[]);
        claims.userinfo.retain(|c| allowed.contains(c));
        claims.id_token.retain(|c| allowed.contains(c));
    }
    // acr_values lists acceptable levels: the lowest is the minimum (DESIGN §5).
    let min_acr = acrs
        .iter()
        .min()
        .copied()
        .unwrap_or(client.metadata.default_acr);
    if !client.metadata.allowed_acr.iter().any(|a| *a >= min_acr) {
        return fail(
            mode,
            OAuthError::invalid_request(format!("acr {min_acr} is not allowed for this client")),
        );
    }

    let request = AuthRequest {
        id: random_token()?,
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode: mode,
        state: state.map(str::to_owned),
        nonce: param(params, "nonce").map(str::to_owned),
        scopes,
        code_challenge,
        prompt,
        max_age,
        min_acr,
        claims,
        login_hint: param(params, "login_hint").map(str::to_owned),
        lang: Lang::negotiate(param(params, "ui_locales"), browser.accept_language),
        browser: browser.hash.to_owned(),
        csrf: random_token()?,
        created_at: now_unix(),
        authenticated: None,
        challenge: None,
    };

    // A suspended or revoked account's session was already dropped by
    // `session::load`. Reuse the SSO session only if it is strong and
    // recent enough.
    let reusable = session.filter(|s| {
        !prompt.login
            && s.acr >= request.min_acr
            && max_age.is_none_or(|age| now_unix() - s.auth_time <= age)
    });
    match reusable {
        Some(auth) => {
            super::login::record_reuse(provider, &client, &auth, browser.ip, browser.user_agent)
                .await?;
            after_authentication(provider, request, client, auth).await
        }
        None if prompt.none => fail(
            mode,
            OAuthError::new(ErrorCode::LoginRequired, "the person must log in"),
        ),
        None => {
            // Anonymous state: bounded per address, short-lived until the
            // person submits a form.
            if let Some(retry_after) = over_budget(provider, browser.ip).await? {
                return Ok(Next::Page(Refusal::TooManyRequests { retry_after }));
            }
            let idle = Duration::from_secs(provider.core.config.oidc.authorize_idle_ttl_secs);
            let stored = PreparedSet {
                ttl: idle,
                ..prepare_save(&request)?
            };
            store(provider, &[stored.write()], None).await?;
            if request.min_acr > HIGHEST_LOGIN_LEVEL {
                // No login offered here can reach the level: say so at once
                // rather than asking for a password that cannot be enough.
                return Ok(Next::AcrUnreachable(request, client));
            }
            Ok(Next::Login(request))
        }
    }
}

/// The browser an authorization request comes from.
pub struct Browser<'a> {
    /// Hash of the browser cookie.
    pub hash: &'a str,
    pub accept_language: Option<&'a str>,
    /// The client's address (behind trusted proxies, the forwarded one).
    pub ip: &'a str,
    /// Its `User-Agent` (the connection history).
    pub user_agent: &'a str,
}

fn max_len(name: &str) -> usize {
    match name {
        "state" | "nonce" => MAX_STORED_PARAM_LEN,
        "login_hint" => MAX_LOGIN_HINT_LEN,
        _ => MAX_PARAM_LEN,
    }
}

/// The per-address budget of anonymous stored state (authorization
/// requests here, new enrolments in `enrol`), `oidc.authorize_ip_limit` per
/// `oidc.authorize_ip_window_secs` each.
pub fn anonymous_budget(config: &crate::config::OidcConfig, name: &'static str) -> Limit {
    Limit {
        name,
        max: config.authorize_ip_limit,
        window: Duration::from_secs(config.authorize_ip_window_secs),
    }
}

/// `Some(wait)` once the address stored its budget of requests.
async fn over_budget(provider: &Provider, ip: &str) -> Result<Option<u64>, OidcError> {
    let limit = anonymous_budget(&provider.core.config.oidc, "authz:ip");
    Ok(limit.hit(&provider.core, &address_bucket(ip)).await?)
}

/// Saves the request with its full lifetime (it was stored with a short
/// one until the person first submits a form): for forms that keep the
/// person on the same page without saving it (a wrong password, an
/// invalid number).
pub async fn keep(provider: &Provider, request: &AuthRequest) -> Result<(), OidcError> {
    save(provider, request).await
}

/// The highest level a login offered by this provider can reach (approval
/// on the app with the PIN: eidas2; DESIGN §5). eidas3 needs the hardware
/// authenticator, which is not offered yet.
pub const HIGHEST_LOGIN_LEVEL: Acr = Acr::Eidas2;

impl AuthRequest {
    /// Whether the login should start on the phone page: the level needs
    /// the app, or the relying party hinted a phone number.
    pub fn wants_phone_login(&self) -> bool {
        self.min_acr >= Acr::Eidas2
            || self
                .login_hint
                .as_deref()
                .is_some_and(|h| crate::domain::phone::FrenchMobile::parse(h).is_ok())
    }
}

fn request_key(id: &str) -> String {
    keys::authorization_request(id)
}

/// The write that stores `request` (to apply together with others).
pub fn prepare_save(request: &AuthRequest) -> Result<PreparedSet, OidcError> {
    Ok(PreparedSet {
        key: request_key(&request.id),
        value: serde_json::to_vec(request)?,
        ttl: REQUEST_TTL,
    })
}

pub async fn save(provider: &Provider, request: &AuthRequest) -> Result<(), OidcError> {
    store(provider, &[prepare_save(request)?.write()], None).await
}

/// Applies `writes`, and the new SSO session's write if there is one, as one step.
async fn store(
    provider: &Provider,
    writes: &[Write<'_>],
    session: Option<&NewSession>,
) -> Result<(), OidcError> {
    let mut all = writes.to_vec();
    all.extend(session.map(|s| s.store.write()));
    if !all.is_empty() {
        provider.core.ephemeral.apply(&all).await?;
    }
    Ok(())
}

/// Loads a pending request for the browser that started it. A form's CSRF
/// token (`AuthRequest::csrf`) is checked by the web layer's binding.
pub async fn resume(
    provider: &Provider,
    id: &str,
    browser: &str,
) -> Result<(AuthRequest, Arc<Client>), ServiceError<Refusal, OidcError>> {
    let Some(raw) = provider.core.ephemeral.get(&request_key(id)).await? else {
        return refuse(Refusal::UnknownRequest);
    };
    let request: AuthRequest = serde_json::from_slice(&raw)?;
    if !crate::crypto::constant_time_eq(request.browser.as_bytes(), browser.as_bytes()) {
        return refuse(Refusal::UnknownRequest);
    }
    let Some(client) = provider.clients.get(&request.client_id).await? else {
        return refuse(Refusal::UnknownClient);
    };
    Ok((request, client))
}

/// Scopes the person still has to agree to for this client.
fn to_consent(granted: &[String], request: &AuthRequest) -> Vec<String> {
    request
        .scopes
        .iter()
        .filter(|s| *s != "openid" && !granted.contains(s))
        .cloned()
        .collect()
}

/// The person is authenticated for this request (by a reused SSO session):
/// check the level, then consent, then answer with a code.
pub async fn after_authentication(
    provider: &Provider,
    request: AuthRequest,
    client: Arc<Client>,
    auth: Authenticated,
) -> Result<Next, OidcError> {
    proceed(provider, request, client, auth, None).await
}

/// The person has just logged in for this request: as
/// [`after_authentication`], and starts their SSO session, stored in the same
/// step as the request's outcome. Returns the session cookie's value too.
pub async fn after_login(
    provider: &Provider,
    request: AuthRequest,
    client: Arc<Client>,
    auth: Authenticated,
) -> Result<(Next, String), OidcError> {
    let session = session::prepare(provider, &auth)?;
    let next = proceed(provider, request, client, auth, Some(&session)).await?;
    Ok((next, session.cookie))
}

async fn proceed(
    provider: &Provider,
    mut request: AuthRequest,
    client: Arc<Client>,
    auth: Authenticated,
    session: Option<&NewSession>,
) -> Result<Next, OidcError> {
    let issuer = provider.issuer();
    // (prompt=none never gets here with a weak session: `start` answers
    // login_required before, since only sessions strong enough are reused.)
    if auth.acr < request.min_acr {
        request.authenticated = Some(auth);
        store(provider, &[prepare_save(&request)?.write()], session).await?;
        return Ok(Next::AcrUnreachable(request, client));
    }
    let (account, client_id) = (auth.account_id.clone(), client.id.clone());
    let granted = provider
        .core
        .db
        .read_short(move |conn| consents::granted(conn, &account, &client_id))
        .await?;
    let missing =
        granted.is_none() || !to_consent(granted.as_deref().unwrap_or(&[]), &request).is_empty();
    if request.prompt.consent || missing {
        if request.prompt.none {
            store(provider, &[], session).await?;
            return Ok(Next::Respond(AuthorizationResponse::error(
                issuer,
                &request.redirect_uri,
                request.response_mode,
                request.state.as_deref(),
                &OAuthError::new(ErrorCode::ConsentRequired, "the person must consent"),
            )));
        }
        request.authenticated = Some(auth);
        store(provider, &[prepare_save(&request)?.write()], session).await?;
        return Ok(Next::Consent(request, client));
    }
    finish(provider, request, auth, session).await
}

/// Records the person's consent decision.
pub async fn consent(
    provider: &Provider,
    request: AuthRequest,
    client: Arc<Client>,
    approved: bool,
) -> Result<Next, OidcError> {
    let Some(auth) = request.authenticated.clone() else {
        return Ok(Next::Page(Refusal::UnknownRequest));
    };
    if !approved {
        return cancel(provider, request, Cancel::ByPerson).await;
    }
    let scopes: Vec<String> = request
        .scopes
        .iter()
        .filter(|s| *s != "openid")
        .cloned()
        .collect();
    let (account, client_id) = (auth.account_id.clone(), client.id.clone());
    provider
        .core
        .db
        .write(move |conn| {
            consents::grant(conn, &account, &client_id, &scopes)?;
            audit::append(
                conn,
                &AuditEvent {
                    actor: &format!("account:{account}"),
                    action: "consent.grant",
                    subject: &client_id,
                    details: serde_json::json!({ "scopes": scopes }),
                },
            )?;
            Ok(())
        })
        .await?;
    finish(provider, request, auth, None).await
}

/// The person gave up (or the level cannot be reached): `access_denied`.
pub async fn cancel(
    provider: &Provider,
    request: AuthRequest,
    reason: Cancel,
) -> Result<Next, OidcError> {
    provider
        .core
        .ephemeral
        .delete(&request_key(&request.id))
        .await?;
    let description = match reason {
        Cancel::ByPerson => "the person cancelled the login",
        Cancel::LevelUnreachable => {
            "the requested assurance level cannot be reached by this person's means of authentication"
        }
    };
    Ok(Next::Respond(AuthorizationResponse::error(
        provider.issuer(),
        &request.redirect_uri,
        request.response_mode,
        request.state.as_deref(),
        &OAuthError::access_denied(description),
    )))
}

/// Why a request ends with `access_denied`; the description tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    ByPerson,
    LevelUnreachable,
}

/// Issues the single-use code and ends the request.
async fn finish(
    provider: &Provider,
    request: AuthRequest,
    auth: Authenticated,
    session: Option<&NewSession>,
) -> Result<Next, OidcError> {
    let code = random_token()?;
    let acr = auth.acr;
    let data = CodeData {
        grant: Grant {
            client_id: request.client_id.clone(),
            account_id: auth.account_id,
            scopes: request.scopes.clone(),
            claims: request.claims.clone(),
            acr: auth.acr,
            authentication: auth.authentication,
            auth_time: auth.auth_time,
            sid: auth.sid,
        },
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
    };
    let code_key = keys::authorization_code(&provider.lookup_hash(&code));
    let code_data = serde_json::to_vec(&data)?;
    // 60 s by default (DESIGN §6).
    let code_ttl = Duration::from_secs(provider.core.config.oidc.code_ttl_secs);
    let request_key = request_key(&request.id);
    store(
        provider,
        &[
            Write::Set(&code_key, &code_data, code_ttl),
            Write::Delete(&request_key),
        ],
        session,
    )
    .await?;
    provider.core.metrics.login_completed(acr);
    Ok(Next::Respond(AuthorizationResponse::code(
        provider.issuer(),
        &request,
        code,
    )))
}
