-- Flash designs with size variants (each its own price and duration), and guest spots: an artist
-- working at another studio for some dates, shown on their page, the studio's and in search.
CREATE TABLE flash_designs (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    artist_id  BIGINT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    style      TEXT    NOT NULL,
    image_path TEXT    NOT NULL,
    thumb_path TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX flash_designs_artist ON flash_designs (artist_id, id);

CREATE TABLE flash_variants (
    flash_id    BIGINT NOT NULL REFERENCES flash_designs (id) ON DELETE CASCADE,
    size        TEXT    NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
    price_cents BIGINT NOT NULL CHECK (price_cents > 0),
    minutes     BIGINT NOT NULL CHECK (minutes BETWEEN 15 AND 600),
    PRIMARY KEY (flash_id, size)
);

CREATE TABLE guest_spots (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    artist_id  BIGINT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    studio_id  BIGINT NOT NULL REFERENCES studios (id) ON DELETE CASCADE,
    starts_on  TEXT    NOT NULL,
    ends_on    TEXT    NOT NULL,
    time_zone  TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (ends_on >= starts_on)
);
CREATE INDEX guest_spots_artist ON guest_spots (artist_id, ends_on);
CREATE INDEX guest_spots_studio ON guest_spots (studio_id, ends_on);
