-- Whether the user proved it receives mail at its address; an address
-- change sets it back to false.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- The single-use links roster emails (invitation, password reset, email
-- verification). Only the SHA-256 of the token is kept; a link is dead
-- once used (deleted), expired, or its user's credential epoch has moved
-- on. Transient: not exported.
CREATE TABLE link_tokens (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose text NOT NULL,
    credential_epoch bigint NOT NULL,
    email text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX link_tokens_user ON link_tokens (user_id, purpose);
