-- Substring search over the names people search users by: a trigram
-- index (case-insensitive) finds the candidate users of a `q` of three or
-- more characters, so a search no longer reads every user. Contentless:
-- the text stays in `users`, which the query still checks exactly (a
-- prefix of one of the five columns, or a substring of one).
CREATE VIRTUAL TABLE users_search USING fts5(
    username, email, first_name, last_name, display_name,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);
INSERT INTO users_search (rowid, username, email, first_name, last_name, display_name)
    SELECT seq, username, email, first_name, last_name, display_name FROM users;
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, username, email, first_name, last_name, display_name)
    VALUES (new.seq, new.username, new.email, new.first_name, new.last_name, new.display_name);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.seq;
END;
CREATE TRIGGER users_search_update
AFTER UPDATE OF username, email, first_name, last_name, display_name ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.seq;
    INSERT INTO users_search (rowid, username, email, first_name, last_name, display_name)
    VALUES (new.seq, new.username, new.email, new.first_name, new.last_name, new.display_name);
END;
