-- Several audit chains (#19; see the PostgreSQL migration). SQLite has one
-- writer at a time, so it keeps the single head: every entry is in chain 1,
-- at position = seq. The columns exist so both backends read the same rows.
ALTER TABLE audit_log ADD COLUMN chain INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;
UPDATE audit_log SET pos = seq;
CREATE UNIQUE INDEX audit_log_chain_pos ON audit_log (chain, pos);
