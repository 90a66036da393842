-- Retention (issue 11 §3): a manifest's retain_until, the UTC time (ISO text, as every time
-- here) after which retention destroys the photo, whatever its collection's period.
ALTER TABLE images ADD COLUMN retain_until TEXT;
CREATE INDEX images_retain_until ON images (retain_until) WHERE retain_until IS NOT NULL;
