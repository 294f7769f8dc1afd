//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//!
//! `id_token_hint` must be an ID token this provider signed (an expired one is
//! fine: logging out late is normal). A `post_logout_redirect_uri` is honoured
//! only if registered for the client the hint names.

use std::collections::HashMap;

use josekit::jwt;

use super::Provider;
use super::error::OidcError;

/// What the logout request turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Logout {
    /// Log out and redirect here (`state` already appended).
    Redirect(String),
    /// Log out and show the "you are logged out" page.
    Page,
    /// No valid hint: ask the person to confirm before logging out.
    Confirm,
    /// The request is bad; nothing is done.
    Invalid(&'static str),
}

/// The `aud` (client id) of an ID token this provider signed, if it verifies.
pub fn verify_hint(provider: &Provider, hint: &str) -> Option<(String, Option<String>)> {
    let header = jwt::decode_header(hint).ok()?;
    let kid = header.claim("kid")?.as_str()?;
    let keys = provider.core.keys.current();
    let key = keys.public_key(kid)?;
    let (claims, _) = jwt::decode_with_verifier(hint, key.verifier()).ok()?;
    if claims.issuer() != Some(provider.issuer()) {
        return None;
    }
    let aud = claims.audience()?.first()?.to_string();
    let sid = claims
        .claim("sid")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Some((aud, sid))
}

pub async fn decide(
    provider: &Provider,
    params: &HashMap<String, String>,
) -> Result<Logout, OidcError> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(hint) = get("id_token_hint") else {
        if get("post_logout_redirect_uri").is_some() {
            return Ok(Logout::Invalid(
                "post_logout_redirect_uri requires id_token_hint",
            ));
        }
        return Ok(Logout::Confirm);
    };
    let Some((client_id, _sid)) = verify_hint(provider, hint) else {
        return Ok(Logout::Invalid(
            "id_token_hint is not a valid ID token from this provider",
        ));
    };
    if get("client_id").is_some_and(|c| c != client_id) {
        return Ok(Logout::Invalid("client_id does not match id_token_hint"));
    }
    let Some(target) = get("post_logout_redirect_uri") else {
        return Ok(Logout::Page);
    };
    let Some(client) = provider.clients.get(&client_id).await? else {
        return Ok(Logout::Invalid(
            "the client of id_token_hint no longer exists",
        ));
    };
    if !client
        .metadata
        .post_logout_redirect_uris
        .iter()
        .any(|u| u == target)
    {
        return Ok(Logout::Invalid(
            "post_logout_redirect_uri is not registered for this client",
        ));
    }
    let mut url = match url::Url::parse(target) {
        Ok(url) => url,
        Err(_) => return Ok(Logout::Invalid("post_logout_redirect_uri is not a URL")),
    };
    if let Some(state) = get("state") {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Logout::Redirect(url.to_string()))
}
