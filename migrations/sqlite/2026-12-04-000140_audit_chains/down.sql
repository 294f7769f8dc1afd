DROP INDEX audit_log_chain_pos;
ALTER TABLE audit_log DROP COLUMN pos;
ALTER TABLE audit_log DROP COLUMN chain;
