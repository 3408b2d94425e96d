-- Scheduling by proposal: each artist's usual session length and days off, and the times a client
-- proposes for a booked request (up to three; the artist confirms one, which becomes a session
-- under the same no-overlap rule). Expand only.
ALTER TABLE artists ADD COLUMN session_minutes INTEGER NOT NULL DEFAULT 180
    CHECK (session_minutes BETWEEN 30 AND 600);
CREATE TABLE artist_days_off (
    artist_id INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    day       TEXT    NOT NULL,
    PRIMARY KEY (artist_id, day)
);
CREATE TABLE slot_proposals (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX slot_proposals_booking ON slot_proposals (booking_id);
