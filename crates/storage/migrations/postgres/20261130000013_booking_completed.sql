-- A request whose sessions are all done is `completed`, a final state. It is kept as its own
-- column rather than a new `state` value, so that the release before this one, reading a
-- completed request during a rollback, still sees a valid `booked` row (expand/contract).
ALTER TABLE booking_requests ADD COLUMN completed_at BIGINT;
