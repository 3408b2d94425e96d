-- Deposits paid online through Stripe: one row per PaymentIntent, the provider's events seen (so
-- each is applied once), ledger entries linked to the payment behind them (none: recorded by hand),
-- refunds as ledger entries, and the artist's Connect account for payouts. Expand only: the
-- previous release reads and writes the ledger as before.
CREATE TABLE payments (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id   BIGINT NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    intent_id    TEXT   NOT NULL UNIQUE,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency     TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    failure      TEXT,
    refund_id    TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX payments_booking ON payments (booking_id);
CREATE TABLE payment_events (
    event_id    TEXT   PRIMARY KEY,
    kind        TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);
ALTER TABLE artists ADD COLUMN stripe_account_id TEXT;
ALTER TABLE outbox ADD COLUMN payment_id BIGINT REFERENCES payments (id) ON DELETE CASCADE;
ALTER TABLE deposit_ledger ADD COLUMN payment_id BIGINT REFERENCES payments (id) ON DELETE SET NULL;
ALTER TABLE deposit_ledger DROP CONSTRAINT deposit_ledger_entry_check;
ALTER TABLE deposit_ledger ADD CONSTRAINT deposit_ledger_entry_check
    CHECK (entry IN ('deposit_paid', 'deposit_forfeited', 'deposit_credited', 'deposit_refunded'));
