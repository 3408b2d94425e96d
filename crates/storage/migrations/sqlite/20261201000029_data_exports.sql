-- Data exports (GDPR art. 15 and 20, CCPA "know"): each request with its legal deadline, the
-- worker's lease while it builds the archive, and where the sealed archive parts are until they
-- expire and are purged.
CREATE TABLE data_exports (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'ready', 'failed', 'purged')),
    requested_at INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    expires_at   INTEGER,
    parts        INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,
    failure      TEXT
);
CREATE INDEX data_exports_user ON data_exports (user_id, id);
CREATE INDEX data_exports_status ON data_exports (status, id);
