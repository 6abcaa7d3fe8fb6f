-- Substring search (`q` matching anywhere, `UserQuery::q_contains`): the
-- searchable text of every user as trigrams (FTS5's trigram tokenizer,
-- which folds case). Contentless (the text lives in `users` only) and
-- detail=none (row ids only, no positions): the index only narrows, the
-- LIKE of `users::list` decides, so a row whose trigrams are all present
-- but not adjacent costs a check, never a wrong answer.
--
-- `users_search_text` is the one definition of a user's searchable text,
-- read by everything that fills the index.
--
-- The triggers do not write the index themselves: FTS5 writes a segment
-- to disk whenever a savepoint holding changes to it is released, and the
-- writer releases one per request (group commit), so a create would cost
-- a segment and its merging. They note the user in `users_text_pending`
-- instead, and the writer brings the index up to date once per batch,
-- just before the commit (`search::index_pending`): same transaction,
-- nothing acknowledged without it. `fresh` marks users not yet in the
-- index (nothing to delete first). An update counts only when one of the
-- five columns changed (logins and grants do not). Soft-deleted users stay
-- indexed: the query's own conditions leave them out.
CREATE VIRTUAL TABLE users_text USING fts5(
    t, content = '', contentless_delete = 1, tokenize = 'trigram', detail = 'none'
);

CREATE VIEW users_search_text (seq, t) AS
SELECT seq, concat_ws(char(10), username_key, email_key, first_name, last_name, display_name)
FROM users;

INSERT INTO users_text (rowid, t) SELECT seq, t FROM users_search_text;

CREATE TABLE users_text_pending (
    seq INTEGER PRIMARY KEY,
    fresh INTEGER NOT NULL
);

CREATE TRIGGER users_text_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_text_pending (seq, fresh) VALUES (new.seq, 1) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER users_text_update AFTER UPDATE OF username_key, email_key, first_name, last_name, display_name ON users
WHEN old.username_key IS NOT new.username_key OR old.email_key IS NOT new.email_key
    OR old.first_name IS NOT new.first_name OR old.last_name IS NOT new.last_name
    OR old.display_name IS NOT new.display_name
BEGIN
    INSERT INTO users_text_pending (seq, fresh) VALUES (new.seq, 0) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER users_text_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_text_pending (seq, fresh) VALUES (old.seq, 0) ON CONFLICT DO NOTHING;
END;
