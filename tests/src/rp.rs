//! The `openidconnect` crate as a real relying party of the provider under test.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationContextClass, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

/// The French identity claims that are not in OIDC Core.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pivot {
    pub birthplace: Option<String>,
    pub birthcountry: Option<String>,
}

impl AdditionalClaims for Pivot {}

pub type IdTokenClaims = openidconnect::IdTokenClaims<Pivot, CoreGenderClaim>;
pub type Userinfo = UserInfoClaims<Pivot, CoreGenderClaim>;
pub type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        Pivot,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

pub type RpClient = Client<
    Pivot,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An HTTP client for the RP library: no redirects (SSRF hygiene, and the
/// crate's documented requirement).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Discovers the provider and builds a client, as any RP would.
pub async fn client(
    issuer: &str,
    client_id: &str,
    secret: Option<&str>,
    redirect_uri: &str,
) -> RpClient {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http())
            .await
            .expect("discovery");
    Client::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        secret.map(|s| ClientSecret::new(s.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).unwrap())
}

/// A prepared authorization request and the secrets the RP keeps.
pub struct Request {
    pub url: url::Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub fn authorize(client: &RpClient, scopes: &[&str], acr: Option<&str>) -> Request {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut builder = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        builder = builder.add_scope(Scope::new((*scope).to_owned()));
    }
    if let Some(acr) = acr {
        builder = builder.add_auth_context_value(AuthenticationContextClass::new(acr.to_owned()));
    }
    let (url, state, nonce) = builder.url();
    Request {
        url,
        state,
        nonce,
        verifier,
    }
}
