//! One schema for both backends (see migrations/postgres and migrations/sqlite).
//! Times are UTC unix seconds.

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_jwk -> Text,
        private_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        subject -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
        chain -> Integer,
        pos -> BigInt,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        state -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    identities (account_id) {
        account_id -> Text,
        given_name -> Text,
        family_name -> Text,
        preferred_username -> Nullable<Text>,
        birthdate -> Text,
        gender -> Text,
        birthplace -> Text,
        birthcountry -> Text,
        verified_at -> Nullable<BigInt>,
        verification_method -> Nullable<Text>,
    }
}

diesel::table! {
    consents (account_id, client_id) {
        account_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        account_id -> Text,
        client_id -> Text,
        grant_data -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(identities -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, identities);

diesel::table! {
    documents (account_id) {
        account_id -> Text,
        kind -> Text,
        number_hash -> Text,
        number_sealed -> Binary,
        issued_on -> Text,
        expires_on -> Text,
        created_at -> BigInt,
        expiry_reminded_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    verification_requests (id) {
        id -> Text,
        account_id -> Text,
        method -> Text,
        reference -> Nullable<Text>,
        status -> Text,
        challenge -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        submitted_at -> Nullable<BigInt>,
        decided_at -> Nullable<BigInt>,
        decided_by -> Nullable<Text>,
        office -> Nullable<Text>,
        reason -> Nullable<Text>,
        reason_category -> Nullable<Text>,
        home_visit -> Bool,
    }
}

diesel::table! {
    review_media (request_id, kind) {
        request_id -> Text,
        kind -> Text,
        content_type -> Text,
        size -> BigInt,
        sealed -> Binary,
        created_at -> BigInt,
    }
}

diesel::joinable!(documents -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(documents, identities);
diesel::allow_tables_to_appear_in_same_query!(accounts, documents);
diesel::allow_tables_to_appear_in_same_query!(documents, devices);

diesel::table! {
    agents (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        role -> Text,
        office -> Nullable<Text>,
        password_hash -> Text,
        totp_sealed -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        must_change_password -> Bool,
        session_epoch -> Integer,
    }
}

diesel::table! {
    activation_codes (account_id) {
        account_id -> Text,
        code_hash -> Text,
        attempts -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    agent_keys (credential_id) {
        credential_id -> Text,
        agent_id -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        public_jwk -> Text,
        pin_verifier -> Text,
        pin_failures -> Integer,
        state -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        number_failures -> Integer,
    }
}

diesel::table! {
    device_request_lease (id) {
        id -> Integer,
        lease_until -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(accounts, devices);

diesel::table! {
    token_revocations (account_id) {
        account_id -> Text,
        revoked_at_ms -> BigInt,
    }
}

diesel::joinable!(token_revocations -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, token_revocations);
diesel::allow_tables_to_appear_in_same_query!(identities, token_revocations);
diesel::allow_tables_to_appear_in_same_query!(documents, token_revocations);

diesel::table! {
    vapid_keys (kid) {
        kid -> Text,
        state -> Text,
        public_key -> Text,
        private_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    push_subscriptions (device_id) {
        device_id -> Text,
        account_id -> Text,
        endpoint -> Text,
        p256dh -> Text,
        auth -> Text,
        vapid_kid -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(push_subscriptions, devices);
diesel::allow_tables_to_appear_in_same_query!(push_subscriptions, accounts);
diesel::allow_tables_to_appear_in_same_query!(push_subscriptions, documents);

diesel::table! {
    login_history (id) {
        id -> Text,
        account_id -> Text,
        client_id -> Text,
        client_name -> Text,
        at_ms -> BigInt,
        acr -> Text,
        ip -> Text,
        user_agent -> Text,
        outcome -> Text,
    }
}

diesel::joinable!(login_history -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, login_history);
