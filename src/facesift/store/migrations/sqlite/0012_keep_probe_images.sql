-- Retention (issue 11): probe pixels go when the case closes, unless its investigator
-- recorded why they must stay (the reason, audited).
ALTER TABLE cases ADD COLUMN keep_probe_images TEXT;
