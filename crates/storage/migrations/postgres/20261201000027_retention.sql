-- Retention: when a closed request's message bodies were removed (the thread keeps who wrote
-- when, for the record of what happened).
ALTER TABLE messages ADD COLUMN body_removed_at BIGINT;
