-- Whether the user proved it receives mail at its address; an address
-- change sets it back to false.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- The single-use links roster emails (invitation, password reset, email
-- verification). Only the SHA-256 of the token is kept; a link is dead
-- once used (deleted), expired, or its user's credential epoch has moved
-- on. Transient: not exported.
CREATE TABLE link_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    credential_epoch INTEGER NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX link_tokens_user ON link_tokens (user_id, purpose);
