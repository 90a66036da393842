-- Accountability (issue 11): tombstones for removed photos, and the assignment of searches
-- to their reviewers.

-- A photo removed from the gallery leaves its SHA-256 here, so no later ingest brings it
-- back. Only the hash is kept: never the pixels, the path or the faces.
CREATE TABLE tombstones (
    sha256     TEXT PRIMARY KEY,
    removed_at TEXT NOT NULL,
    removed_by TEXT,
    reason     TEXT NOT NULL
);

-- A search awaiting review is taken from the queue by at most two reviewers: the slot (1 or
-- 2) is part of the key, so two reviewers taking the same last slot at once cannot both get
-- it, on either database.
CREATE TABLE review_assignments (
    search_id   INTEGER NOT NULL REFERENCES searches(id),
    slot        INTEGER NOT NULL CHECK (slot IN (1, 2)),
    reviewer_id INTEGER NOT NULL REFERENCES users(id),
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (search_id, slot),
    UNIQUE (search_id, reviewer_id)
);
CREATE INDEX review_assignments_reviewer ON review_assignments(reviewer_id);
