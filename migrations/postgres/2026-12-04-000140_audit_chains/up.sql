-- Several audit chains (#19). One head row serialised every append: on
-- PostgreSQL, concurrent logins queued on its row lock for the rest of their
-- transaction, commit included. An append now takes the first head that no
-- other transaction holds (FOR UPDATE SKIP LOCKED), so a lone writer still
-- extends chain 1 and concurrent ones spread over up to 8 chains. Each entry
-- records its chain and its position in it; `seq` stays the log's global
-- order, drawn from a sequence (it may have gaps: a rolled-back append uses
-- a number). Entries written before keep chain 1, position = seq.
ALTER TABLE audit_head DROP CONSTRAINT audit_head_id_check;
ALTER TABLE audit_head ADD CONSTRAINT audit_head_id_check CHECK (id BETWEEN 1 AND 8);
INSERT INTO audit_head (id, seq, hash)
SELECT g, 0, '0000000000000000000000000000000000000000000000000000000000000000'
FROM generate_series(2, 8) AS g;

ALTER TABLE audit_log ADD COLUMN chain INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;
UPDATE audit_log SET pos = seq;
CREATE UNIQUE INDEX audit_log_chain_pos ON audit_log (chain, pos);

CREATE SEQUENCE audit_seq;
SELECT setval('audit_seq', (SELECT seq FROM audit_head WHERE id = 1) + 1, false);
