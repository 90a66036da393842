-- "What did this person do" is the audit log's first question (the audit page's user filter,
-- GET /api/audit?user=). Without this index a user's page and its count read the whole log.
-- At a million entries (bench/audit_log.py, 2026-11-29), for a user with 100 of them: the
-- newest 50 and their count took 62 + 119 ms on SQLite and 215 + 107 ms on PostgreSQL, and
-- take 1.0 + 0.05 and 1.4 + 0.5 ms with it. (Counting a user with 25,000 entries scattered
-- through the log stays about 110 ms on PostgreSQL, which visits each one's page anyway.)
CREATE INDEX audit_log_actor ON audit_log(actor, id);
