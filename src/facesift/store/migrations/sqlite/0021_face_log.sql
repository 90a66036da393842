-- A log of the faces added and removed, so that a process holding the gallery's vectors in
-- memory (a server beside an ingest) catches up with another process's change by reading
-- what changed since it last looked, not every face id: at a million faces that read took
-- 1.0-1.3 s a change on SQLite (2026-11-29), a core's worth beside an ingest that commits a
-- batch a second, and it grew with the gallery.
--
-- A row names a face, not what happened to it: a reader looks the face up (still stored,
-- or not) and makes its index agree, so reading a row twice does no harm. SQLite writes
-- one transaction at a time, so rows commit in sequence order and a reader asks for those
-- after the last it read. The oldest rows are pruned (Store.prune_face_log); a reader whose
-- last row was pruned reads the whole gallery once, as before.
CREATE TABLE face_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id INTEGER NOT NULL
);
CREATE TABLE face_log_pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL  -- the newest row pruned; rows at or before it are gone
);
INSERT INTO face_log_pruned (id, through) VALUES (1, 0);
CREATE TRIGGER face_logged_added AFTER INSERT ON faces BEGIN
    INSERT INTO face_log (face_id) VALUES (NEW.id);
END;
CREATE TRIGGER face_logged_removed AFTER DELETE ON faces BEGIN
    INSERT INTO face_log (face_id) VALUES (OLD.id);
END;
