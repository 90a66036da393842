-- Change detection across processes. SQLite tells a connection that another one committed
-- (PRAGMA data_version); PostgreSQL does not, so every statement that adds or removes faces
-- bumps this one-row counter, and a server compares it before each search (one tiny read)
-- to see what an ingest or a removal beside it changed.
CREATE TABLE face_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    counter BIGINT NOT NULL
);
INSERT INTO face_changes (id, counter) VALUES (1, 0);
CREATE FUNCTION bump_face_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE face_changes SET counter = counter + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER faces_changed AFTER INSERT OR DELETE OR TRUNCATE ON faces
    FOR EACH STATEMENT EXECUTE FUNCTION bump_face_changes();
