-- A case's audit entries are read by the misuse alert "many searches in a case with nothing
-- else done" (once a search), the case timeline and the disclosure packet. Without this
-- index each read was a scan of the whole audit log, decoding every entry's JSON; the
-- expression is the one AuditLog.case_entries asks with (Database.json_text).
CREATE INDEX audit_log_case ON audit_log(json_extract(details, '$.case_id'));
