-- The gallery page's two lists of photos that need a look, without reading the gallery.
-- "No face found" counted every image's faces (a subquery an image), and "no provenance"
-- read every image, at each view: at a million images (bench/gallery_counts.py, 2026-11-29)
-- 944 and 232 ms on SQLite, 2,432 and 167 on PostgreSQL, growing with the gallery; now 8.4
-- and 9.3, 15.9 and 7.3 ms (a gallery with one photo in 1,000 without a face and one in 500
-- without provenance). How:
-- * faceless_images holds the images that have no face, kept by triggers: an image starts
--   there, leaves with its first face, and comes back when its last face is removed (not
--   when the image itself goes: its faces find no image then). The lists read only it.
-- * a partial index holds the images without provenance, in the list's order; its condition
--   is GalleryBrowse's, word for word, so that the planner can use it.
CREATE TABLE faceless_images (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE
);
INSERT INTO faceless_images (image_id)
SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM faces f WHERE f.image_id = i.id);

CREATE TRIGGER image_faceless AFTER INSERT ON images BEGIN
    INSERT INTO faceless_images (image_id) VALUES (NEW.id);
END;
CREATE TRIGGER image_faced AFTER INSERT ON faces BEGIN
    DELETE FROM faceless_images WHERE image_id = NEW.image_id;
END;
CREATE TRIGGER image_faceless_again AFTER DELETE ON faces
WHEN NOT EXISTS (SELECT 1 FROM faces WHERE image_id = OLD.image_id)
 AND EXISTS (SELECT 1 FROM images WHERE id = OLD.image_id) BEGIN
    INSERT OR IGNORE INTO faceless_images (image_id) VALUES (OLD.image_id);
END;

CREATE INDEX images_no_provenance ON images(path, id)
WHERE ((source_url IS NULL OR source_url = '') AND (page_url IS NULL OR page_url = '')) OR legal_basis IS NULL OR legal_basis = '';
