//! The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3). It lists only
//! what this server actually implements.

use serde_json::{Value, json};

use super::paths;
use crate::config::Config;
use crate::crypto::SigningAlg;
use crate::domain::acr::Acr;
use crate::domain::client::{JWE_ALGS, JWE_ENCS};
use crate::domain::scope;

/// Path of the JWKS, relative to the issuer.
pub const JWKS_PATH: &str = paths::JWKS;

/// Builds the metadata document once; it changes only with the configuration.
pub fn metadata(config: &Config) -> Value {
    let issuer = config.issuer();
    let at = |path: &str| format!("{issuer}{path}");
    let mut algs: Vec<SigningAlg> = config
        .keys
        .algorithms
        .iter()
        .filter_map(|a| SigningAlg::parse(a))
        .collect();
    // ES256 first: it is the default and the cheapest to produce.
    algs.sort();
    algs.dedup();
    let algs: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    let client_auth = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    json!({
        "issuer": issuer,
        "authorization_endpoint": at(paths::AUTHORIZE),
        "token_endpoint": at(paths::TOKEN),
        "userinfo_endpoint": at(paths::USERINFO),
        "jwks_uri": at(JWKS_PATH),
        "end_session_endpoint": at(paths::END_SESSION),
        "revocation_endpoint": at(paths::REVOCATION),
        "introspection_endpoint": at(paths::INTROSPECTION),
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": algs,
        "id_token_encryption_alg_values_supported": JWE_ALGS,
        "id_token_encryption_enc_values_supported": JWE_ENCS,
        "userinfo_signing_alg_values_supported": algs,
        "userinfo_encryption_alg_values_supported": JWE_ALGS,
        "userinfo_encryption_enc_values_supported": JWE_ENCS,
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": client_auth,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": Acr::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "claims_supported": scope::all_claims(),
        "claims_parameter_supported": true,
        "claim_types_supported": ["normal"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["fr", "en"],
        "display_values_supported": ["page"],
    })
}
