-- Agents of the console (clerks, reviewers, admins) and activation codes.

CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('clerk', 'reviewer', 'admin')),
    -- Post-office code; required for clerks.
    office           TEXT,
    password_hash    TEXT NOT NULL,
    -- TOTP secret sealed under the KEK; NULL until enrolled.
    totp_sealed      BLOB,
    -- Last TOTP time step accepted: each code works once.
    totp_last_step   BIGINT,
    disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- The code that lets a verified citizen activate the app (DESIGN §7):
-- 6 digits, 14 days, 5 attempts. Stored as a keyed hash; one per account.
CREATE TABLE activation_codes (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
