-- Free-text search reads one lower-cased column (name, city, studio, bio) kept up to date by the
-- store. SQLite scans it (no trigram index); at the embedded default's scale that is a few ms.
ALTER TABLE artists ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE artists SET search_text = lower(
    COALESCE((SELECT u.display_name FROM users u WHERE u.id = artists.user_id), '') || ' ' || city || ' ' ||
    COALESCE((SELECT s.name FROM studios s WHERE s.id = artists.studio_id), '') || ' ' || bio);
