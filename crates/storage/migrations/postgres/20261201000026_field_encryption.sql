-- Envelope encryption of special-category data: the data keys, each wrapped by KMS (or, in
-- development, a local key), and rewrapped in place when the wrapping key rotates. Booking
-- requests keep the age a client had when they asked, so age rules need no date of birth, which
-- is stored encrypted.
CREATE TABLE data_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wrapped      TEXT NOT NULL,
    key_ref      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    rewrapped_at BIGINT
);
ALTER TABLE booking_requests ADD COLUMN age_at_request INTEGER;
