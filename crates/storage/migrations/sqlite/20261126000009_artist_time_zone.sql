-- Each artist's IANA time zone: session times are entered and shown in it. Existing artists
-- start on UTC (what every time was shown in before) until they choose theirs.
ALTER TABLE artists ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
