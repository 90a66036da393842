-- Opt-out by selfie (issue 11): a person asks to be taken out of the gallery and kept out.
-- Nothing here is a photo once a request is done: the selfies (encrypted) are deleted, and
-- only the suppression templates (embeddings, encrypted with the key in optout.key or
-- FACESIFT_OPTOUT_KEY) remain, usable only to suppress.

CREATE TABLE optout_requests (
    id            INTEGER PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    contact       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('received', 'in_review', 'done')),
    selfies       INTEGER NOT NULL,
    faces_found   INTEGER NOT NULL DEFAULT 0,
    faces_removed INTEGER NOT NULL DEFAULT 0,
    faces_kept    INTEGER NOT NULL DEFAULT 0,   -- found, but not this person (officer's call)
    created_at    TEXT NOT NULL,
    done_at       TEXT
);

-- The selfies, encrypted, until the privacy officer has decided every face found.
CREATE TABLE optout_selfies (
    request_id INTEGER NOT NULL REFERENCES optout_requests(id),
    n          INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (request_id, n)
);

-- The gallery faces the request's embeddings found, each decided one by one.
CREATE TABLE optout_faces (
    request_id INTEGER NOT NULL REFERENCES optout_requests(id),
    face_id    INTEGER NOT NULL,
    image_id   INTEGER NOT NULL,
    distance   REAL NOT NULL,
    decision   TEXT CHECK (decision IN ('removed', 'not_them')),
    decided_by TEXT,
    decided_at TEXT,
    PRIMARY KEY (request_id, face_id)
);

CREATE TABLE suppression_templates (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES optout_requests(id),
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL
);
