-- Uploaded portfolio pieces: skin-tone tags (Fitzpatrick I–VI, comma separated) and, for healed
-- photos a client shares after a session, the booking they came from. Sessions remember when
-- the client was asked for that photo, so the prompt goes out once.
ALTER TABLE portfolio_items ADD COLUMN skin_tones TEXT NOT NULL DEFAULT '';
ALTER TABLE portfolio_items ADD COLUMN booking_id BIGINT REFERENCES booking_requests (id) ON DELETE SET NULL;
CREATE INDEX portfolio_items_booking ON portfolio_items (booking_id) WHERE booking_id IS NOT NULL;
ALTER TABLE appointments ADD COLUMN healed_prompted_at BIGINT;
