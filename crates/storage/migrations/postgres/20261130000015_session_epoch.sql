-- Sessions remember the account's epoch when they began; raising it (a password reset, "sign out
-- everywhere") ends every session at once, in every instance.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
