-- Failed sign-ins per email (as a SHA-256 hash, so unknown addresses store no personal data),
-- shared by every instance: the per-account backoff.
CREATE TABLE sign_in_throttle (
    email_hash   TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
