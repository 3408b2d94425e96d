-- Data exports (GDPR art. 15 and 20, CCPA "know"): each request with its legal deadline, the
-- worker's lease while it builds the archive, and where the sealed archive parts are until they
-- expire and are purged.
CREATE TABLE data_exports (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'ready', 'failed', 'purged')),
    requested_at BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    started_at   BIGINT,
    completed_at BIGINT,
    expires_at   BIGINT,
    parts        BIGINT NOT NULL DEFAULT 0,
    bytes        BIGINT NOT NULL DEFAULT 0,
    failure      TEXT
);
CREATE INDEX data_exports_user ON data_exports (user_id, id);
CREATE INDEX data_exports_status ON data_exports (status, id);
