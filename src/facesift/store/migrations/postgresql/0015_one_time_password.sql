-- A password facesift generated (the operator's `users add` or `users password` without
-- --password) is one-time: the user must choose their own at the first sign-in, and until
-- then may reach only their account page (issue 13, section 5).
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
