//! State carried between the steps of a login, in the ephemeral store.

use serde::{Deserialize, Serialize};

use crate::domain::acr::{Acr, Authentication};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// The person's language: the first supported tag of `ui_locales` (in
    /// order of preference, OIDC Core §3.1.2.1), else the supported tag of
    /// `Accept-Language` with the highest q-value (RFC 9110 §12.5.4; ties
    /// keep the header's order, `q=0` means "not this one"); French by default.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        ui_locales
            .and_then(|list| list.split(' ').find_map(Lang::from_tag))
            .or_else(|| accept_language.and_then(Lang::from_accept_language))
            .unwrap_or(Lang::Fr)
    }

    /// `fr`, `fr-FR`, `EN-gb` …; `None` for a language the pages do not have.
    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split('-').next()?;
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else {
                continue;
            };
            let quality = parts
                .find_map(|p| {
                    let (name, value) = p.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| quality(value))
                })
                .unwrap_or(1000);
            if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

/// An RFC 9110 qvalue in thousandths (`0.8` → 800); malformed values count as 0.
fn quality(value: &str) -> u16 {
    let value = value.trim();
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().unwrap_or(0);
    match int {
        "0" => thousandths,
        "1" if thousandths == 0 => 1000,
        _ => 0,
    }
}

/// The `claims` request parameter (OIDC Core §5.5), reduced to what it asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims requested in the userinfo response.
    pub userinfo: Vec<String>,
    /// Claims requested in the ID token.
    pub id_token: Vec<String>,
}

/// Who authenticated, how and when: what a session and a grant carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub account_id: String,
    /// Public session id (`sid` claim).
    pub sid: String,
    pub auth_time: i64,
    pub authentication: Authentication,
    pub acr: Acr,
}

/// A validated authorization request waiting for the person to log in and consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The minimum level the relying party accepts.
    pub min_acr: Acr,
    pub claims: ClaimsRequest,
    pub login_hint: Option<String>,
    pub lang: Lang,
    /// SHA-256 of the browser cookie that started the request: forms posted
    /// from another browser are refused.
    pub browser: String,
    /// Anti-forgery token embedded in this request's forms.
    pub csrf: String,
    pub created_at: i64,
    /// Set once the person has authenticated in this request (or by SSO).
    pub authenticated: Option<Authenticated>,
    /// The app approval this request waits for (phone login).
    #[serde(default)]
    pub challenge: Option<String>,
}

/// What a code, an access token or a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub account_id: String,
    pub scopes: Vec<String>,
    pub claims: ClaimsRequest,
    pub acr: Acr,
    pub authentication: Authentication,
    pub auth_time: i64,
    pub sid: String,
}

/// An authorization code's data (single use, 60 s).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeData {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
}

/// An opaque access token's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenData {
    pub grant: Grant,
    pub expires_at: i64,
    /// Refresh-token family it was issued with, for revocation.
    pub family: Option<String>,
    /// When it was issued (unix ms): a revocation of the account's tokens
    /// at or after this instant ends it.
    #[serde(default)]
    pub issued_at_ms: i64,
}

/// Left behind by a redeemed code, under the code's own key (it replaces the
/// code when the redemption succeeds), so that a replay can revoke what it issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemedCode {
    pub access_token_hash: String,
    pub family: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn language_negotiation() {
        assert_eq!(Lang::negotiate(Some("en-GB fr"), None), Lang::En);
        assert_eq!(
            Lang::negotiate(Some("de"), Some("en-US,en;q=0.8")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("de-DE")), Lang::Fr);
        assert_eq!(Lang::negotiate(None, None), Lang::Fr);
    }

    #[test]
    fn accept_language_follows_q_values() {
        assert_eq!(Lang::negotiate(None, Some("en;q=0.1, fr")), Lang::Fr);
        assert_eq!(
            Lang::negotiate(None, Some("fr;q=0.5, en-GB;q=0.9")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("en;q=0, de")), Lang::Fr);
        assert_eq!(Lang::negotiate(None, Some("de, en;q=0.3")), Lang::En);
        // Equal weights keep the header's order.
        assert_eq!(Lang::negotiate(None, Some("en, fr")), Lang::En);
        assert_eq!(
            Lang::negotiate(None, Some("fr-FR,fr;q=0.9,en;q=0.8")),
            Lang::Fr
        );
        // A malformed weight is no preference at all.
        assert_eq!(Lang::negotiate(None, Some("en;q=2, fr;q=0.2")), Lang::Fr);
    }
}
