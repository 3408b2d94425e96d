-- Each artist's working week in their own time zone: sessions are scheduled inside it.
ALTER TABLE artists ADD COLUMN work_days TEXT NOT NULL DEFAULT 'mon,tue,wed,thu,fri,sat';
ALTER TABLE artists ADD COLUMN work_start_min BIGINT NOT NULL DEFAULT 600;
ALTER TABLE artists ADD COLUMN work_end_min BIGINT NOT NULL DEFAULT 1140;
