-- Substring search (`q` matching anywhere, `UserQuery::q_contains`): the
-- searchable text of every user as trigrams (FTS5's trigram tokenizer,
-- which folds case). Contentless (the text lives in `users` only) and
-- detail=none (row ids only, no positions): the index only narrows, the
-- LIKE of `users::list` decides, so a row whose trigrams are all present
-- but not adjacent costs a check, never a wrong answer.
--
-- `users_search_text` is the one definition of a user's searchable text:
-- the triggers (which keep the index in the user's own transaction) and
-- `roster import` (which builds the index once after a load) read it. An
-- update touches the index only when one of the five columns changed
-- (logins and grants do not). Soft-deleted users stay indexed: the query's
-- own conditions leave them out.
CREATE VIRTUAL TABLE users_text USING fts5(
    t, content = '', contentless_delete = 1, tokenize = 'trigram', detail = 'none'
);

CREATE VIEW users_search_text (seq, t) AS
SELECT seq, concat_ws(char(10), username_key, email_key, first_name, last_name, display_name)
FROM users;

INSERT INTO users_text (rowid, t) SELECT seq, t FROM users_search_text;

CREATE TRIGGER users_text_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_text (rowid, t) SELECT seq, t FROM users_search_text WHERE seq = new.seq;
END;

CREATE TRIGGER users_text_update AFTER UPDATE OF username_key, email_key, first_name, last_name, display_name ON users
WHEN old.username_key IS NOT new.username_key OR old.email_key IS NOT new.email_key
    OR old.first_name IS NOT new.first_name OR old.last_name IS NOT new.last_name
    OR old.display_name IS NOT new.display_name
BEGIN
    DELETE FROM users_text WHERE rowid = old.seq;
    INSERT INTO users_text (rowid, t) SELECT seq, t FROM users_search_text WHERE seq = new.seq;
END;

CREATE TRIGGER users_text_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_text WHERE rowid = old.seq;
END;
