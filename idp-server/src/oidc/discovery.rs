//! The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3). It lists only
//! what this server actually implements; each capability adds its fields here.

use serde_json::{Value, json};

use crate::config::Config;
use crate::crypto::SigningAlg;

/// Path of the JWKS, relative to the issuer.
pub const JWKS_PATH: &str = "/jwks";

/// Builds the metadata document once; it changes only with the configuration.
pub fn metadata(config: &Config) -> Value {
    let issuer = config.issuer();
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
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": algs,
    })
}
