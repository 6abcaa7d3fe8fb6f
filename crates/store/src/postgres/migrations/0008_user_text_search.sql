-- Substring search (`q` matching anywhere, `UserQuery::q_contains`): a
-- pg_trgm index over the lower-cased searchable text of every user. It only
-- narrows: ILIKE on the columns decides, so a trigram match across two
-- fields costs a check, never a wrong answer. The expression is spelled
-- out in `postgres/users.rs` (TEXT_EXPRESSION) and must stay the same for
-- the planner to use the index.
--
-- pg_trgm ships with PostgreSQL's contrib and is a trusted extension (any
-- role that may create in the database may install it). Where it is not
-- available, or the role may not install it, roster works without the
-- index: substring search then reads users in order, as before.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not installed (%): substring search runs without its index', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX users_text_trigrams ON users USING gin ((lower(
            username_key || E'\n' || coalesce(email_key, '') || E'\n' || coalesce(first_name, '')
            || E'\n' || coalesce(last_name, '') || E'\n' || coalesce(display_name, '')
        )) gin_trgm_ops);
    END IF;
END
$$;
