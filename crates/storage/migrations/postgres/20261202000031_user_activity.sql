-- Daily and weekly active users: one row per account and UTC day ('d:2026-12-01') and per ISO
-- week ('w:2026-W49') in which it made a signed-in request. Written once per account and
-- period (the first request), kept 35 days by the retention sweep, deleted with an erased
-- account. Expand only: a new table the release before this one never reads.
CREATE TABLE user_activity (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period  TEXT NOT NULL,
    PRIMARY KEY (user_id, period)
);
CREATE INDEX user_activity_period ON user_activity (period);
