-- The false positive identification rate a search's threshold was derived from (issue 9).
-- NULL for searches run before, at a fixed per-comparison threshold.
ALTER TABLE searches ADD COLUMN target_fpir REAL;
