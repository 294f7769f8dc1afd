DROP TABLE refresh_tokens;
DROP TABLE consents;
DROP TABLE identities;
DROP TABLE accounts;
DROP TABLE clients;
