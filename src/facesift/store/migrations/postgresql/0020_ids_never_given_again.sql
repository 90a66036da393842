-- Numbers are kept in step with migrations/sqlite. SQLite's 0020 keeps the largest id its
-- images and faces ever had, so that none is given again (identity columns never do), and
-- adds the change counter on faces that PostgreSQL has had since its 0004.
SELECT 1;
