DROP SEQUENCE audit_seq;
DROP INDEX audit_log_chain_pos;
ALTER TABLE audit_log DROP COLUMN pos;
ALTER TABLE audit_log DROP COLUMN chain;
DELETE FROM audit_head WHERE id > 1;
ALTER TABLE audit_head DROP CONSTRAINT audit_head_id_check;
ALTER TABLE audit_head ADD CONSTRAINT audit_head_id_check CHECK (id = 1);
