-- OpenID Connect provider: relying parties, accounts (minimal; enrolment extends
-- them), identities, consents and refresh tokens.

-- Relying parties. The secret is stored as HMAC-SHA256 under a key derived
-- from the master key (secrets are >= 32 random characters, so a slow hash
-- adds nothing but latency on every token request). `metadata` is the
-- validated client registration (JSON, see domain::client::ClientMetadata).
CREATE TABLE clients (
    client_id    TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT,
    metadata     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT,
    phone          TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- The identity a person declared, and whether it has been verified. Identity
-- claims are released only when verified_at is set.
CREATE TABLE identities (
    account_id          TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    preferred_username  TEXT,
    birthdate           TEXT NOT NULL,
    gender              TEXT NOT NULL,
    birthplace          TEXT NOT NULL,
    birthcountry        TEXT NOT NULL,
    verified_at         BIGINT,
    verification_method TEXT
);

CREATE TABLE consents (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

-- Refresh tokens, stored as SHA-256 of the token. Each use rotates the token
-- within its family; presenting a used token revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    grant_data  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
