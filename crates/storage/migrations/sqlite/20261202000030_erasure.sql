-- Erasure (GDPR art. 17, CCPA "delete"): each request with its grace period and legal
-- deadline; the objects still to delete once the database part committed, so an interrupted
-- erasure resumes; and the marks an erased account and a delisted artist carry. Expand only:
-- every new column is nullable, so the release before this one still reads and writes.
CREATE TABLE erasure_requests (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'waiting', 'erasing', 'done', 'cancelled')),
    requested_at    INTEGER NOT NULL,
    erase_after     INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    completed_at    INTEGER,
    note            TEXT
);
CREATE INDEX erasure_requests_user ON erasure_requests (user_id, id);
CREATE INDEX erasure_requests_next ON erasure_requests (next_attempt_at)
    WHERE status IN ('scheduled', 'waiting', 'erasing');
-- At most one request under way per account.
CREATE UNIQUE INDEX erasure_requests_one_open ON erasure_requests (user_id)
    WHERE status IN ('scheduled', 'waiting', 'erasing');
CREATE TABLE erasure_objects (
    erasure_id INTEGER NOT NULL REFERENCES erasure_requests (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    PRIMARY KEY (erasure_id, object_key)
);
ALTER TABLE users ADD COLUMN erased_at INTEGER;
ALTER TABLE artists ADD COLUMN delisted_at INTEGER;
