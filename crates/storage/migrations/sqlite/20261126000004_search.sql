-- Search: ratings kept on the artist row (updated with each review, in its transaction) so they
-- can be filtered and sorted without aggregating reviews per query; indexes for the filters.
ALTER TABLE artists ADD COLUMN rating_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE artists ADD COLUMN rating_sum INTEGER NOT NULL DEFAULT 0;
-- Mean rating times 100 (467 is 4.67 stars), so sorting needs no division per row.
ALTER TABLE artists ADD COLUMN rating_avg_centi INTEGER NOT NULL DEFAULT 0;
UPDATE artists SET
    rating_count = (SELECT COUNT(*) FROM reviews r WHERE r.artist_id = artists.id),
    rating_sum = (SELECT COALESCE(SUM(r.rating), 0) FROM reviews r WHERE r.artist_id = artists.id);
UPDATE artists SET rating_avg_centi = rating_sum * 100 / rating_count WHERE rating_count > 0;
CREATE INDEX artists_rating ON artists (rating_avg_centi DESC, id);
CREATE INDEX artists_city_lower ON artists (lower(city));
CREATE INDEX artists_price ON artists (price_min_cents);
CREATE INDEX artist_styles_style_artist ON artist_styles (style, artist_id);
CREATE INDEX portfolio_items_healed ON portfolio_items (artist_id) WHERE healed;
