-- Deposits paid online through Stripe: one row per PaymentIntent, the provider's events seen (so
-- each is applied once), ledger entries linked to the payment behind them (none: recorded by hand),
-- refunds as ledger entries, and the artist's Connect account for payouts. Expand only: the
-- previous release reads and writes the ledger as before.
CREATE TABLE payments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id   INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    intent_id    TEXT    NOT NULL UNIQUE,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    currency     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    failure      TEXT,
    refund_id    TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX payments_booking ON payments (booking_id);
CREATE TABLE payment_events (
    event_id    TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);
ALTER TABLE artists ADD COLUMN stripe_account_id TEXT;
ALTER TABLE outbox ADD COLUMN payment_id INTEGER REFERENCES payments (id) ON DELETE CASCADE;

-- SQLite cannot change a CHECK in place: the ledger is rebuilt with the refund entry allowed.
CREATE TABLE deposit_ledger_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id     INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    appointment_id INTEGER REFERENCES appointments (id) ON DELETE SET NULL,
    entry          TEXT    NOT NULL CHECK (entry IN ('deposit_paid', 'deposit_forfeited',
                                                     'deposit_credited', 'deposit_refunded')),
    amount_cents   INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    payment_id     INTEGER REFERENCES payments (id) ON DELETE SET NULL
);
INSERT INTO deposit_ledger_new (id, booking_id, appointment_id, entry, amount_cents, at)
    SELECT id, booking_id, appointment_id, entry, amount_cents, at FROM deposit_ledger;
DROP TABLE deposit_ledger;
ALTER TABLE deposit_ledger_new RENAME TO deposit_ledger;
CREATE INDEX deposit_ledger_booking ON deposit_ledger (booking_id);
