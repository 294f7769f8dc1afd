ALTER TABLE documents DROP COLUMN expiry_reminded_at;
ALTER TABLE verification_requests DROP COLUMN reason_category;
