-- Security (issue 12): changes to an account that one person may not make alone wait here
-- for a second person's decision (a password reset, a change of roles). A reset, once
-- approved, leaves the account with no usable password and a one-time code, stored only as
-- its hash, with which the user sets their own password.
CREATE TABLE account_requests (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('password_reset', 'roles')),
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles        TEXT,                          -- JSON list, for a change of roles
    requested_by INTEGER NOT NULL REFERENCES users(id),
    requested_at TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by   INTEGER REFERENCES users(id),
    decided_at   TEXT
);
CREATE INDEX account_requests_pending ON account_requests (status, user_id);

ALTER TABLE users ADD COLUMN reset_code_hash TEXT;     -- SHA-256 of the one-time code
ALTER TABLE users ADD COLUMN reset_code_expires TEXT;  -- ISO time

-- Two-factor sign-in (TOTP, RFC 6238): the shared secret (base32; the server must read it
-- to check a code), one being set up and not yet confirmed, and the time step of the last
-- code accepted, so a code is never accepted twice.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Command-line changes were recorded as made by "operator", a name an app account could
-- take. They are now "cli:operator", which no account name can be (names have no colon).
UPDATE users SET created_by = 'cli:operator'
    WHERE created_by = 'operator' AND NOT EXISTS (SELECT 1 FROM users AS u WHERE u.name = 'operator');
