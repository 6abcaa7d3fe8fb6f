-- Prefix search (`q`): ILIKE decides the match, and a LIKE on lower-cased
-- text narrows it through these indexes. text_pattern_ops orders by bytes,
-- so a prefix LIKE is a range scan whatever the database's collation.
CREATE INDEX users_username_search ON users (username_key text_pattern_ops);
CREATE INDEX users_email_search ON users (email_key text_pattern_ops);
CREATE INDEX users_first_name_search ON users (lower(first_name) text_pattern_ops);
CREATE INDEX users_last_name_search ON users (lower(last_name) text_pattern_ops);
CREATE INDEX users_display_name_search ON users (lower(display_name) text_pattern_ops);
