-- People, not face ids (issue 13). A gallery photo may belong to a subject: the operator's
-- own record number for the person it shows (a booking number, say), from a manifest's
-- optional subject_id and subject_label columns. A subject is named within its collection.
ALTER TABLE images ADD COLUMN subject_id TEXT;
ALTER TABLE images ADD COLUMN subject_label TEXT;
CREATE INDEX images_subject ON images(collection_id, subject_id);

-- A review confirms a person: a subject (its key) or the candidate faces a reviewer marked
-- as one person (JSON list of face ids). candidate_face_id stays the best of them.
ALTER TABLE reviews ADD COLUMN subject TEXT;
ALTER TABLE reviews ADD COLUMN candidate_face_ids TEXT;
