-- A refused verification says why in one of the categories the citizen is
-- told (domain::account::RefusalCategory); the agent's words stay in reason.
ALTER TABLE verification_requests ADD COLUMN reason_category TEXT;
-- The document's validity is documents.expires_on (YYYY-MM-DD): when the
-- reminder of its coming expiry was sent, so a daily run sends it once per
-- document (a new document is a new row, with no reminder yet).
ALTER TABLE documents ADD COLUMN expiry_reminded_at BIGINT;
