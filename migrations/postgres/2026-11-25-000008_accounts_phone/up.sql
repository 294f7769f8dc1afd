-- The phone login looks accounts up by number (DESIGN §8): without this index
-- every login scanned the accounts table.
CREATE INDEX accounts_phone ON accounts (phone);
