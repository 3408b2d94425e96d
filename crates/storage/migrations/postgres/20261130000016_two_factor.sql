-- TOTP second factor: the shared secret (base32), the last time step accepted (so a code is never
-- accepted twice), and the SHA-256 hashes of the unused recovery codes, comma-separated.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_recovery TEXT NOT NULL DEFAULT '';
