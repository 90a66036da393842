-- Accounts, cases, probes, searches and their review: what the server adds to the core.
-- Secrets are never stored: passwords as argon2 hashes, session and API tokens as SHA-256.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,             -- argon2id
    status           TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    training_expires TEXT,                      -- ISO date; no valid attestation: no search, no review
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    approved_by      TEXT,
    approved_at      TEXT
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);

-- Key/value settings (JSON values): offense categories, refused purposes, limits.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE cases (
    id                     INTEGER PRIMARY KEY,
    reference              TEXT NOT NULL UNIQUE,
    offense_category       TEXT NOT NULL,
    purpose                TEXT NOT NULL,
    authorisation_id       TEXT,
    authorisation_expires  TEXT,
    status                 TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by             INTEGER NOT NULL REFERENCES users(id),
    created_at             TEXT NOT NULL
);

-- An uploaded probe photo, or a derivative made by editing one (parent_id, edit).
CREATE TABLE probes (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    parent_id    INTEGER REFERENCES probes(id),
    edit         TEXT,                          -- JSON: the operation that made it from parent
    sha256       TEXT NOT NULL,
    content      BLOB NOT NULL,                 -- the photo as uploaded (or as re-encoded by the edit)
    media_type   TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    faces        TEXT NOT NULL,                 -- JSON [{box, quality, ...}] as detected
    embeddings   BLOB NOT NULL,                 -- float32, one row of 128 per face
    created_by   INTEGER NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL
);
CREATE INDEX probes_case ON probes(case_id);

CREATE TABLE searches (
    id                         INTEGER PRIMARY KEY,
    case_id                    INTEGER NOT NULL REFERENCES cases(id),
    probe_id                   INTEGER NOT NULL REFERENCES probes(id),
    face_index                 INTEGER NOT NULL,
    requested_by               INTEGER NOT NULL REFERENCES users(id),
    created_at                 TEXT NOT NULL,
    collection                 TEXT,
    top_k                      INTEGER NOT NULL,
    threshold                  REAL NOT NULL,
    gallery_size               INTEGER NOT NULL,
    expected_false_candidates  REAL NOT NULL,
    outcome                    TEXT NOT NULL CHECK (outcome IN ('candidates', 'no_candidate')),
    -- candidates: pending_review, then released / no_lead / inconclusive. no_candidate: closed.
    status                     TEXT NOT NULL,
    lead_face_id               INTEGER,
    edited_probe               INTEGER NOT NULL DEFAULT 0,
    audit_id                   INTEGER
);
CREATE INDEX searches_case ON searches(case_id);
CREATE INDEX searches_status ON searches(status);

-- A candidate list is kept as it was shown, even if the gallery face is later removed.
CREATE TABLE search_candidates (
    search_id                  INTEGER NOT NULL REFERENCES searches(id),
    rank                       INTEGER NOT NULL,
    face_id                    INTEGER NOT NULL,
    image_id                   INTEGER NOT NULL,
    distance                   REAL NOT NULL,
    score                      REAL NOT NULL,
    expected_false_candidates  REAL NOT NULL,
    details                    TEXT NOT NULL,    -- JSON: box and provenance at search time
    PRIMARY KEY (search_id, rank)
);
CREATE INDEX search_candidates_face ON search_candidates(face_id);
CREATE INDEX search_candidates_image ON search_candidates(image_id);

CREATE TABLE reviews (
    id                 INTEGER PRIMARY KEY,
    search_id          INTEGER NOT NULL REFERENCES searches(id),
    reviewer_id        INTEGER NOT NULL REFERENCES users(id),
    decision           TEXT NOT NULL CHECK (decision IN ('confirm', 'no_lead', 'inconclusive')),
    candidate_face_id  INTEGER,                  -- the confirmed candidate
    similarities       TEXT NOT NULL,
    differences        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    UNIQUE (search_id, reviewer_id)
);
