//! SQL for whole-database export and import (see `roster_core::transfer`):
//! one keyset-paged SELECT per kind, one plain INSERT per record.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use roster_core::access::{ROOT_CONTAINER_ID, name_key};
use roster_core::store::{ImportFailure, StoreError, StoreResult};
use roster_core::transfer::{
    ApiKeyRecord, AssignmentRecord, AuditEventRecord, ContainerRecord, Cursor, ExportPage,
    GroupRecord, MembershipRecord, Record, RecordKind, RevokedTokenRecord, RoleRecord,
    SigningKeyRecord, SiteRecord, UserRecord,
};
use roster_core::user::username_key;
use rusqlite::types::{Type, Value as SqlValue};
use rusqlite::{Connection, Row, params, params_from_iter};
use uuid::Uuid;

use super::SqliteStore;
use super::users::{from_micros, map_write_error, micros};

fn bad_json(column: usize, e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e))
}

fn json_column<T: serde::de::DeserializeOwned>(r: &Row<'_>, column: usize) -> rusqlite::Result<T> {
    let text: String = r.get(column)?;
    serde_json::from_str(&text).map_err(|e| bad_json(column, e))
}

fn opt_time(r: &Row<'_>, column: usize) -> rusqlite::Result<Option<time::OffsetDateTime>> {
    Ok(r.get::<_, Option<i64>>(column)?.map(from_micros))
}

fn blob(id: Uuid) -> SqlValue {
    SqlValue::Blob(id.as_bytes().to_vec())
}

/// One page of `kind` after `after`; see `TransferStore::export_chunk`.
pub fn export(
    conn: &Connection,
    kind: RecordKind,
    after: &Cursor,
    limit: u32,
) -> rusqlite::Result<ExportPage> {
    let (sql, args): (&str, Vec<SqlValue>) = match (kind, after) {
        (RecordKind::Container, Cursor::Ints(depth, seq)) => (
            CONTAINERS,
            vec![SqlValue::Integer(*depth), SqlValue::Integer(*seq)],
        ),
        (RecordKind::Container, _) => (
            CONTAINERS,
            vec![SqlValue::Integer(-1), SqlValue::Integer(i64::MIN)],
        ),
        (RecordKind::Role, c) => (ROLES, vec![int_after(c)]),
        (RecordKind::User, c) => (USERS, vec![int_after(c)]),
        (RecordKind::Group, c) => (GROUPS, vec![int_after(c)]),
        (RecordKind::AuditEvent, c) => (AUDIT, vec![int_after(c)]),
        (RecordKind::Membership, Cursor::Ids(g, u)) => (MEMBERSHIPS, vec![blob(*g), blob(*u)]),
        (RecordKind::Membership, _) => (
            MEMBERSHIPS,
            vec![SqlValue::Blob(Vec::new()), SqlValue::Blob(Vec::new())],
        ),
        (RecordKind::Site, Cursor::Ids(u, c)) => (SITES, vec![blob(*u), blob(*c)]),
        (RecordKind::Site, _) => (
            SITES,
            vec![SqlValue::Blob(Vec::new()), SqlValue::Blob(Vec::new())],
        ),
        (RecordKind::Assignment, c) => (ASSIGNMENTS, vec![id_after(c)]),
        (RecordKind::ApiKey, c) => (API_KEYS, vec![id_after(c)]),
        (RecordKind::RevokedToken, c) => (REVOKED_TOKENS, vec![id_after(c)]),
        (RecordKind::SigningKey, Cursor::Text(kid)) => {
            (SIGNING_KEYS, vec![SqlValue::Text(kid.clone())])
        }
        (RecordKind::SigningKey, _) => (SIGNING_KEYS, vec![SqlValue::Text(String::new())]),
    };
    let mut args = args;
    args.push(SqlValue::Integer(limit.into()));
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut records = Vec::with_capacity(limit.min(10_000) as usize);
    let mut last = Cursor::Start;
    while let Some(r) = rows.next()? {
        let (record, cursor) = match kind {
            RecordKind::Container => {
                let c = ContainerRecord {
                    id: r.get(1)?,
                    seq: r.get(2)?,
                    name: r.get(3)?,
                    parent_id: r.get(4)?,
                    created_at: from_micros(r.get(5)?),
                    updated_at: from_micros(r.get(6)?),
                    version: r.get(7)?,
                    description: r.get(8)?,
                };
                let cursor = Cursor::Ints(r.get(0)?, c.seq);
                (Record::Container(c), cursor)
            }
            RecordKind::Role => {
                let role = RoleRecord {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    name: r.get(2)?,
                    description: r.get(3)?,
                    privileges: json_column(r, 4)?,
                    system: r.get(5)?,
                    created_at: from_micros(r.get(6)?),
                    updated_at: from_micros(r.get(7)?),
                    version: r.get(8)?,
                };
                let cursor = Cursor::Int(role.seq);
                (Record::Role(role), cursor)
            }
            RecordKind::User => {
                let u = user(r)?;
                let cursor = Cursor::Int(u.seq);
                (Record::User(Box::new(u)), cursor)
            }
            RecordKind::Group => {
                let g = GroupRecord {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    name: r.get(2)?,
                    description: r.get(3)?,
                    attributes: json_column(r, 4)?,
                    created_at: from_micros(r.get(5)?),
                    updated_at: from_micros(r.get(6)?),
                    version: r.get(7)?,
                };
                let cursor = Cursor::Int(g.seq);
                (Record::Group(g), cursor)
            }
            RecordKind::Membership => {
                let m = MembershipRecord {
                    group_id: r.get(0)?,
                    user_id: r.get(1)?,
                    access_level: r.get(2)?,
                    created_at: from_micros(r.get(3)?),
                    updated_at: from_micros(r.get(4)?),
                };
                let cursor = Cursor::Ids(m.group_id, m.user_id);
                (Record::Membership(m), cursor)
            }
            RecordKind::Site => {
                let s = SiteRecord {
                    user_id: r.get(0)?,
                    container_id: r.get(1)?,
                };
                (
                    Record::Site(s.clone()),
                    Cursor::Ids(s.user_id, s.container_id),
                )
            }
            RecordKind::Assignment => {
                let hex: Vec<String> = json_column(r, 6)?;
                let mut container_ids = hex
                    .iter()
                    .map(|h| Uuid::try_parse(h))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(6, Type::Text, Box::new(e))
                    })?;
                container_ids.sort();
                let a = AssignmentRecord {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    group_id: r.get(2)?,
                    role_id: r.get(3)?,
                    all_objects: r.get(4)?,
                    created_at: from_micros(r.get(5)?),
                    container_ids,
                };
                let cursor = Cursor::Id(a.id);
                (Record::Assignment(a), cursor)
            }
            RecordKind::ApiKey => {
                let privileges: Option<String> = r.get(6)?;
                let k = ApiKeyRecord {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    name: r.get(2)?,
                    prefix: r.get(3)?,
                    hash: r.get(4)?,
                    role_id: r.get(5)?,
                    privileges: privileges
                        .map(|t| serde_json::from_str(&t))
                        .transpose()
                        .map_err(|e| bad_json(6, e))?,
                    created_at: from_micros(r.get(7)?),
                    expires_at: opt_time(r, 8)?,
                    revoked_at: opt_time(r, 9)?,
                    last_used_at: opt_time(r, 10)?,
                };
                let cursor = Cursor::Id(k.id);
                (Record::ApiKey(k), cursor)
            }
            RecordKind::SigningKey => {
                let k = SigningKeyRecord {
                    kid: r.get(0)?,
                    secret: r.get(1)?,
                    created_at: from_micros(r.get(2)?),
                };
                let cursor = Cursor::Text(k.kid.clone());
                (Record::SigningKey(k), cursor)
            }
            RecordKind::RevokedToken => {
                let t = RevokedTokenRecord {
                    jti: r.get(0)?,
                    expires_at: from_micros(r.get(1)?),
                };
                let cursor = Cursor::Id(t.jti);
                (Record::RevokedToken(t), cursor)
            }
            RecordKind::AuditEvent => {
                let e = AuditEventRecord {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    at: from_micros(r.get(2)?),
                    actor_id: r.get(3)?,
                    actor: r.get(4)?,
                    action: r.get(5)?,
                    target_kind: r.get(6)?,
                    target_id: r.get(7)?,
                    container_id: r.get(8)?,
                    outcome: r.get(9)?,
                    request_id: r.get(10)?,
                    source: r.get(11)?,
                    details: r.get(12)?,
                    prev_hash: r.get(13)?,
                    hash: r.get(14)?,
                };
                let cursor = Cursor::Int(e.seq);
                (Record::AuditEvent(Box::new(e)), cursor)
            }
        };
        records.push(record);
        last = cursor;
    }
    let next = (records.len() == limit as usize && limit > 0).then_some(last);
    Ok(ExportPage { records, next })
}

fn int_after(c: &Cursor) -> SqlValue {
    SqlValue::Integer(match c {
        Cursor::Int(seq) => *seq,
        _ => i64::MIN,
    })
}

fn id_after(c: &Cursor) -> SqlValue {
    match c {
        Cursor::Id(id) => blob(*id),
        // An empty blob sorts before every id.
        _ => SqlValue::Blob(Vec::new()),
    }
}

/// Parents before children: by depth in the tree, then `seq`.
const CONTAINERS: &str = "WITH RECURSIVE t(id, depth) AS (
        SELECT id, 0 FROM containers WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, t.depth + 1 FROM containers c JOIN t ON c.parent_id = t.id
        WHERE t.depth < 100000)
    SELECT t.depth, c.id, c.seq, c.name, c.parent_id, c.created_at, c.updated_at, c.version,
        c.description
    FROM t JOIN containers c ON c.id = t.id
    WHERE (t.depth, c.seq) > (?1, ?2) ORDER BY t.depth, c.seq LIMIT ?3";

const ROLES: &str = "SELECT id, seq, name, description, privileges, system, created_at, updated_at,
        version
    FROM roles WHERE seq > ?1 ORDER BY seq LIMIT ?2";

const USERS: &str = "SELECT seq, id, username, email, first_name, last_name, display_name, phone,
        job_title, timezone, locale, active, mfa_required, saml_sso_only, security_level,
        distinguished_name, external_id, attributes, password_hash, totp_secret, totp_pending,
        totp_last_step, failed_logins, locked_until, credential_epoch, container_id, created_at,
        updated_at, last_login_at, version, deleted_at, email_verified
    FROM users WHERE seq > ?1 ORDER BY seq LIMIT ?2";

fn user(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        seq: r.get(0)?,
        id: r.get(1)?,
        username: r.get(2)?,
        email: r.get(3)?,
        first_name: r.get(4)?,
        last_name: r.get(5)?,
        display_name: r.get(6)?,
        phone: r.get(7)?,
        job_title: r.get(8)?,
        timezone: r.get(9)?,
        locale: r.get(10)?,
        active: r.get(11)?,
        mfa_required: r.get(12)?,
        saml_sso_only: r.get(13)?,
        security_level: r.get(14)?,
        distinguished_name: r.get(15)?,
        external_id: r.get(16)?,
        attributes: json_column(r, 17)?,
        password_hash: r.get(18)?,
        totp_secret: r.get(19)?,
        totp_pending: r.get(20)?,
        totp_last_step: r.get(21)?,
        failed_logins: r.get(22)?,
        locked_until: opt_time(r, 23)?,
        credential_epoch: r.get(24)?,
        container_id: r.get(25)?,
        created_at: from_micros(r.get(26)?),
        updated_at: from_micros(r.get(27)?),
        last_login_at: opt_time(r, 28)?,
        version: r.get(29)?,
        deleted_at: r.get::<_, Option<i64>>(30)?.map(from_micros),
        email_verified: r.get(31)?,
    })
}

const GROUPS: &str =
    "SELECT id, seq, name, description, attributes, created_at, updated_at, version
    FROM groups WHERE seq > ?1 ORDER BY seq LIMIT ?2";

const MEMBERSHIPS: &str = "SELECT group_id, user_id, access_level, created_at, updated_at
    FROM group_members WHERE (group_id, user_id) > (?1, ?2) ORDER BY group_id, user_id LIMIT ?3";

const SITES: &str = "SELECT user_id, container_id FROM user_sites
    WHERE (user_id, container_id) > (?1, ?2) ORDER BY user_id, container_id LIMIT ?3";

const ASSIGNMENTS: &str =
    "SELECT a.id, a.user_id, a.group_id, a.role_id, a.all_objects, a.created_at,
        (SELECT json_group_array(hex(s.container_id)) FROM role_assignment_scopes s
         WHERE s.assignment_id = a.id)
    FROM role_assignments a WHERE a.id > ?1 ORDER BY a.id LIMIT ?2";

const API_KEYS: &str = "SELECT id, user_id, name, prefix, hash, role_id, privileges, created_at,
        expires_at, revoked_at, last_used_at
    FROM api_keys WHERE id > ?1 ORDER BY id LIMIT ?2";

const SIGNING_KEYS: &str =
    "SELECT kid, secret, created_at FROM signing_keys WHERE kid > ?1 ORDER BY kid LIMIT ?2";

const REVOKED_TOKENS: &str =
    "SELECT jti, expires_at FROM revoked_tokens WHERE jti > ?1 ORDER BY jti LIMIT ?2";

const AUDIT: &str = "SELECT seq, id, at, actor_id, actor, action, target_kind, target_id,
        container_id, outcome, request_id, source, details, prev_hash, hash
    FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2";

fn json_text<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A failed foreign key, named after the record's references.
fn write_error(field: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match map_write_error(e) {
        StoreError::MissingReference { .. } => StoreError::MissingReference { field },
        other => other,
    }
}

/// Inserts one record as it is.
fn insert(c: &Connection, record: &Record) -> StoreResult<()> {
    match record {
        Record::Container(r) => {
            let sql = if r.id == ROOT_CONTAINER_ID {
                // Every database has the root: it takes the exported values.
                "UPDATE containers SET seq = ?2, name = ?3, name_key = ?4, parent_id = ?5,
                    created_at = ?6, updated_at = ?7, version = ?8, description = ?9 WHERE id = ?1"
            } else {
                "INSERT INTO containers (id, seq, name, name_key, parent_id, created_at,
                    updated_at, version, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            };
            c.prepare_cached(sql)
                .map_err(map_write_error)?
                .execute(params![
                    r.id,
                    r.seq,
                    r.name,
                    name_key(&r.name),
                    r.parent_id,
                    micros(r.created_at),
                    micros(r.updated_at),
                    r.version,
                    r.description
                ])
                .map_err(write_error("parent_id"))?;
        }
        Record::Role(r) => {
            // A built-in role may be there already (any server start
            // writes them): the exported row replaces it.
            let sql = if r.system {
                "INSERT INTO roles (id, seq, name, name_key, description, privileges, system,
                    created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, name = excluded.name,
                    name_key = excluded.name_key, description = excluded.description,
                    privileges = excluded.privileges, system = excluded.system,
                    created_at = excluded.created_at, updated_at = excluded.updated_at,
                    version = excluded.version"
            } else {
                "INSERT INTO roles (id, seq, name, name_key, description, privileges, system,
                    created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            };
            c.prepare_cached(sql)
                .map_err(map_write_error)?
                .execute(params![
                    r.id,
                    r.seq,
                    r.name,
                    name_key(&r.name),
                    r.description,
                    json_text(&r.privileges)?,
                    r.system,
                    micros(r.created_at),
                    micros(r.updated_at),
                    r.version
                ])
                .map_err(map_write_error)?;
        }
        Record::User(u) => {
            c.prepare_cached(
                "INSERT INTO users (seq, id, username, username_key, email, email_key, first_name,
                    last_name, display_name, phone, job_title, timezone, locale, active,
                    mfa_required, saml_sso_only, security_level, distinguished_name, external_id,
                    attributes, password_hash, totp_secret, totp_pending, totp_last_step,
                    failed_logins, locked_until, credential_epoch, container_id, created_at,
                    updated_at, last_login_at, version, deleted_at, email_verified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32,
                    ?33, ?34)",
            )
            .map_err(map_write_error)?
            .execute(params![
                u.seq,
                u.id,
                u.username,
                username_key(&u.username),
                u.email,
                u.email.as_deref().map(str::to_lowercase),
                u.first_name,
                u.last_name,
                u.display_name,
                u.phone,
                u.job_title,
                u.timezone,
                u.locale,
                u.active,
                u.mfa_required,
                u.saml_sso_only,
                u.security_level,
                u.distinguished_name,
                u.external_id,
                json_text(&u.attributes)?,
                u.password_hash,
                u.totp_secret,
                u.totp_pending,
                u.totp_last_step,
                u.failed_logins,
                u.locked_until.map(micros),
                u.credential_epoch,
                u.container_id,
                micros(u.created_at),
                micros(u.updated_at),
                u.last_login_at.map(micros),
                u.version,
                u.deleted_at.map(micros),
                u.email_verified
            ])
            .map_err(write_error("container_id"))?;
        }
        Record::Group(g) => {
            c.prepare_cached(
                "INSERT INTO groups (id, seq, name, name_key, description, attributes, created_at,
                    updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(map_write_error)?
            .execute(params![
                g.id,
                g.seq,
                g.name,
                name_key(&g.name),
                g.description,
                json_text(&g.attributes)?,
                micros(g.created_at),
                micros(g.updated_at),
                g.version
            ])
            .map_err(map_write_error)?;
        }
        Record::Membership(m) => {
            c.prepare_cached(
                "INSERT INTO group_members (group_id, user_id, access_level, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_write_error)?
            .execute(params![
                m.group_id,
                m.user_id,
                m.access_level,
                micros(m.created_at),
                micros(m.updated_at)
            ])
            .map_err(write_error("group_id or user_id"))?;
        }
        Record::Site(s) => {
            c.prepare_cached("INSERT INTO user_sites (user_id, container_id) VALUES (?1, ?2)")
                .map_err(map_write_error)?
                .execute(params![s.user_id, s.container_id])
                .map_err(write_error("user_id or container_id"))?;
        }
        Record::Assignment(a) => {
            c.prepare_cached(
                "INSERT INTO role_assignments (id, user_id, group_id, role_id, all_objects, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(map_write_error)?
            .execute(params![
                a.id,
                a.user_id,
                a.group_id,
                a.role_id,
                a.all_objects,
                micros(a.created_at)
            ])
            .map_err(write_error("user_id, group_id or role_id"))?;
            let mut scope = c
                .prepare_cached(
                    "INSERT INTO role_assignment_scopes (assignment_id, container_id) VALUES (?1, ?2)",
                )
                .map_err(map_write_error)?;
            for container in &a.container_ids {
                scope
                    .execute(params![a.id, container])
                    .map_err(write_error("container_ids"))?;
            }
        }
        Record::ApiKey(k) => {
            let cap = k.privileges.as_ref().map(json_text).transpose()?;
            c.prepare_cached(
                "INSERT INTO api_keys (id, user_id, name, prefix, hash, role_id, privileges,
                    created_at, expires_at, revoked_at, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(map_write_error)?
            .execute(params![
                k.id,
                k.user_id,
                k.name,
                k.prefix,
                k.hash,
                k.role_id,
                cap,
                micros(k.created_at),
                k.expires_at.map(micros),
                k.revoked_at.map(micros),
                k.last_used_at.map(micros)
            ])
            .map_err(write_error("user_id or role_id"))?;
        }
        Record::SigningKey(k) => {
            c.prepare_cached(
                "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)",
            )
            .map_err(map_write_error)?
            .execute(params![k.kid, k.secret, micros(k.created_at)])
            .map_err(map_write_error)?;
        }
        Record::RevokedToken(t) => {
            c.prepare_cached("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)")
                .map_err(map_write_error)?
                .execute(params![t.jti, micros(t.expires_at)])
                .map_err(map_write_error)?;
        }
        Record::AuditEvent(e) => {
            c.prepare_cached(
                "INSERT INTO audit_events (seq, id, at, actor_id, actor, action, target_kind,
                    target_id, container_id, outcome, request_id, source, details, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .map_err(map_write_error)?
            .execute(params![
                e.seq,
                e.id,
                micros(e.at),
                e.actor_id,
                e.actor,
                e.action,
                e.target_kind,
                e.target_id,
                e.container_id,
                e.outcome,
                e.request_id,
                e.source,
                e.details,
                e.prev_hash,
                e.hash
            ])
            .map_err(map_write_error)?;
        }
    }
    Ok(())
}

/// Drops the users table's secondary indexes (not the unique ones, which
/// the import's own checks rely on) and returns the statements that create
/// them again: over millions of rows, one sorted build each is several
/// times faster than keeping them up to date row by row.
pub(crate) fn drop_secondary_indexes(c: &Connection) -> StoreResult<Vec<String>> {
    secondary_indexes(c).map_err(map_write_error)
}

fn secondary_indexes(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let indexes: Vec<(String, String)> = c
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'
             AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &indexes {
        c.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
    }
    Ok(indexes.into_iter().map(|(_, sql)| sql).collect())
}

/// Creates the indexes [`drop_secondary_indexes`] set aside. Their sorts
/// spill to temporary files rather than memory (with the writer's
/// in-memory setting, importing 1M users peaked at 102 MiB instead of 58).
pub(crate) fn create_indexes(c: &Connection, statements: &[String]) -> StoreResult<()> {
    // SQLite refuses the switch inside a transaction once the connection's
    // temporary database is open (roster creates no temporary tables, so
    // it is not): the sorts would then stay in memory, which costs memory,
    // not correctness.
    let to_files = c.execute_batch("PRAGMA temp_store = FILE");
    if let Err(e) = &to_files {
        tracing::warn!(error = %e, "index builds sort in memory");
    }
    let built = statements
        .iter()
        .try_for_each(|sql| c.execute_batch(sql).map_err(map_write_error));
    if to_files.is_ok()
        && let Err(e) = c.execute_batch(super::TEMP_IN_MEMORY)
    {
        tracing::warn!(error = %e, "the writer's savepoint journals stay in files");
    }
    built
}

const IS_EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM users)
    AND NOT EXISTS (SELECT 1 FROM groups)
    AND NOT EXISTS (SELECT 1 FROM audit_events)
    AND NOT EXISTS (SELECT 1 FROM signing_keys)
    AND NOT EXISTS (SELECT 1 FROM revoked_tokens)
    AND NOT EXISTS (SELECT 1 FROM containers WHERE id <> ?1)
    AND NOT EXISTS (SELECT 1 FROM roles WHERE system = 0)";

impl SqliteStore {
    pub(crate) async fn export_page(
        &self,
        kind: RecordKind,
        after: Cursor,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        self.read_blocking(move |c| export(c, kind, &after, limit))
            .await
    }

    pub(crate) async fn import_records(&self, records: Vec<Record>) -> Result<u64, ImportFailure> {
        // The writer's job must fail as a whole for its savepoint to roll
        // back, so the failing record's place travels beside the error.
        let failed_at = Arc::new(AtomicUsize::new(usize::MAX));
        let at = failed_at.clone();
        self.inner
            .writer
            .write(move |c| {
                for (i, record) in records.iter().enumerate() {
                    if let Err(e) = insert(c, record) {
                        at.store(i, Ordering::Relaxed);
                        return Err(e);
                    }
                }
                Ok(records.len() as u64)
            })
            .await
            .map_err(|error| {
                let i = failed_at.load(Ordering::Relaxed);
                ImportFailure {
                    index: (i != usize::MAX).then_some(i),
                    error,
                }
            })
    }

    pub(crate) async fn empty_for_import(&self) -> StoreResult<bool> {
        self.read(|c| c.query_row(IS_EMPTY, [ROOT_CONTAINER_ID], |r| r.get(0)))
            .await
    }
}
