//! The two cookies of the provider: browser binding and SSO session.
//! Both HttpOnly and SameSite=Lax; Secure whenever the issuer is https.

use actix_web::HttpRequest;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};

use crate::oidc::Provider;
use crate::oidc::session::{BROWSER_COOKIE, SESSION_COOKIE, SESSION_TTL};

fn build(provider: &Provider, name: &'static str, value: String) -> Cookie<'static> {
    cookie(provider.issuer(), name, value)
}

fn cookie(issuer: &str, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(issuer.starts_with("https://"))
        .finish()
}

/// The browser-binding value, and a cookie to set when the browser had none.
pub fn browser(
    provider: &Provider,
    req: &HttpRequest,
) -> Result<(String, Option<Cookie<'static>>), crate::crypto::CryptoError> {
    if let Some(existing) = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_owned())
        && existing.len() >= 32
    {
        return Ok((existing, None));
    }
    let value = crate::crypto::random_token()?;
    Ok((value.clone(), Some(build(provider, BROWSER_COOKIE, value))))
}

/// What an authorization request stores to recognise this browser.
pub fn browser_hash(provider: &Provider, value: &str) -> String {
    provider.lookup_hash(&format!("browser:{value}"))
}

pub fn session_value(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

pub fn session(provider: &Provider, value: String) -> Cookie<'static> {
    let mut cookie = build(provider, SESSION_COOKIE, value);
    cookie.set_max_age(CookieDuration::seconds(SESSION_TTL.as_secs() as i64));
    cookie
}

pub fn clear_session(provider: &Provider) -> Cookie<'static> {
    let mut cookie = build(provider, SESSION_COOKIE, String::new());
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_whenever_the_issuer_is_https() {
        let production =
            cookie("https://connexion.example.fr", SESSION_COOKIE, "v".into()).to_string();
        assert!(production.contains("Secure"), "{production}");
        assert!(production.contains("HttpOnly") && production.contains("SameSite=Lax"));
        let local = cookie("http://127.0.0.1:8080", SESSION_COOKIE, "v".into()).to_string();
        assert!(!local.contains("Secure"), "{local}");
    }
}
