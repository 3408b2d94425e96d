-- Email preferences (the non-essential kinds a user turned off, comma separated) and "tell me
-- when these books open": one watch per client and artist, spent when the books open. Outbox
-- rows about an artist rather than a booking name the artist. Expand only.
ALTER TABLE users ADD COLUMN email_opt_out TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN artist_id INTEGER REFERENCES artists (id) ON DELETE CASCADE;
CREATE TABLE books_open_watches (
    artist_id  INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (artist_id, user_id)
);
CREATE INDEX books_open_watches_user ON books_open_watches (user_id);
