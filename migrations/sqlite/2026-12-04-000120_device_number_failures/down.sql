ALTER TABLE devices DROP COLUMN number_failures;
