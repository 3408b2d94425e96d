-- Consent the artist can read: allergies apart from other medical notes, so they can be
-- highlighted; and a signed form that nothing can change (a correction is a new signature).
-- Expand only: the new column has a default, so the release before this one still inserts.
ALTER TABLE consents ADD COLUMN allergies TEXT NOT NULL DEFAULT '';
CREATE FUNCTION consents_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consents_immutable: a signed consent form cannot be changed';
END
$$;
CREATE TRIGGER consents_immutable BEFORE UPDATE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_immutable();
