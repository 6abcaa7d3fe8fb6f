-- Substring search over the names people search users by: a trigram index
-- (pg_trgm) over the five searched columns, lower-cased, finds the
-- candidates of a `q` of three or more characters; the query still checks
-- each column exactly. pg_trgm ships with PostgreSQL's contrib and is a
-- trusted extension (a database owner may create it); where it is not
-- installed, search works as before, without the index.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm is not available (%): user search runs without its index', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE $i$CREATE INDEX users_search ON users USING gin ((lower(
            coalesce(username_key, '') || ' ' || coalesce(email_key, '') || ' ' ||
            coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
            coalesce(display_name, ''))) gin_trgm_ops)$i$;
    END IF;
END
$$;
