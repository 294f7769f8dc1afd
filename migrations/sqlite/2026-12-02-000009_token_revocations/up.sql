-- When each account's access tokens were last revoked (suspension, device
-- revocation): an access token issued at or before that instant is refused
-- at use. One row per account that ever had its tokens revoked.
CREATE TABLE token_revocations (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    revoked_at_ms BIGINT NOT NULL
);
