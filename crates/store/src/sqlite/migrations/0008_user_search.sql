-- Prefix search (`q`) reads ranges of these ordered indexes (with
-- username_key's and email_key's) instead of every user. lower() folds
-- ASCII, as the LIKE that decides the match does.
CREATE INDEX users_first_name_search ON users (lower(first_name));
CREATE INDEX users_last_name_search ON users (lower(last_name));
CREATE INDEX users_display_name_search ON users (lower(display_name));
