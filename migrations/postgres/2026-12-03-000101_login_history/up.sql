-- Every login to a partner site, as the citizen sees it on /compte/historique
-- and in the app: written in the transaction of the login's outcome
-- (approved, refused, fraud_reported, expired). The address is approximate
-- (/24 or /48), the user agent truncated. Purged by age (`idp-admin purge`).
CREATE TABLE login_history (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    acr TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX login_history_account_at ON login_history (account_id, at_ms);
