-- WebAuthn security keys of console agents (login with user verification).
CREATE TABLE agent_keys (
    credential_id  TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- The registered credential (public key, counter), as webauthn-rs serialises it.
    passkey        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX agent_keys_agent ON agent_keys (agent_id);
