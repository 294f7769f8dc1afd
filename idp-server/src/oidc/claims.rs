//! Which claims a relying party receives about a person, and the `sub` it sees.

use crate::domain::account::VerificationMethod;
use serde_json::{Map, Value, json};

use super::Provider;
use super::clients::Client;
use super::error::OidcError;
use super::types::AuthRequest;
use crate::domain::acr::Proofing;
use crate::domain::client::SubjectType;
use crate::domain::document::has_expired;
use crate::domain::scope::{self, IDENTITY_CLAIMS};
use crate::store::accounts::{self, AccountRow, IdentityRow};

/// An account and its identity, as read for one response.
pub struct Person {
    pub account: AccountRow,
    pub identity: Option<IdentityRow>,
    /// The identity document's last day of validity (`YYYY-MM-DD`).
    pub document_expires_on: Option<String>,
}

impl Person {
    pub async fn load(provider: &Provider, account_id: &str) -> Result<Option<Person>, OidcError> {
        let id = account_id.to_owned();
        Ok(provider
            .core
            .db
            .read(move |conn| Ok(accounts::with_identity(conn, &id)?.map(Person::from)))
            .await?)
    }

    /// How well the identity is established (bounds the `acr`). Once its
    /// document has expired, a verified identity counts as declared for new
    /// logins (#16): no eidas2, no identity claims, until it is verified
    /// again with a new document.
    pub fn proofing(&self) -> Proofing {
        match self.verified_identity() {
            Some(i) => match i.verification_method {
                Some(VerificationMethod::FaceToFace) => Proofing::FaceToFace,
                Some(VerificationMethod::Remote) => Proofing::Remote,
                None => Proofing::Declared,
            },
            None => Proofing::Declared,
        }
    }

    fn verified_identity(&self) -> Option<&IdentityRow> {
        let expired = self
            .document_expires_on
            .as_deref()
            .is_some_and(|day| has_expired(day, crate::enrol::today()));
        self.identity
            .as_ref()
            .filter(|i| i.verified_at.is_some() && !expired)
    }
}

impl From<accounts::WithIdentity> for Person {
    fn from((account, identity, document_expires_on): accounts::WithIdentity) -> Self {
        Person {
            account,
            identity,
            document_expires_on,
        }
    }
}

/// `sub` for this client: pairwise per sector by default, else the account id.
pub fn subject(provider: &Provider, client: &Client, account_id: &str) -> String {
    match client.metadata.subject_type {
        SubjectType::Public => account_id.to_owned(),
        SubjectType::Pairwise => {
            let input = format!("{}\0{account_id}", client.metadata.sector());
            crate::crypto::hmac_hex(&provider.core.subkeys.pairwise_key, input.as_bytes())
        }
    }
}

/// Claim names the scopes release, plus individually requested ones.
pub fn requested_claims(scopes: &[String], individually: &[String]) -> Vec<String> {
    let mut names: Vec<String> = scopes
        .iter()
        .flat_map(|s| scope::claims_of(s))
        .map(|c| (*c).to_owned())
        .chain(individually.iter().cloned())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// What a consent page shows: the claims that will actually be released.
pub struct Sharing {
    /// The requested claims this person has, as [`values`] releases them.
    pub released: Vec<String>,
    /// Identity claims were asked for, and none can be released: the
    /// identity is not verified, or its document has expired.
    pub identity_withheld: bool,
}

/// What consenting to the request's scopes and individually requested
/// claims (userinfo and ID token) would release about the account (`None`
/// when it no longer exists), from the same [`values`] the ID token and
/// userinfo use, so the page and the tokens agree.
pub async fn sharing(
    provider: &Provider,
    account_id: &str,
    request: &AuthRequest,
) -> Result<Option<Sharing>, OidcError> {
    let Some(person) = Person::load(provider, account_id).await? else {
        return Ok(None);
    };
    let claims = &request.claims;
    let individually: Vec<String> = (claims.userinfo.iter().chain(&claims.id_token))
        .cloned()
        .collect();
    let requested = requested_claims(&request.scopes, &individually);
    let asks_identity = requested
        .iter()
        .any(|c| IDENTITY_CLAIMS.contains(&c.as_str()));
    Ok(Some(Sharing {
        released: values(&person, &requested)
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
        identity_withheld: asks_identity && person.verified_identity().is_none(),
    }))
}

/// The values of `names` this person has. Identity claims appear only for a
/// verified identity; a claim the person lacks is left out.
pub fn values(person: &Person, names: &[String]) -> Map<String, Value> {
    let identity = person.verified_identity();
    let mut out = Map::new();
    for name in names {
        let value = match name.as_str() {
            "email" => Some(json!(person.account.email)),
            "email_verified" => Some(json!(true)),
            "phone_number" => person.account.phone.as_ref().map(|p| json!(p)),
            "phone_number_verified" => person.account.phone.as_ref().map(|_| json!(true)),
            claim if IDENTITY_CLAIMS.contains(&claim) => identity.and_then(|i| match claim {
                "given_name" => Some(json!(i.given_name)),
                "family_name" => Some(json!(i.family_name)),
                "birthdate" => Some(json!(i.birthdate)),
                "gender" => Some(json!(i.gender)),
                "birthplace" => Some(json!(i.birthplace)),
                "birthcountry" => Some(json!(i.birthcountry)),
                "preferred_username" => i.preferred_username.as_ref().map(|u| json!(u)),
                _ => None,
            }),
            _ => None,
        };
        if let Some(value) = value {
            out.insert(name.clone(), value);
        }
    }
    out
}
