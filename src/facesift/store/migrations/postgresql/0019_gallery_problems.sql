-- The gallery page's two lists of photos that need a look, without reading the gallery: see
-- migrations/sqlite/0019. Faces' inserts are handled once a statement (see 0018 for why).
CREATE TABLE faceless_images (
    image_id BIGINT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE
);
INSERT INTO faceless_images (image_id)
SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM faces f WHERE f.image_id = i.id);

-- An image is judged faceless when its transaction commits (a deferred trigger), not put in
-- and taken out again a moment later by its first face: each such pair leaves a dead row,
-- and a million of them (a copy, a big ingest) left a table of empty pages to scan.
CREATE FUNCTION add_faceless_image() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faceless_images (image_id)
    SELECT NEW.id
     WHERE EXISTS (SELECT 1 FROM images WHERE id = NEW.id)
       AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = NEW.id)
    ON CONFLICT (image_id) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER image_faceless AFTER INSERT ON images
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION add_faceless_image();

CREATE FUNCTION remove_faced_images() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM faceless_images WHERE image_id IN (SELECT image_id FROM added);
    RETURN NULL;
END;
$$;
CREATE TRIGGER image_faced AFTER INSERT ON faces
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION remove_faced_images();

CREATE FUNCTION add_faceless_again() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faceless_images (image_id)
    SELECT OLD.image_id
     WHERE NOT EXISTS (SELECT 1 FROM faces WHERE image_id = OLD.image_id)
       AND EXISTS (SELECT 1 FROM images WHERE id = OLD.image_id)
    ON CONFLICT (image_id) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER image_faceless_again AFTER DELETE ON faces
    FOR EACH ROW EXECUTE FUNCTION add_faceless_again();

CREATE INDEX images_no_provenance ON images(path, id)
WHERE ((source_url IS NULL OR source_url = '') AND (page_url IS NULL OR page_url = '')) OR legal_basis IS NULL OR legal_basis = '';
