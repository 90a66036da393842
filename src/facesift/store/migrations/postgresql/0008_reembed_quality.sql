-- Issue 15: re-embedding a gallery with another model, and the probe quality gate.
-- New vectors are staged here, face by face, while the gallery keeps serving its old ones;
-- they replace the faces' embeddings in one transaction once every face has one.
CREATE TABLE face_reembeddings (
    face_id    BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    embedding  BYTEA NOT NULL
);
-- The quality gate's verdict on the searched probe face: NULL when it passed every warning
-- floor, else JSON {"level": "warning", "reasons": [...], "measures": {...}}.
ALTER TABLE searches ADD COLUMN quality_warning TEXT;
-- Shadow collections: searched and recorded, their candidates never shown (pre-go-live tests).
ALTER TABLE collections ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
-- What a search found in shadow collections: JSON [{"face_id", "distance", "collection"}],
-- kept for the operational test and never shown with the search.
ALTER TABLE searches ADD COLUMN shadow_candidates TEXT;
