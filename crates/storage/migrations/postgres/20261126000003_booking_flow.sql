-- The booking flow: artist policies, request details, quotes and deadlines, sessions that can never
-- overlap, consent, the deposit ledger, messages, reviews and the notification outbox.
-- Expand only: every new column has a default, so the previous release keeps working (rollback).
-- Times compared in SQL are unix seconds (BIGINT), so both databases compare them the same way.
CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE artists ADD COLUMN deposit_kind TEXT NOT NULL DEFAULT 'percent'
    CHECK (deposit_kind IN ('fixed', 'percent'));
ALTER TABLE artists ADD COLUMN deposit_value BIGINT NOT NULL DEFAULT 20 CHECK (deposit_value >= 0);
ALTER TABLE artists ADD COLUMN deposit_due_days BIGINT NOT NULL DEFAULT 3;
ALTER TABLE artists ADD COLUMN response_hours BIGINT NOT NULL DEFAULT 72;
ALTER TABLE artists ADD COLUMN notice_hours BIGINT NOT NULL DEFAULT 48;
ALTER TABLE artists ADD COLUMN max_reschedules BIGINT NOT NULL DEFAULT 2;

ALTER TABLE booking_requests ADD COLUMN budget_cents BIGINT;
ALTER TABLE booking_requests ADD COLUMN preferred_dates TEXT NOT NULL DEFAULT '';
ALTER TABLE booking_requests ADD COLUMN date_of_birth TEXT;
ALTER TABLE booking_requests ADD COLUMN needs_guardian BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE booking_requests ADD COLUMN note TEXT;
ALTER TABLE booking_requests ADD COLUMN quote_min_cents BIGINT;
ALTER TABLE booking_requests ADD COLUMN quote_max_cents BIGINT;
ALTER TABLE booking_requests ADD COLUMN quote_sessions BIGINT;
ALTER TABLE booking_requests ADD COLUMN deposit_cents BIGINT;
ALTER TABLE booking_requests ADD COLUMN deadline_at BIGINT;
CREATE INDEX booking_requests_deadline ON booking_requests (deadline_at)
    WHERE state IN ('submitted', 'quoted', 'deposit_pending');

CREATE TABLE booking_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX booking_events_booking ON booking_events (booking_id, id);

CREATE TABLE appointments (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    artist_id  BIGINT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    state      TEXT   NOT NULL CHECK (state IN ('scheduled', 'confirmed', 'completed', 'rescheduled',
                                                'cancelled_by_client', 'cancelled_by_artist', 'no_show')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at),
    -- The database itself refuses a second active session in an artist's occupied time.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        artist_id WITH =, int8range(starts_at, ends_at) WITH &&
    ) WHERE (state IN ('scheduled', 'confirmed'))
);
CREATE INDEX appointments_booking ON appointments (booking_id);
CREATE INDEX appointments_artist_time ON appointments (artist_id, starts_at);

CREATE TABLE consents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    appointment_id   BIGINT  NOT NULL UNIQUE REFERENCES appointments (id) ON DELETE CASCADE,
    client_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    medical_notes    TEXT    NOT NULL,
    confirms_age     BOOLEAN NOT NULL,
    guardian_name    TEXT,
    aftercare_ack    BOOLEAN NOT NULL,
    photo_permission BOOLEAN NOT NULL,
    jurisdiction     TEXT    NOT NULL,
    ip               TEXT    NOT NULL,
    user_agent       TEXT    NOT NULL,
    signed_at        BIGINT  NOT NULL
);

CREATE TABLE deposit_ledger (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id     BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    appointment_id BIGINT REFERENCES appointments (id) ON DELETE SET NULL,
    entry          TEXT   NOT NULL CHECK (entry IN ('deposit_paid', 'deposit_forfeited', 'deposit_credited')),
    amount_cents   BIGINT NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX deposit_ledger_booking ON deposit_ledger (booking_id);

CREATE TABLE messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    sender_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_booking ON messages (booking_id, id);

CREATE TABLE message_reads (
    booking_id   BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_id BIGINT NOT NULL,
    PRIMARY KEY (booking_id, user_id)
);

CREATE TABLE reviews (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id BIGINT NOT NULL UNIQUE REFERENCES booking_requests (id) ON DELETE CASCADE,
    artist_id  BIGINT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    client_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX reviews_artist ON reviews (artist_id);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT   NOT NULL,
    booking_id      BIGINT REFERENCES booking_requests (id) ON DELETE CASCADE,
    recipient_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;
