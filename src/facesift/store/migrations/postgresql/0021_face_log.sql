-- A log of the faces added and removed: see migrations/sqlite/0021 for the reason. Rows
-- are written once a statement, from the statement's rows (as 0018's counts are).
--
-- PostgreSQL's transactions may commit out of sequence order: a transaction that took a
-- smaller seq can commit after a larger one was read. So each row keeps the id of the
-- transaction that wrote it, and a reader asks for the rows of every transaction that was
-- still running, or not yet begun, when it last read (pg_snapshot_xmin: every transaction
-- before it had ended). It reads a few rows twice, which does no harm: a row names a face,
-- and the reader looks the face up.
CREATE TABLE face_log (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    face_id BIGINT NOT NULL,
    xid     BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX face_log_by_transaction ON face_log (xid);
CREATE TABLE face_log_pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL,  -- the newest row pruned
    xid     BIGINT NOT NULL   -- the newest transaction whose rows were pruned
);
INSERT INTO face_log_pruned (id, through, xid) VALUES (1, 0, 0);

CREATE FUNCTION log_added_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO face_log (face_id) SELECT id FROM added;
    RETURN NULL;
END;
$$;
CREATE TRIGGER face_logged_added AFTER INSERT ON faces
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION log_added_faces();

CREATE FUNCTION log_removed_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO face_log (face_id) SELECT id FROM removed;
    RETURN NULL;
END;
$$;
CREATE TRIGGER face_logged_removed AFTER DELETE ON faces
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION log_removed_faces();

-- A TRUNCATE names no rows: it counts as pruning the whole log, so every reader reads the
-- gallery in full once.
CREATE FUNCTION log_truncated_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE face_log_pruned
       SET through = COALESCE((SELECT MAX(seq) FROM face_log), through),
           xid = pg_current_xact_id()::text::bigint;
    RETURN NULL;
END;
$$;
CREATE TRIGGER face_log_truncated AFTER TRUNCATE ON faces
    FOR EACH STATEMENT EXECUTE FUNCTION log_truncated_faces();
