-- The published versions of the terms and privacy policy (with a digest of their text, so a
-- version's words cannot change under it), who accepted which and when, and each account's
-- "do not sell or share" choice (CCPA/CPRA), set by hand or by the browser's Global Privacy Control.
CREATE TABLE legal_documents (
    document     TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (document, version)
);
CREATE TABLE legal_acceptances (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    document    TEXT NOT NULL,
    version     TEXT NOT NULL,
    method      TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    FOREIGN KEY (document, version) REFERENCES legal_documents (document, version)
);
CREATE INDEX legal_acceptances_user ON legal_acceptances (user_id, document, accepted_at);
CREATE TABLE privacy_choices (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    do_not_sell INTEGER NOT NULL,
    source      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
