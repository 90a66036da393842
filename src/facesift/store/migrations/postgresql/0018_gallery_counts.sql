-- The gallery's size, kept as it changes: see migrations/sqlite/0018 for the reason and the
-- measurement. One row per collection.
--
-- Inserts are counted once a statement, from the statement's new rows, not once a row: each
-- update of a row leaves a new version of it, and an update inside one transaction walks the
-- versions that transaction made before it, so a million row-by-row updates in one
-- transaction (a 'facesift db copy', one INSERT ... SELECT) would never end. A copy inserts
-- 500 rows a statement. Deletes and moves stay row by row: the gallery removes one image a
-- transaction. An image's faces are counted off before the image goes (BEFORE DELETE); the
-- faces its cascade then deletes find no image, and count off nothing a second time.
-- Concurrent ingests into one collection queue on its row until they commit, as they already
-- queue on the audit chain's head in that same transaction (each batch writes its entry).
CREATE TABLE collection_counts (
    collection_id BIGINT PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    images        BIGINT NOT NULL,
    faces         BIGINT NOT NULL
);
INSERT INTO collection_counts (collection_id, images, faces)
SELECT c.id,
       (SELECT COUNT(*) FROM images i WHERE i.collection_id = c.id),
       (SELECT COUNT(*) FROM faces f JOIN images i ON i.id = f.image_id
         WHERE i.collection_id = c.id)
FROM collections c;

CREATE FUNCTION count_collections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO collection_counts (collection_id, images, faces)
    SELECT id, 0, 0 FROM added;
    RETURN NULL;
END;
$$;
CREATE TRIGGER collection_counted AFTER INSERT ON collections
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_collections();

CREATE FUNCTION count_added_images() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE collection_counts n SET images = n.images + a.images
      FROM (SELECT collection_id, COUNT(*) AS images FROM added GROUP BY collection_id) a
     WHERE n.collection_id = a.collection_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER image_counted AFTER INSERT ON images
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_added_images();

CREATE FUNCTION count_added_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE collection_counts n SET faces = n.faces + a.faces
      FROM (SELECT i.collection_id, COUNT(*) AS faces FROM added f
              JOIN images i ON i.id = f.image_id GROUP BY i.collection_id) a
     WHERE n.collection_id = a.collection_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER face_counted AFTER INSERT ON faces
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_added_faces();

CREATE FUNCTION uncount_image() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    faces_of BIGINT;
BEGIN
    SELECT COUNT(*) INTO faces_of FROM faces WHERE image_id = OLD.id;
    IF TG_OP = 'DELETE' THEN
        UPDATE collection_counts SET images = images - 1, faces = faces - faces_of
         WHERE collection_id = OLD.collection_id;
        RETURN OLD;
    END IF;
    IF OLD.collection_id <> NEW.collection_id THEN  -- an image moved to another collection
        UPDATE collection_counts SET images = images - 1, faces = faces - faces_of
         WHERE collection_id = OLD.collection_id;
        UPDATE collection_counts SET images = images + 1, faces = faces + faces_of
         WHERE collection_id = NEW.collection_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER image_uncounted BEFORE DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION uncount_image();
CREATE TRIGGER image_moved AFTER UPDATE OF collection_id ON images
    FOR EACH ROW EXECUTE FUNCTION uncount_image();

CREATE FUNCTION uncount_face() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE collection_counts SET faces = faces - 1
     WHERE collection_id = (SELECT collection_id FROM images WHERE id = OLD.image_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER face_uncounted AFTER DELETE ON faces
    FOR EACH ROW EXECUTE FUNCTION uncount_face();
