-- The home listing orders artists by books_open then id, and shows each artist's first healed piece:
-- these indexes let both be read directly instead of sorted per page view.
CREATE INDEX artists_listing ON artists (books_open DESC, id);
CREATE INDEX portfolio_items_cover ON portfolio_items (artist_id, healed DESC, id);
