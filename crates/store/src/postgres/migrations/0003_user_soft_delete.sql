-- Soft delete: a deleted user keeps its row (and its username) until it is
-- purged; lists and lookups leave it out.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
CREATE INDEX users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
