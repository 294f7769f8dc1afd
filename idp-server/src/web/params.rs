//! Protocol parameters as they were sent: a list of pairs, so that a name
//! sent twice is seen and refused instead of one value being kept silently
//! (RFC 6749 §3.1: "Request and response parameters MUST NOT be included
//! more than once"). Handlers turn the list into a map only through [`single`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::oidc::error::OAuthError;

/// Pairs in the order sent (from `web::Query` or `web::Form`).
pub type Pairs = Vec<(String, String)>;

/// The parameters as a map, with the first name that appeared more than once
/// (the map then keeps that name's first value).
pub fn single(pairs: Pairs) -> (HashMap<String, String>, Option<String>) {
    let mut map = HashMap::with_capacity(pairs.len());
    let mut repeated = None;
    for (name, value) in pairs {
        match map.entry(name) {
            Entry::Occupied(seen) => {
                repeated.get_or_insert_with(|| seen.key().clone());
            }
            Entry::Vacant(new) => {
                new.insert(value);
            }
        }
    }
    (map, repeated)
}

/// The form of a protocol endpoint (token, revocation, introspection) as a
/// map; a repeated parameter is answered `invalid_request` before anything
/// else is looked at.
pub struct OAuthForm(pub HashMap<String, String>);

impl std::ops::Deref for OAuthForm {
    type Target = HashMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for OAuthForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<Pairs>::from_request(req, payload);
        Box::pin(async move {
            match single(form.await?.into_inner()) {
                (map, None) => Ok(OAuthForm(map)),
                (_, Some(name)) => Err(super::error::ProtocolError::Invalid(
                    OAuthError::invalid_request(format!("{name} must not be sent more than once")),
                )
                .into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::single;

    fn pairs(list: &[(&str, &str)]) -> super::Pairs {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_repeated_name_is_reported_even_with_the_same_value() {
        let (map, repeated) = single(pairs(&[("a", "1"), ("b", "2"), ("a", "1"), ("b", "3")]));
        assert_eq!(repeated.as_deref(), Some("a"));
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "2");
        let (map, repeated) = single(pairs(&[("a", "1"), ("b", "")]));
        assert_eq!((repeated, map.len()), (None, 2));
    }
}
