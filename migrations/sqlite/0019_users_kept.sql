-- Users are disabled, never deleted: the access log, the admin log, tokens and sessions name
-- them, and an audit must be able to say who read a case years later. A trigger now says so
-- for every table at once. (PostgreSQL also drops the access log's foreign key on user_id,
-- whose check per row was most of a list's write there; SQLite's costs next to nothing and
-- stays.)
CREATE TRIGGER users_kept BEFORE DELETE ON users
BEGIN
    SELECT RAISE(ABORT, 'a user is never deleted (the logs name them): disable the account instead');
END;
