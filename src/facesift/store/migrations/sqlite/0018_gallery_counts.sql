-- The gallery's size, kept as it changes. Counting it at each call (GET /api/stats, the
-- gallery page, a Milvus gallery's size at each search) read every image and face: at a
-- million faces (bench/gallery_counts.py, 2026-11-29) 0.7-1.0 s on SQLite and 1.8-2.3 s on
-- PostgreSQL a call, growing with the gallery; read from the kept counts, 0.05-0.09 and
-- 0.7-1.2 ms. Triggers keep one row per collection, so no write path (ingest, removal,
-- expiry, opt-out, a database copy) can forget it. Their cost is within the noise on SQLite
-- and at most 0.3 ms an image stored on PostgreSQL.
-- An image's faces leave with it: counted off before the image goes; a face deleted by the
-- image's cascade finds no image any more, and counts off nothing a second time.
CREATE TABLE collection_counts (
    collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    images        INTEGER NOT NULL,
    faces         INTEGER NOT NULL
);
INSERT INTO collection_counts (collection_id, images, faces)
SELECT c.id,
       (SELECT COUNT(*) FROM images i WHERE i.collection_id = c.id),
       (SELECT COUNT(*) FROM faces f JOIN images i ON i.id = f.image_id
         WHERE i.collection_id = c.id)
FROM collections c;

CREATE TRIGGER collection_counted AFTER INSERT ON collections BEGIN
    INSERT INTO collection_counts (collection_id, images, faces) VALUES (NEW.id, 0, 0);
END;
CREATE TRIGGER image_counted AFTER INSERT ON images BEGIN
    UPDATE collection_counts SET images = images + 1 WHERE collection_id = NEW.collection_id;
END;
CREATE TRIGGER image_uncounted BEFORE DELETE ON images BEGIN
    UPDATE collection_counts
       SET images = images - 1,
           faces = faces - (SELECT COUNT(*) FROM faces WHERE image_id = OLD.id)
     WHERE collection_id = OLD.collection_id;
END;
CREATE TRIGGER image_moved AFTER UPDATE OF collection_id ON images
WHEN OLD.collection_id <> NEW.collection_id BEGIN
    UPDATE collection_counts
       SET images = images - 1,
           faces = faces - (SELECT COUNT(*) FROM faces WHERE image_id = NEW.id)
     WHERE collection_id = OLD.collection_id;
    UPDATE collection_counts
       SET images = images + 1,
           faces = faces + (SELECT COUNT(*) FROM faces WHERE image_id = NEW.id)
     WHERE collection_id = NEW.collection_id;
END;
CREATE TRIGGER face_counted AFTER INSERT ON faces BEGIN
    UPDATE collection_counts SET faces = faces + 1
     WHERE collection_id = (SELECT collection_id FROM images WHERE id = NEW.image_id);
END;
CREATE TRIGGER face_uncounted AFTER DELETE ON faces BEGIN
    UPDATE collection_counts SET faces = faces - 1
     WHERE collection_id = (SELECT collection_id FROM images WHERE id = OLD.image_id);
END;
