ALTER TABLE agents DROP COLUMN session_epoch;
ALTER TABLE agents DROP COLUMN must_change_password;
