-- The booking flow: artist policies, request details, quotes and deadlines, sessions that can never
-- overlap, consent, the deposit ledger, messages, reviews and the notification outbox.
-- Expand only: every new column has a default, so the previous release keeps working (rollback).
-- Times compared in SQL are unix seconds (INTEGER), so both databases compare them the same way.
ALTER TABLE artists ADD COLUMN deposit_kind TEXT NOT NULL DEFAULT 'percent'
    CHECK (deposit_kind IN ('fixed', 'percent'));
ALTER TABLE artists ADD COLUMN deposit_value INTEGER NOT NULL DEFAULT 20 CHECK (deposit_value >= 0);
ALTER TABLE artists ADD COLUMN deposit_due_days INTEGER NOT NULL DEFAULT 3;
ALTER TABLE artists ADD COLUMN response_hours INTEGER NOT NULL DEFAULT 72;
ALTER TABLE artists ADD COLUMN notice_hours INTEGER NOT NULL DEFAULT 48;
ALTER TABLE artists ADD COLUMN max_reschedules INTEGER NOT NULL DEFAULT 2;

ALTER TABLE booking_requests ADD COLUMN budget_cents INTEGER;
ALTER TABLE booking_requests ADD COLUMN preferred_dates TEXT NOT NULL DEFAULT '';
ALTER TABLE booking_requests ADD COLUMN date_of_birth TEXT;
ALTER TABLE booking_requests ADD COLUMN needs_guardian BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE booking_requests ADD COLUMN note TEXT;
ALTER TABLE booking_requests ADD COLUMN quote_min_cents INTEGER;
ALTER TABLE booking_requests ADD COLUMN quote_max_cents INTEGER;
ALTER TABLE booking_requests ADD COLUMN quote_sessions INTEGER;
ALTER TABLE booking_requests ADD COLUMN deposit_cents INTEGER;
ALTER TABLE booking_requests ADD COLUMN deadline_at INTEGER;
CREATE INDEX booking_requests_deadline ON booking_requests (deadline_at)
    WHERE state IN ('submitted', 'quoted', 'deposit_pending');

CREATE TABLE booking_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX booking_events_booking ON booking_events (booking_id, id);

CREATE TABLE appointments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    artist_id  INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('scheduled', 'confirmed', 'completed', 'rescheduled',
                                                 'cancelled_by_client', 'cancelled_by_artist', 'no_show')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX appointments_booking ON appointments (booking_id);
CREATE INDEX appointments_artist_time ON appointments (artist_id, starts_at);

-- SQLite has no exclusion constraints. These triggers run inside the writing statement, which
-- holds the database's single write lock, so two concurrent inserts cannot both pass the check.
CREATE TRIGGER appointments_no_overlap_insert BEFORE INSERT ON appointments
WHEN NEW.state IN ('scheduled', 'confirmed') AND EXISTS (
    SELECT 1 FROM appointments a
    WHERE a.artist_id = NEW.artist_id AND a.state IN ('scheduled', 'confirmed')
      AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at)
BEGIN
    SELECT RAISE(ABORT, 'appointments_no_overlap');
END;

CREATE TRIGGER appointments_no_overlap_update BEFORE UPDATE OF starts_at, ends_at, state, artist_id ON appointments
WHEN NEW.state IN ('scheduled', 'confirmed') AND EXISTS (
    SELECT 1 FROM appointments a
    WHERE a.id <> NEW.id AND a.artist_id = NEW.artist_id AND a.state IN ('scheduled', 'confirmed')
      AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at)
BEGIN
    SELECT RAISE(ABORT, 'appointments_no_overlap');
END;

CREATE TABLE consents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    appointment_id   INTEGER NOT NULL UNIQUE REFERENCES appointments (id) ON DELETE CASCADE,
    client_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    medical_notes    TEXT    NOT NULL,
    confirms_age     BOOLEAN NOT NULL,
    guardian_name    TEXT,
    aftercare_ack    BOOLEAN NOT NULL,
    photo_permission BOOLEAN NOT NULL,
    jurisdiction     TEXT    NOT NULL,
    ip               TEXT    NOT NULL,
    user_agent       TEXT    NOT NULL,
    signed_at        INTEGER NOT NULL
);

CREATE TABLE deposit_ledger (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id     INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    appointment_id INTEGER REFERENCES appointments (id) ON DELETE SET NULL,
    entry          TEXT    NOT NULL CHECK (entry IN ('deposit_paid', 'deposit_forfeited', 'deposit_credited')),
    amount_cents   INTEGER NOT NULL,
    at             INTEGER NOT NULL
);
CREATE INDEX deposit_ledger_booking ON deposit_ledger (booking_id);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    sender_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_booking ON messages (booking_id, id);

CREATE TABLE message_reads (
    booking_id   INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_id INTEGER NOT NULL,
    PRIMARY KEY (booking_id, user_id)
);

CREATE TABLE reviews (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL UNIQUE REFERENCES booking_requests (id) ON DELETE CASCADE,
    artist_id  INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    client_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX reviews_artist ON reviews (artist_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    booking_id      INTEGER REFERENCES booking_requests (id) ON DELETE CASCADE,
    recipient_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;
