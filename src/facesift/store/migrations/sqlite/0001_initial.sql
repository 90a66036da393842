-- Records, provenance and the audit log. One row per collection, image and face.

CREATE TABLE collections (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE images (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    sha256        TEXT NOT NULL UNIQUE,      -- content hash: the same photo is stored once
    path          TEXT NOT NULL,             -- file path, or "archive.zip!member/name.jpg"
    byte_size     INTEGER NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    source_url    TEXT,
    page_url      TEXT,
    caption       TEXT,
    captured_at   TEXT,
    legal_basis   TEXT,
    ingested_at   TEXT NOT NULL
);
CREATE INDEX images_collection ON images(collection_id);
CREATE INDEX images_path ON images(path);

-- A face's id is also its vector id in the index.
CREATE TABLE faces (
    id             INTEGER PRIMARY KEY,
    image_id       INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    x1 INTEGER NOT NULL, y1 INTEGER NOT NULL, x2 INTEGER NOT NULL, y2 INTEGER NOT NULL,
    landmarks      TEXT NOT NULL,            -- JSON [[x, y], ...]
    detector_score REAL NOT NULL,
    quality        REAL NOT NULL,
    size_px        INTEGER NOT NULL,
    sharpness      REAL NOT NULL,
    model_id       TEXT NOT NULL,
    embedding      BLOB NOT NULL             -- float32 little-endian; the index is rebuilt from it
);
CREATE INDEX faces_image ON faces(image_id);

-- Files that could not be ingested, and why. Keyed by where they were found.
CREATE TABLE ingest_failures (
    path       TEXT PRIMARY KEY,
    sha256     TEXT,
    code       TEXT NOT NULL,
    message    TEXT NOT NULL,
    failed_at  TEXT NOT NULL
);

-- Append-only and hash-chained: hash = sha256(prev_hash + canonical entry).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    details    TEXT NOT NULL,               -- canonical JSON
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
