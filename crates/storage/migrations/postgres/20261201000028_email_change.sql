-- An email sent to an address the account does not have yet: the link that confirms a change
-- of address goes to the new one.
ALTER TABLE outbox ADD COLUMN to_address TEXT;
