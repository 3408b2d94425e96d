-- Accounts, studios, artists, portfolio and booking requests. Keep in step with migrations/postgres.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('client', 'artist', 'studio_owner', 'admin')),
    created_at    TEXT    NOT NULL
);

CREATE TABLE studios (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    slug         TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    city         TEXT    NOT NULL,
    country      TEXT    NOT NULL,
    jurisdiction TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);

CREATE TABLE artists (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    slug              TEXT    NOT NULL UNIQUE,
    bio               TEXT    NOT NULL,
    city              TEXT    NOT NULL,
    country           TEXT    NOT NULL,
    jurisdiction      TEXT    NOT NULL,
    studio_id         INTEGER REFERENCES studios (id) ON DELETE SET NULL,
    price_min_cents   INTEGER NOT NULL CHECK (price_min_cents >= 0),
    price_max_cents   INTEGER NOT NULL,
    hourly_rate_cents INTEGER NOT NULL CHECK (hourly_rate_cents >= 0),
    books_open        INTEGER NOT NULL CHECK (books_open IN (0, 1)),
    min_age           INTEGER NOT NULL CHECK (min_age BETWEEN 16 AND 99),
    created_at        TEXT    NOT NULL,
    CHECK (price_max_cents >= price_min_cents)
);
CREATE INDEX artists_city ON artists (city);
CREATE INDEX artists_studio ON artists (studio_id);

CREATE TABLE artist_styles (
    artist_id INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    style     TEXT    NOT NULL,
    PRIMARY KEY (artist_id, style)
);
CREATE INDEX artist_styles_style ON artist_styles (style);

CREATE TABLE portfolio_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    artist_id  INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    style      TEXT    NOT NULL,
    placement  TEXT    NOT NULL,
    healed     INTEGER NOT NULL CHECK (healed IN (0, 1)),
    image_path TEXT    NOT NULL,
    thumb_path TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX portfolio_items_artist ON portfolio_items (artist_id);

CREATE TABLE booking_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    artist_id  INTEGER NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL CHECK (state IN ('submitted', 'needs_info', 'quoted', 'deposit_pending',
                                                 'booked', 'declined', 'withdrawn', 'expired')),
    idea       TEXT    NOT NULL,
    placement  TEXT    NOT NULL,
    size       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX booking_requests_artist ON booking_requests (artist_id, state);
CREATE INDEX booking_requests_client ON booking_requests (client_id);
