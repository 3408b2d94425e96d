-- Each artist prices in an ISO 4217 currency; amounts stay in the currency's minor units. NULL
-- means the currency of the artist's country, so existing artists need no backfill and the
-- release before this one keeps working (expand only).
ALTER TABLE artists ADD COLUMN currency TEXT;
