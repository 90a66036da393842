-- Single sign-on (issue 12): sign-ins sent to the identity provider and not yet back. In the
-- database, not in one process's memory, so the provider may send the browser back to any
-- of the server's processes (serve --workers N). Each row is used once, then deleted.
CREATE TABLE oidc_pending (
    state_hash   TEXT PRIMARY KEY,   -- SHA-256 of the state the browser carries
    nonce        TEXT NOT NULL,
    verifier     TEXT NOT NULL,      -- the PKCE code verifier
    redirect_uri TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
