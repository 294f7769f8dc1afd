//! Relying-party registration: what a client may ask for and how it
//! authenticates. Validated once when registered or updated; the rest of the
//! code trusts a `ClientMetadata` it reads back.

use serde::{Deserialize, Serialize};
use url::Url;

use super::acr::Acr;
use super::scope;
use crate::crypto::SigningAlg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// Public client (PKCE required, no secret).
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(ClientAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(ClientAuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(ClientAuthMethod::PrivateKeyJwt),
            "none" => Some(ClientAuthMethod::None),
            _ => None,
        }
    }

    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    Pairwise,
    Public,
}

/// JWE key-management algorithms accepted for encrypted responses.
pub const JWE_ALGS: [&str; 3] = ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES"];
/// JWE content encryption accepted for encrypted responses.
pub const JWE_ENCS: [&str; 1] = ["A256GCM"];

/// Where and how to encrypt a response, when the client asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    pub alg: String,
    pub enc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    pub auth_method: ClientAuthMethod,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub allowed_acr: Vec<Acr>,
    pub default_acr: Acr,
    pub subject_type: SubjectType,
    /// Pairwise sector; defaults to the host of the redirect URIs.
    #[serde(default)]
    pub sector_identifier: Option<String>,
    pub id_token_signed_response_alg: String,
    /// When set, userinfo answers `application/jwt` signed with this alg.
    #[serde(default)]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(default)]
    pub id_token_encryption: Option<Encryption>,
    #[serde(default)]
    pub userinfo_encryption: Option<Encryption>,
    /// The client's public keys (JWKS), for private_key_jwt and encryption.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    pub require_pkce: bool,
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
}

impl Default for ClientMetadata {
    /// The defaults of `idp-admin clients add`: confidential, pairwise, ES256, PKCE.
    fn default() -> Self {
        ClientMetadata {
            auth_method: ClientAuthMethod::ClientSecretBasic,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            allowed_scopes: scope::SUPPORTED.iter().map(|s| (*s).to_owned()).collect(),
            allowed_acr: vec![Acr::Eidas1, Acr::Eidas2],
            default_acr: Acr::Eidas1,
            subject_type: SubjectType::Pairwise,
            sector_identifier: None,
            id_token_signed_response_alg: "ES256".to_owned(),
            userinfo_signed_response_alg: None,
            id_token_encryption: None,
            userinfo_encryption: None,
            jwks: None,
            jwks_uri: None,
            require_pkce: true,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 300,
            refresh_token_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// Is `uri` acceptable as a registered redirect URI? https anywhere; plain
/// http only to a loopback host (RFC 8252 §7.3); never a fragment.
pub fn check_redirect_uri(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri}: not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!("{uri}: must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(url),
        "http" => Err(format!("{uri}: http is allowed only for loopback hosts")),
        other => Err(format!("{uri}: unsupported scheme {other}")),
    }
}

impl ClientMetadata {
    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.redirect_uris.is_empty() {
            return Err("redirect_uris: at least one is required".into());
        }
        let mut hosts = Vec::new();
        for uri in &self.redirect_uris {
            let url = check_redirect_uri(uri).map_err(|e| format!("redirect_uris: {e}"))?;
            hosts.push(url.host_str().unwrap_or_default().to_owned());
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri).map_err(|e| format!("post_logout_redirect_uris: {e}"))?;
        }
        if !self.allowed_scopes.iter().any(|s| s == "openid") {
            return Err("allowed_scopes: must include openid".into());
        }
        if let Some(bad) = self.allowed_scopes.iter().find(|s| !scope::is_supported(s)) {
            return Err(format!("allowed_scopes: unknown scope {bad}"));
        }
        if self.allowed_acr.is_empty() {
            return Err("allowed_acr: at least one level is required".into());
        }
        if !self.allowed_acr.contains(&self.default_acr) {
            return Err("default_acr: must be one of allowed_acr".into());
        }
        hosts.sort();
        hosts.dedup();
        if self.subject_type == SubjectType::Pairwise
            && self.sector_identifier.is_none()
            && hosts.len() > 1
        {
            return Err(
                "sector_identifier: required for pairwise subjects when redirect URIs span several hosts"
                    .into(),
            );
        }
        for (field, alg) in [
            (
                "id_token_signed_response_alg",
                Some(&self.id_token_signed_response_alg),
            ),
            (
                "userinfo_signed_response_alg",
                self.userinfo_signed_response_alg.as_ref(),
            ),
        ] {
            if let Some(alg) = alg
                && SigningAlg::parse(alg).is_none()
            {
                return Err(format!(
                    "{field}: unsupported {alg} (use ES256, RS256 or PS256)"
                ));
            }
        }
        for (field, encryption) in [
            ("id_token_encryption", &self.id_token_encryption),
            ("userinfo_encryption", &self.userinfo_encryption),
        ] {
            if let Some(e) = encryption {
                if !JWE_ALGS.contains(&e.alg.as_str()) {
                    return Err(format!(
                        "{field}: unsupported alg {} (use {})",
                        e.alg,
                        JWE_ALGS.join(", ")
                    ));
                }
                if !JWE_ENCS.contains(&e.enc.as_str()) {
                    return Err(format!("{field}: unsupported enc {} (use A256GCM)", e.enc));
                }
                if self.jwks.is_none() && self.jwks_uri.is_none() {
                    return Err(format!(
                        "{field}: needs the client's keys (jwks or jwks_uri)"
                    ));
                }
            }
        }
        if self.userinfo_encryption.is_some() && self.userinfo_signed_response_alg.is_none() {
            return Err(
                "userinfo_encryption: needs userinfo_signed_response_alg (nested JWT)".into(),
            );
        }
        if let Some(jwks) = &self.jwks
            && !jwks.get("keys").is_some_and(|k| k.is_array())
        {
            return Err("jwks: must be a JWK Set ({\"keys\": [...]})".into());
        }
        if let Some(uri) = &self.jwks_uri {
            check_redirect_uri(uri).map_err(|e| format!("jwks_uri: {e}"))?;
        }
        match self.auth_method {
            ClientAuthMethod::PrivateKeyJwt if self.jwks.is_none() && self.jwks_uri.is_none() => {
                return Err("auth_method: private_key_jwt needs jwks or jwks_uri".into());
            }
            ClientAuthMethod::None if !self.require_pkce => {
                return Err("require_pkce: public clients must use PKCE".into());
            }
            _ => {}
        }
        for (field, value) in [
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("id_token_ttl_secs", self.id_token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
        ] {
            if value == 0 {
                return Err(format!("{field}: must be at least 1"));
            }
        }
        Ok(())
    }

    /// The pairwise sector: the configured identifier, else the redirect host.
    pub fn sector(&self) -> String {
        self.sector_identifier.clone().unwrap_or_else(|| {
            self.redirect_uris
                .first()
                .and_then(|u| Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        })
    }

    pub fn id_token_alg(&self) -> SigningAlg {
        SigningAlg::parse(&self.id_token_signed_response_alg).unwrap_or(SigningAlg::Es256)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.allowed_scopes.iter().any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClientMetadata {
        ClientMetadata {
            redirect_uris: vec!["https://rp.example.fr/callback".into()],
            ..ClientMetadata::default()
        }
    }

    #[test]
    fn defaults_with_a_redirect_uri_are_valid() {
        valid().validate().unwrap();
        assert_eq!(valid().sector(), "rp.example.fr");
    }

    #[test]
    fn each_rule_names_its_field() {
        type Mutation = Box<dyn Fn(&mut ClientMetadata)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|m| m.redirect_uris.clear()), "redirect_uris"),
            (
                Box::new(|m| m.redirect_uris = vec!["http://rp.example.fr/cb".into()]),
                "loopback",
            ),
            (
                Box::new(|m| m.redirect_uris = vec!["https://rp.example.fr/cb#x".into()]),
                "fragment",
            ),
            (
                Box::new(|m| m.allowed_scopes = vec!["email".into()]),
                "openid",
            ),
            (Box::new(|m| m.default_acr = Acr::Eidas3), "default_acr"),
            (
                Box::new(|m| m.id_token_signed_response_alg = "HS256".into()),
                "id_token_signed_response_alg",
            ),
            (
                Box::new(|m| {
                    m.id_token_encryption = Some(Encryption {
                        alg: "RSA-OAEP-256".into(),
                        enc: "A256GCM".into(),
                    })
                }),
                "jwks",
            ),
            (
                Box::new(|m| m.auth_method = ClientAuthMethod::PrivateKeyJwt),
                "private_key_jwt",
            ),
            (
                Box::new(|m| {
                    m.auth_method = ClientAuthMethod::None;
                    m.require_pkce = false;
                }),
                "PKCE",
            ),
            (
                Box::new(|m| m.redirect_uris.push("https://other.example.fr/cb".into())),
                "sector_identifier",
            ),
        ];
        for (mutate, needle) in cases {
            let mut m = valid();
            mutate(&mut m);
            let err = m.validate().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let mut loopback = valid();
        loopback.redirect_uris = vec!["http://127.0.0.1:9000/cb".into()];
        loopback.validate().unwrap();
    }
}
