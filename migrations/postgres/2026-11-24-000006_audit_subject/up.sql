-- Account history (console support page) and the latest-event lookups read
-- the audit log by subject, newest first.
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
