-- Ids are UUIDs stored as 16-byte blobs; times are microseconds since the
-- Unix epoch (UTC). `seq` columns are the integer ids some dialects show.

CREATE TABLE containers (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    parent_id BLOB REFERENCES containers(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
-- Sibling names are unique; the root has no parent.
CREATE UNIQUE INDEX containers_sibling_name ON containers (ifnull(parent_id, X''), name_key);
CREATE INDEX containers_parent ON containers (parent_id);
INSERT INTO containers (id, seq, name, name_key, parent_id, created_at, updated_at)
VALUES (X'00000000000070008000000000000001', 1, 'Root', 'root', NULL, 0, 0);

CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    email TEXT,
    email_key TEXT,
    first_name TEXT,
    last_name TEXT,
    display_name TEXT,
    phone TEXT,
    job_title TEXT,
    timezone TEXT,
    locale TEXT,
    active INTEGER NOT NULL,
    mfa_required INTEGER NOT NULL DEFAULT 0,
    saml_sso_only INTEGER NOT NULL DEFAULT 0,
    security_level INTEGER,
    distinguished_name TEXT,
    external_id TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT,
    totp_secret TEXT,
    totp_pending TEXT,
    totp_last_step INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    container_id BLOB NOT NULL REFERENCES containers(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_login_at INTEGER,
    version INTEGER NOT NULL
);
CREATE INDEX users_email_key ON users (email_key) WHERE email_key IS NOT NULL;
CREATE INDEX users_container ON users (container_id, seq);

CREATE TABLE roles (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of privilege names.
    privileges TEXT NOT NULL DEFAULT '[]',
    system INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE groups (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- Typed custom values (JSON object), e.g. a dialect's group fields.
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE group_members (
    group_id BLOB NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- A face's access level for the membership (e.g. AttackForge View/Upload/Edit).
    access_level TEXT,
    created_at INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE role_assignments (
    id BLOB PRIMARY KEY,
    user_id BLOB REFERENCES users(id) ON DELETE CASCADE,
    group_id BLOB REFERENCES groups(id) ON DELETE CASCADE,
    role_id BLOB NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    all_objects INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX role_assignments_holder ON role_assignments (ifnull(user_id, group_id), role_id);
CREATE INDEX role_assignments_role ON role_assignments (role_id);

CREATE TABLE role_assignment_scopes (
    assignment_id BLOB NOT NULL REFERENCES role_assignments(id) ON DELETE CASCADE,
    container_id BLOB NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    PRIMARY KEY (assignment_id, container_id)
) WITHOUT ROWID;
CREATE INDEX role_assignment_scopes_container ON role_assignment_scopes (container_id);

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    -- A key restricted to a role dies with the role rather than widening.
    role_id BLOB REFERENCES roles(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE revoked_tokens (
    jti BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Tokens whose lifetime slides with use (Aria's six idle hours).
CREATE TABLE token_sessions (
    jti BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    idle_secs INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX token_sessions_expiry ON token_sessions (expires_at);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    scope BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Append-only, hash-chained: see roster_core::audit.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    actor_id BLOB,
    actor TEXT,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id TEXT,
    container_id BLOB,
    outcome TEXT NOT NULL,
    request_id TEXT,
    source TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
