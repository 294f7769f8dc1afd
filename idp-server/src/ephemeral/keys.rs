//! Every key and topic of the ephemeral store, by name.
//!
//! One function per kind of entry, so that the prefixes (which deployed
//! stores and the tests read) are written in one place and two kinds can
//! never collide. Keys are relative to the namespace (invariant 15). A
//! function takes what the key is made of, already hashed where the caller
//! keeps only a keyed hash (`Provider::lookup_hash`): this module does no
//! cryptography and owns no secrets.

/// A pending authorization request, by its transaction id.
pub fn authorization_request(id: &str) -> String {
    format!("authz:{id}")
}

/// An authorization code, by its lookup hash.
pub fn authorization_code(code_hash: &str) -> String {
    format!("code:{code_hash}")
}

/// An opaque access token, by its lookup hash.
pub fn access_token(token_hash: &str) -> String {
    format!("at:{token_hash}")
}

/// An SSO session, by the lookup hash of its cookie.
pub fn session(cookie_hash: &str) -> String {
    format!("session:{cookie_hash}")
}

/// A `private_key_jwt` assertion already used (`jti` replay cache).
pub fn client_assertion_jti(client_id: &str, jti_hash: &str) -> String {
    format!("jti:{client_id}:{jti_hash}")
}

/// An enrolment in progress (before the account exists), by the lookup
/// hash of its cookie.
pub fn enrolment(cookie_hash: &str) -> String {
    format!("enrol:{cookie_hash}")
}

/// A password reset in progress (`citizen::password`), by the lookup hash
/// of the browser's cookie. Its code is an [`otp`] of the `password-reset`
/// purpose, never the enrolment's.
pub fn password_reset(cookie_hash: &str) -> String {
    format!("pwreset:{cookie_hash}")
}

/// A change of mobile number from `/compte` (`citizen::contact`), by
/// account id: the new number and where the change stands. Its code is an
/// [`otp`] of the `mobile-change` purpose.
pub fn mobile_change(account_id: &str) -> String {
    format!("mobchg:{account_id}")
}

/// A change of email address from `/compte`, by account id; its code is an
/// [`otp`] of the `email-change` purpose.
pub fn email_change(account_id: &str) -> String {
    format!("mailchg:{account_id}")
}

/// An account deletion in progress (`citizen::rgpd`), by the lookup hash
/// of the session cookie. Its code is an [`otp`] of the `erasure` purpose.
pub fn erasure(cookie_hash: &str) -> String {
    format!("erase:{cookie_hash}")
}

/// A citizen's block of their own identity in progress
/// (`citizen::self_block`), by the lookup hash of the session cookie. Its
/// code is an [`otp`] of the `block-identity` purpose.
pub fn identity_block(cookie_hash: &str) -> String {
    format!("blockid:{cookie_hash}")
}

/// The keys of one email or SMS code, by the lookup hash of
/// `{purpose}:{address}`.
pub struct OtpKeys {
    /// The code's keyed hash.
    pub code: String,
    /// Wrong attempts at this code.
    pub attempts: String,
    /// Set for a minute after each send.
    pub cooldown: String,
    /// Sends this hour to this address.
    pub sends: String,
}

pub fn otp(address_hash: &str) -> OtpKeys {
    OtpKeys {
        code: format!("otp:{address_hash}"),
        attempts: format!("otp-attempts:{address_hash}"),
        cooldown: format!("otp-cooldown:{address_hash}"),
        sends: format!("otp-sends:{address_hash}"),
    }
}

/// The mobile number an account's enrolment is confirming (SMS code sent).
pub fn enrolment_phone(account_id: &str) -> String {
    format!("enrol-phone:{account_id}")
}

/// The identity form an account is filling in (a draft).
pub fn enrolment_draft(account_id: &str) -> String {
    format!("enrol-draft:{account_id}")
}

/// Code sends this hour from one address, for one purpose (`email`, `phone`).
pub fn otp_sends_from_ip(purpose: &str, client_ip: &str) -> String {
    format!("otp-sends-ip:{purpose}:{client_ip}")
}

/// Set for a minute after a face-to-face reference was sent again.
pub fn reference_resend(account_id: &str) -> String {
    format!("reference-resend:{account_id}")
}

/// A `ratelimit::Limit`'s counter for one subject.
pub fn rate_limit(name: &str, subject: &str) -> String {
    format!("rl:{name}:{subject}")
}

/// Password attempts from one client address (eidas1 login, activation).
pub fn password_attempts_from_ip(client_ip: &str) -> String {
    format!("rl:pwd:ip:{client_ip}")
}

/// Password attempts at one account, by the lookup hash of its email.
pub fn password_attempts_at_account(email_hash: &str) -> String {
    format!("rl:pwd:acct:{email_hash}")
}

/// New activation codes requested for one account this hour.
pub fn activation_code_requests(account_id: &str) -> String {
    format!("rl:actcode:{account_id}")
}

/// An approval challenge, by its id.
pub fn challenge(id: &str) -> String {
    format!("chal:{id}")
}

/// The pending challenge of an account (its id).
pub fn account_challenge(account_id: &str) -> String {
    format!("chal:acct:{account_id}")
}

/// The current challenge of a phone number (its id), by the number's
/// lookup hash, whether or not the number has an identity.
pub fn phone_challenge(phone_hash: &str) -> String {
    format!("chal:phone:{phone_hash}")
}

/// A device-request `jti` already used, by device and the `jti`'s lookup hash.
pub fn device_request_jti(device_id: &str, jti_hash: &str) -> String {
    format!("djti:{device_id}:{jti_hash}")
}

/// The device-request replay floor (no accepted `iat` is at or below it).
pub const DEVICE_REQUEST_FLOOR: &str = "djti:floor";

/// An agents' console session, by the keyed hash of its cookie.
pub fn agent_session(cookie_hash: &str) -> String {
    format!("agent-session:{cookie_hash}")
}

/// Failed console logins of one agent (lower-cased username).
pub fn agent_failures(username_lower: &str) -> String {
    format!("agent-failures:{username_lower}")
}

/// A security-key registration in progress, by agent.
pub fn agent_webauthn_registration(agent_id: &str) -> String {
    format!("webauthn-reg:{agent_id}")
}

/// A console WebAuthn login in progress, by the keyed hash of its cookie.
pub fn agent_webauthn_login(cookie_hash: &str) -> String {
    format!("webauthn-auth:{cookie_hash}")
}

/// Topic: the signing keys changed (replicas reload their key set).
pub const KEYS_CHANGED: &str = "keys.changed";

/// Topic: a client registration changed (payload: the client id).
pub const CLIENTS_CHANGED: &str = "clients.changed";

/// Topic: a new challenge for the devices of an account.
pub fn device_topic(account_id: &str) -> String {
    format!("device.{account_id}")
}

/// Topic: a challenge changed state (wakes the waiting browser).
pub fn challenge_topic(id: &str) -> String {
    format!("chal.{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deployed stores hold these keys: a change here loses their data.
    #[test]
    fn keys_are_stable() {
        assert_eq!(authorization_request("t"), "authz:t");
        assert_eq!(authorization_code("h"), "code:h");
        assert_eq!(access_token("h"), "at:h");
        assert_eq!(session("h"), "session:h");
        assert_eq!(client_assertion_jti("c", "h"), "jti:c:h");
        assert_eq!(enrolment("h"), "enrol:h");
        assert_eq!(password_reset("h"), "pwreset:h");
        assert_eq!(mobile_change("a"), "mobchg:a");
        assert_eq!(email_change("a"), "mailchg:a");
        assert_eq!(erasure("h"), "erase:h");
        assert_eq!(identity_block("h"), "blockid:h");
        assert_eq!(enrolment_phone("a"), "enrol-phone:a");
        assert_eq!(enrolment_draft("a"), "enrol-draft:a");
        assert_eq!(agent_webauthn_registration("a"), "webauthn-reg:a");
        let otp = otp("h");
        assert_eq!(
            [otp.code, otp.attempts, otp.cooldown, otp.sends],
            ["otp:h", "otp-attempts:h", "otp-cooldown:h", "otp-sends:h"]
        );
        assert_eq!(
            otp_sends_from_ip("email", "1.2.3.4"),
            "otp-sends-ip:email:1.2.3.4"
        );
        assert_eq!(
            otp_sends_from_ip("password-reset", "1.2.3.4"),
            "otp-sends-ip:password-reset:1.2.3.4"
        );
        assert_eq!(
            otp_sends_from_ip("block-identity", "1.2.3.4"),
            "otp-sends-ip:block-identity:1.2.3.4"
        );
        assert_eq!(reference_resend("a"), "reference-resend:a");
        assert_eq!(rate_limit("phone:ip", "1.2.3.4"), "rl:phone:ip:1.2.3.4");
        assert_eq!(password_attempts_from_ip("1.2.3.4"), "rl:pwd:ip:1.2.3.4");
        assert_eq!(password_attempts_at_account("h"), "rl:pwd:acct:h");
        assert_eq!(activation_code_requests("a"), "rl:actcode:a");
        assert_eq!(challenge("c"), "chal:c");
        assert_eq!(account_challenge("a"), "chal:acct:a");
        assert_eq!(phone_challenge("h"), "chal:phone:h");
        assert_eq!(device_request_jti("d", "h"), "djti:d:h");
        assert_eq!(DEVICE_REQUEST_FLOOR, "djti:floor");
        assert_eq!(agent_session("h"), "agent-session:h");
        assert_eq!(agent_failures("m.durand"), "agent-failures:m.durand");
        assert_eq!(agent_webauthn_login("h"), "webauthn-auth:h");
        assert_eq!(device_topic("a"), "device.a");
        assert_eq!(challenge_topic("c"), "chal.c");
        assert_eq!(
            (KEYS_CHANGED, CLIENTS_CHANGED),
            ("keys.changed", "clients.changed")
        );
    }
}
