-- Retention (issue 11): when a case was closed (periods count from it), and what retention
-- destroyed: a probe's pixels, a probe's face templates, a search's candidate list.
ALTER TABLE cases ADD COLUMN closed_at TEXT;
ALTER TABLE probes ADD COLUMN pixels_destroyed_at TEXT;
ALTER TABLE probes ADD COLUMN template_destroyed_at TEXT;
ALTER TABLE searches ADD COLUMN candidates_destroyed_at TEXT;
-- Scoped authorisations: the collections a case's searches may reach (JSON list; NULL: all).
ALTER TABLE cases ADD COLUMN collections TEXT;
