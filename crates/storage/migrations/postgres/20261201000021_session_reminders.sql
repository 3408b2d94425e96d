-- Sessions in the calendar: reminders 48 h and 24 h before (each sent once), emails that carry
-- the session they are about (for its time and its calendar invite), and each artist's private
-- calendar feed, addressed by a random token they can replace. Expand only.
ALTER TABLE appointments ADD COLUMN reminded_48_at BIGINT;
ALTER TABLE appointments ADD COLUMN reminded_24_at BIGINT;
CREATE INDEX appointments_upcoming ON appointments (starts_at) WHERE state IN ('scheduled', 'confirmed');
ALTER TABLE outbox ADD COLUMN appointment_id BIGINT REFERENCES appointments (id) ON DELETE CASCADE;
ALTER TABLE artists ADD COLUMN calendar_token TEXT;
CREATE UNIQUE INDEX artists_calendar_token ON artists (calendar_token);
