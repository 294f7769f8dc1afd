//! Scopes and the claims they release (FranceConnect conventions).

/// Claims that describe the person's identity: released only for a verified identity.
pub const IDENTITY_CLAIMS: [&str; 7] = [
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "preferred_username",
];

/// Every scope this provider understands.
pub const SUPPORTED: [&str; 15] = [
    "openid",
    "profile",
    "email",
    "phone",
    "birth",
    "birthplace",
    "birthcountry",
    "preferred_username",
    "identite_pivot",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "offline_access",
    "address",
];

/// Claims released by one scope.
pub fn claims_of(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "preferred_username",
        ],
        "email" => &["email", "email_verified"],
        "phone" => &["phone_number", "phone_number_verified"],
        "birth" => &["birthplace", "birthcountry"],
        "identite_pivot" => &[
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "birthplace",
            "birthcountry",
        ],
        "birthplace" => &["birthplace"],
        "birthcountry" => &["birthcountry"],
        "preferred_username" => &["preferred_username"],
        "given_name" => &["given_name"],
        "family_name" => &["family_name"],
        "birthdate" => &["birthdate"],
        "gender" => &["gender"],
        _ => &[],
    }
}

pub fn is_supported(scope: &str) -> bool {
    SUPPORTED.contains(&scope)
}

/// Every claim name that can be released, for discovery.
pub fn all_claims() -> Vec<&'static str> {
    let mut claims: Vec<&'static str> = SUPPORTED
        .iter()
        .flat_map(|s| claims_of(s))
        .copied()
        .collect();
    claims.extend([
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
    ]);
    claims.sort_unstable();
    claims.dedup();
    claims
}

/// A space-separated scope parameter, parsed into known values in a stable order.
/// Unknown values are dropped (RFC 6749 §3.3 lets the server ignore them).
pub fn parse(raw: &str) -> Vec<String> {
    let mut scopes: Vec<String> = raw
        .split(' ')
        .filter(|s| !s.is_empty() && is_supported(s))
        .map(str::to_owned)
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_known_values_only() {
        assert_eq!(parse("openid  email bogus email"), vec!["email", "openid"]);
        assert!(claims_of("identite_pivot").contains(&"birthplace"));
        assert!(all_claims().contains(&"phone_number"));
    }
}
