-- Sign-in through OpenID providers: each provider's subject belongs to one account, linked only
-- once its verified email matched and (for an existing account) its owner confirmed.
CREATE TABLE oidc_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- One row per signed-in browser, so people can see their sessions and end one. The session
-- itself lives in tower_sessions' table; removing the row ends it on its next request.
CREATE TABLE user_devices (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The browser, as its User-Agent names it (truncated); no address is kept.
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX user_devices_user ON user_devices (user_id);
