-- An agent created by `idp-admin agents add` or by an administrator must
-- choose their own password at first login (the console allows nothing
-- else until then). session_epoch counts password changes: a console
-- session remembers the epoch it was opened in, so a change ends every
-- other session of the agent.
ALTER TABLE agents ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
