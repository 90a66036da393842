-- Every sign-in counts the name's recent failures and every search the searcher's recent
-- searches (rate limit): both look up one action since a time. Without this index each was
-- a scan of the whole audit log, which only grows.
CREATE INDEX audit_log_action_at ON audit_log(action, at);
