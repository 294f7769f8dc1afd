ALTER TABLE verification_requests DROP COLUMN home_visit;
