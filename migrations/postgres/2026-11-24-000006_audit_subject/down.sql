DROP INDEX audit_log_subject;
