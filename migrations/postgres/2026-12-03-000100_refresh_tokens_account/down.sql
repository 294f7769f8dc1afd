DROP INDEX refresh_tokens_account;
