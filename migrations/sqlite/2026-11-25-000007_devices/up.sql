-- Authenticator devices (DESIGN §8): one row per activated app installation.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- The device's P-256 public key as a JWK; requests and decisions are
    -- verified with it.
    public_jwk    TEXT NOT NULL,
    -- HMAC(pin pepper, device id || PIN), hex.
    pin_verifier  TEXT NOT NULL,
    -- Wrong PINs in a row; the third locks the device.
    pin_failures  INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN ('active', 'locked', 'revoked')),
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX devices_account ON devices (account_id);
