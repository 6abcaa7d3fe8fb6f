-- Ids are UUIDs stored as 16-byte blobs; times are microseconds since the
-- Unix epoch (UTC). `seq` columns are the integer ids some dialects show.

CREATE TABLE containers (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    parent_id BLOB REFERENCES containers(id)
);
INSERT INTO containers (id, seq, name, parent_id)
VALUES (X'00000000000070008000000000000001', 1, 'Root', NULL);

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
    locked INTEGER NOT NULL DEFAULT 0,
    mfa_required INTEGER NOT NULL DEFAULT 0,
    mfa_enrolled INTEGER NOT NULL DEFAULT 0,
    saml_sso_only INTEGER NOT NULL DEFAULT 0,
    security_level INTEGER,
    distinguished_name TEXT,
    external_id TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT,
    container_id BLOB NOT NULL REFERENCES containers(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_login_at INTEGER,
    version INTEGER NOT NULL
);
CREATE INDEX users_email_key ON users (email_key) WHERE email_key IS NOT NULL;

CREATE TABLE roles (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    system INTEGER NOT NULL DEFAULT 0
);
INSERT INTO roles (id, seq, name, system)
VALUES (X'00000000000070008000000000000101', 1, 'administrator', 1);

CREATE TABLE user_roles (
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id BLOB NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
) WITHOUT ROWID;

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE idempotency_keys (
    scope BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
