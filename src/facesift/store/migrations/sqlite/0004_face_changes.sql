-- Numbers are kept in step with migrations/postgresql. PostgreSQL's 0004 adds a change
-- counter on faces; SQLite needs none: PRAGMA data_version tells a connection that another
-- one committed.
SELECT 1;
