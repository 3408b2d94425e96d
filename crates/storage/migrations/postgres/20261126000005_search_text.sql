-- Free-text search reads one lower-cased column (name, city, studio, bio) kept up to date by the
-- store, with a trigram index so `LIKE '%word%'` does not scan every artist.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE artists ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE artists SET search_text = lower(
    COALESCE((SELECT u.display_name FROM users u WHERE u.id = artists.user_id), '') || ' ' || city || ' ' ||
    COALESCE((SELECT s.name FROM studios s WHERE s.id = artists.studio_id), '') || ' ' || bio);
CREATE INDEX artists_search_text ON artists USING gin (search_text gin_trgm_ops);
