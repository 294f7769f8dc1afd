-- An account-wide revocation (suspension, device revocation, password reset)
-- revokes every live refresh token of the account in its transaction.
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);
