-- SQLite gives a new row the largest id + 1, so the id of a removed newest image or face is
-- given again to the next one stored. Past searches' candidates, a case's lead and reviews
-- keep face and image ids, and would then show another photo than the one they found; and a
-- server's index, which catches up by comparing ids, kept the removed face's vector under
-- the new face's id. The store now numbers new images and faces one past the largest id
-- each table has ever given, kept here (PostgreSQL's identity columns never give one again).
CREATE TABLE id_high_water (
    name    TEXT PRIMARY KEY,
    largest INTEGER NOT NULL
);
INSERT INTO id_high_water (name, largest)
VALUES ('images', COALESCE((SELECT MAX(id) FROM images), 0)),
       ('faces', COALESCE((SELECT MAX(id) FROM faces), 0));
CREATE TRIGGER image_id_used AFTER INSERT ON images BEGIN
    UPDATE id_high_water SET largest = MAX(largest, NEW.id) WHERE name = 'images';
END;

-- And a count of every change to the faces, as PostgreSQL has had since its 0004, which the
-- faces' fingerprint now includes: a removal and an addition between two looks can leave the
-- count and the largest id as they were (on PostgreSQL, a transaction that took a smaller id
-- can commit after a larger one).
CREATE TABLE face_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    counter INTEGER NOT NULL
);
INSERT INTO face_changes (id, counter) VALUES (1, 0);
CREATE TRIGGER face_added AFTER INSERT ON faces BEGIN
    UPDATE id_high_water SET largest = MAX(largest, NEW.id) WHERE name = 'faces';
    UPDATE face_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER face_removed AFTER DELETE ON faces BEGIN
    UPDATE face_changes SET counter = counter + 1 WHERE id = 1;
END;
