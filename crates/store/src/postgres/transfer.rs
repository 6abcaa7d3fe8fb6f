//! SQL for whole-database export and import on PostgreSQL (see
//! `roster_core::transfer`), in the same orders as the SQLite backend so
//! an export reads the same from either: keyset-paged SELECTs per kind
//! (uuid and `"C"`-collated text compare bytewise, as SQLite's blobs and
//! text do), one INSERT per record.

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
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::users::object;
use super::{Conn, PgResult, PgStore, err, renamed};

fn strings(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn string_array(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// Parents before children: by depth in the tree, then `seq`.
const CONTAINERS: &str = "WITH RECURSIVE t(id, depth) AS (
        SELECT id, 0 FROM containers WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, t.depth + 1 FROM containers c JOIN t ON c.parent_id = t.id
        WHERE t.depth < 100000)
    SELECT t.depth::bigint, c.id, c.seq, c.name, c.parent_id, c.created_at, c.updated_at, c.version,
        c.description
    FROM t JOIN containers c ON c.id = t.id
    WHERE (t.depth::bigint, c.seq) > ($1, $2) ORDER BY t.depth, c.seq LIMIT $3";

const ROLES: &str = "SELECT id, seq, name, description, privileges, system, created_at, updated_at,
        version
    FROM roles WHERE seq > $1 ORDER BY seq LIMIT $2";

const USERS: &str = "SELECT seq, id, username, email, first_name, last_name, display_name, phone,
        job_title, timezone, locale, active, mfa_required, saml_sso_only, security_level,
        distinguished_name, external_id, attributes, password_hash, totp_secret, totp_pending,
        totp_last_step, failed_logins, locked_until, credential_epoch, container_id, created_at,
        updated_at, last_login_at, version, deleted_at, email_verified
    FROM users WHERE seq > $1 ORDER BY seq LIMIT $2";

const GROUPS: &str =
    "SELECT id, seq, name, description, attributes, created_at, updated_at, version
    FROM groups WHERE seq > $1 ORDER BY seq LIMIT $2";

const MEMBERSHIPS: &str = "SELECT group_id, user_id, access_level, created_at, updated_at
    FROM group_members WHERE (group_id, user_id) > ($1, $2) ORDER BY group_id, user_id LIMIT $3";

const SITES: &str = "SELECT user_id, container_id FROM user_sites
    WHERE (user_id, container_id) > ($1, $2) ORDER BY user_id, container_id LIMIT $3";

const ASSIGNMENTS: &str =
    "SELECT a.id, a.user_id, a.group_id, a.role_id, a.all_objects, a.created_at,
        ARRAY(SELECT s.container_id FROM role_assignment_scopes s WHERE s.assignment_id = a.id)
    FROM role_assignments a WHERE a.id > $1 ORDER BY a.id LIMIT $2";

const API_KEYS: &str = "SELECT id, user_id, name, prefix, hash, role_id, privileges, created_at,
        expires_at, revoked_at, last_used_at
    FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2";

const SIGNING_KEYS: &str = "SELECT kid, secret, created_at FROM signing_keys
    WHERE kid COLLATE \"C\" > $1 ORDER BY kid COLLATE \"C\" LIMIT $2";

const REVOKED_TOKENS: &str =
    "SELECT jti, expires_at FROM revoked_tokens WHERE jti > $1 ORDER BY jti LIMIT $2";

const AUDIT: &str = "SELECT seq, id, at, actor_id, actor, action, target_kind, target_id,
        container_id, outcome, request_id, source, details, prev_hash, hash
    FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2";

fn int_after(c: &Cursor) -> i64 {
    match c {
        Cursor::Int(seq) => *seq,
        _ => i64::MIN,
    }
}

fn id_after(c: &Cursor) -> Uuid {
    match c {
        Cursor::Id(id) => *id,
        // No stored id is nil.
        _ => Uuid::nil(),
    }
}

fn user(r: &Row) -> PgResult<UserRecord> {
    Ok(UserRecord {
        seq: r.try_get(0)?,
        id: r.try_get(1)?,
        username: r.try_get(2)?,
        email: r.try_get(3)?,
        first_name: r.try_get(4)?,
        last_name: r.try_get(5)?,
        display_name: r.try_get(6)?,
        phone: r.try_get(7)?,
        job_title: r.try_get(8)?,
        timezone: r.try_get(9)?,
        locale: r.try_get(10)?,
        active: r.try_get(11)?,
        mfa_required: r.try_get(12)?,
        saml_sso_only: r.try_get(13)?,
        security_level: r.try_get(14)?,
        distinguished_name: r.try_get(15)?,
        external_id: r.try_get(16)?,
        attributes: object(r.try_get(17)?),
        password_hash: r.try_get(18)?,
        totp_secret: r.try_get(19)?,
        totp_pending: r.try_get(20)?,
        totp_last_step: r.try_get(21)?,
        failed_logins: r.try_get(22)?,
        locked_until: r.try_get(23)?,
        credential_epoch: r.try_get(24)?,
        container_id: r.try_get(25)?,
        created_at: r.try_get(26)?,
        updated_at: r.try_get(27)?,
        last_login_at: r.try_get(28)?,
        version: r.try_get(29)?,
        deleted_at: r.try_get(30)?,
        email_verified: r.try_get(31)?,
    })
}

/// One record of `kind` from its row, with the cursor that follows it.
fn record(kind: RecordKind, r: &Row) -> PgResult<(Record, Cursor)> {
    Ok(match kind {
        RecordKind::Container => {
            let c = ContainerRecord {
                id: r.try_get(1)?,
                seq: r.try_get(2)?,
                name: r.try_get(3)?,
                parent_id: r.try_get(4)?,
                created_at: r.try_get(5)?,
                updated_at: r.try_get(6)?,
                version: r.try_get(7)?,
                description: r.try_get(8)?,
            };
            let cursor = Cursor::Ints(r.try_get(0)?, c.seq);
            (Record::Container(c), cursor)
        }
        RecordKind::Role => {
            let role = RoleRecord {
                id: r.try_get(0)?,
                seq: r.try_get(1)?,
                name: r.try_get(2)?,
                description: r.try_get(3)?,
                privileges: strings(r.try_get(4)?),
                system: r.try_get(5)?,
                created_at: r.try_get(6)?,
                updated_at: r.try_get(7)?,
                version: r.try_get(8)?,
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
                id: r.try_get(0)?,
                seq: r.try_get(1)?,
                name: r.try_get(2)?,
                description: r.try_get(3)?,
                attributes: object(r.try_get(4)?),
                created_at: r.try_get(5)?,
                updated_at: r.try_get(6)?,
                version: r.try_get(7)?,
            };
            let cursor = Cursor::Int(g.seq);
            (Record::Group(g), cursor)
        }
        RecordKind::Membership => {
            let m = MembershipRecord {
                group_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                access_level: r.try_get(2)?,
                created_at: r.try_get(3)?,
                updated_at: r.try_get(4)?,
            };
            let cursor = Cursor::Ids(m.group_id, m.user_id);
            (Record::Membership(m), cursor)
        }
        RecordKind::Site => {
            let s = SiteRecord {
                user_id: r.try_get(0)?,
                container_id: r.try_get(1)?,
            };
            let cursor = Cursor::Ids(s.user_id, s.container_id);
            (Record::Site(s), cursor)
        }
        RecordKind::Assignment => {
            let mut container_ids: Vec<Uuid> = r.try_get(6)?;
            container_ids.sort();
            let a = AssignmentRecord {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                group_id: r.try_get(2)?,
                role_id: r.try_get(3)?,
                all_objects: r.try_get(4)?,
                created_at: r.try_get(5)?,
                container_ids,
            };
            let cursor = Cursor::Id(a.id);
            (Record::Assignment(a), cursor)
        }
        RecordKind::ApiKey => {
            let k = ApiKeyRecord {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                name: r.try_get(2)?,
                prefix: r.try_get(3)?,
                hash: r.try_get(4)?,
                role_id: r.try_get(5)?,
                privileges: r.try_get::<_, Option<Value>>(6)?.map(strings),
                created_at: r.try_get(7)?,
                expires_at: r.try_get(8)?,
                revoked_at: r.try_get(9)?,
                last_used_at: r.try_get(10)?,
            };
            let cursor = Cursor::Id(k.id);
            (Record::ApiKey(k), cursor)
        }
        RecordKind::SigningKey => {
            let k = SigningKeyRecord {
                kid: r.try_get(0)?,
                secret: r.try_get(1)?,
                created_at: r.try_get(2)?,
            };
            let cursor = Cursor::Text(k.kid.clone());
            (Record::SigningKey(k), cursor)
        }
        RecordKind::RevokedToken => {
            let t = RevokedTokenRecord {
                jti: r.try_get(0)?,
                expires_at: r.try_get(1)?,
            };
            let cursor = Cursor::Id(t.jti);
            (Record::RevokedToken(t), cursor)
        }
        RecordKind::AuditEvent => {
            let e = AuditEventRecord {
                seq: r.try_get(0)?,
                id: r.try_get(1)?,
                at: r.try_get(2)?,
                actor_id: r.try_get(3)?,
                actor: r.try_get(4)?,
                action: r.try_get(5)?,
                target_kind: r.try_get(6)?,
                target_id: r.try_get(7)?,
                container_id: r.try_get(8)?,
                outcome: r.try_get(9)?,
                request_id: r.try_get(10)?,
                source: r.try_get(11)?,
                details: r.try_get(12)?,
                prev_hash: r.try_get(13)?,
                hash: r.try_get(14)?,
            };
            let cursor = Cursor::Int(e.seq);
            (Record::AuditEvent(Box::new(e)), cursor)
        }
    })
}

/// One page of `kind` after `after`; see `TransferStore::export_chunk`.
pub async fn export(
    c: &Conn,
    kind: RecordKind,
    after: &Cursor,
    limit: u32,
) -> StoreResult<ExportPage> {
    let limit_arg = i64::from(limit);
    let int_arg = int_after(after);
    let id_arg = id_after(after);
    let (depth, seq) = match after {
        Cursor::Ints(d, s) => (*d, *s),
        _ => (-1, i64::MIN),
    };
    // The pair cursor: (group, user) for memberships, (user, container) for sites.
    let (group, user) = match after {
        Cursor::Ids(g, u) => (*g, *u),
        _ => (Uuid::nil(), Uuid::nil()),
    };
    let kid = match after {
        Cursor::Text(k) => k.clone(),
        _ => String::new(),
    };
    let (sql, args): (&str, Vec<&(dyn ToSql + Sync)>) = match kind {
        RecordKind::Container => (CONTAINERS, vec![&depth, &seq, &limit_arg]),
        RecordKind::Role => (ROLES, vec![&int_arg, &limit_arg]),
        RecordKind::User => (USERS, vec![&int_arg, &limit_arg]),
        RecordKind::Group => (GROUPS, vec![&int_arg, &limit_arg]),
        RecordKind::AuditEvent => (AUDIT, vec![&int_arg, &limit_arg]),
        RecordKind::Membership => (MEMBERSHIPS, vec![&group, &user, &limit_arg]),
        RecordKind::Site => (SITES, vec![&group, &user, &limit_arg]),
        RecordKind::Assignment => (ASSIGNMENTS, vec![&id_arg, &limit_arg]),
        RecordKind::ApiKey => (API_KEYS, vec![&id_arg, &limit_arg]),
        RecordKind::RevokedToken => (REVOKED_TOKENS, vec![&id_arg, &limit_arg]),
        RecordKind::SigningKey => (SIGNING_KEYS, vec![&kid, &limit_arg]),
    };
    let stmt = c.prepare_cached(sql).await.map_err(err)?;
    let rows = c.query(&stmt, &args).await.map_err(err)?;
    let mut records = Vec::with_capacity(rows.len());
    let mut last = Cursor::Start;
    for r in &rows {
        let (rec, cursor) = record(kind, r).map_err(err)?;
        records.push(rec);
        last = cursor;
    }
    let next = (records.len() == limit as usize && limit > 0).then_some(last);
    Ok(ExportPage { records, next })
}

/// Inserts one record as it is.
async fn insert(c: &Conn, record: &Record) -> StoreResult<()> {
    match record {
        Record::Container(r) => {
            let sql = if r.id == ROOT_CONTAINER_ID {
                // Every database has the root: it takes the exported values.
                "UPDATE containers SET seq = $2, name = $3, name_key = $4, parent_id = $5,
                    created_at = $6, updated_at = $7, version = $8, description = $9 WHERE id = $1"
            } else {
                "INSERT INTO containers (id, seq, name, name_key, parent_id, created_at,
                    updated_at, version, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            };
            let stmt = c.prepare_cached(sql).await.map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &r.id,
                    &r.seq,
                    &r.name,
                    &name_key(&r.name),
                    &r.parent_id,
                    &r.created_at,
                    &r.updated_at,
                    &r.version,
                    &r.description,
                ],
            )
            .await
            .map_err(renamed("parent_id"))?;
        }
        Record::Role(r) => {
            // A built-in role is there already (every start writes them):
            // the exported row replaces it.
            let sql = if r.system {
                "INSERT INTO roles (id, seq, name, name_key, description, privileges, system,
                    created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, name = excluded.name,
                    name_key = excluded.name_key, description = excluded.description,
                    privileges = excluded.privileges, system = excluded.system,
                    created_at = excluded.created_at, updated_at = excluded.updated_at,
                    version = excluded.version"
            } else {
                "INSERT INTO roles (id, seq, name, name_key, description, privileges, system,
                    created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            };
            let stmt = c.prepare_cached(sql).await.map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &r.id,
                    &r.seq,
                    &r.name,
                    &name_key(&r.name),
                    &r.description,
                    &string_array(&r.privileges),
                    &r.system,
                    &r.created_at,
                    &r.updated_at,
                    &r.version,
                ],
            )
            .await
            .map_err(err)?;
        }
        Record::User(u) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO users (seq, id, username, username_key, email, email_key, first_name,
                        last_name, display_name, phone, job_title, timezone, locale, active,
                        mfa_required, saml_sso_only, security_level, distinguished_name, external_id,
                        attributes, password_hash, totp_secret, totp_pending, totp_last_step,
                        failed_logins, locked_until, credential_epoch, container_id, created_at,
                        updated_at, last_login_at, version, deleted_at, email_verified)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                        $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32,
                        $33, $34)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &u.seq,
                    &u.id,
                    &u.username,
                    &username_key(&u.username),
                    &u.email,
                    &u.email.as_deref().map(str::to_lowercase),
                    &u.first_name,
                    &u.last_name,
                    &u.display_name,
                    &u.phone,
                    &u.job_title,
                    &u.timezone,
                    &u.locale,
                    &u.active,
                    &u.mfa_required,
                    &u.saml_sso_only,
                    &u.security_level,
                    &u.distinguished_name,
                    &u.external_id,
                    &Value::Object(u.attributes.clone()),
                    &u.password_hash,
                    &u.totp_secret,
                    &u.totp_pending,
                    &u.totp_last_step,
                    &u.failed_logins,
                    &u.locked_until,
                    &u.credential_epoch,
                    &u.container_id,
                    &u.created_at,
                    &u.updated_at,
                    &u.last_login_at,
                    &u.version,
                    &u.deleted_at,
                    &u.email_verified,
                ],
            )
            .await
            .map_err(renamed("container_id"))?;
        }
        Record::Group(g) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO groups (id, seq, name, name_key, description, attributes, created_at,
                        updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &g.id,
                    &g.seq,
                    &g.name,
                    &name_key(&g.name),
                    &g.description,
                    &Value::Object(g.attributes.clone()),
                    &g.created_at,
                    &g.updated_at,
                    &g.version,
                ],
            )
            .await
            .map_err(err)?;
        }
        Record::Membership(m) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO group_members (group_id, user_id, access_level, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &m.group_id,
                    &m.user_id,
                    &m.access_level,
                    &m.created_at,
                    &m.updated_at,
                ],
            )
            .await
            .map_err(renamed("group_id or user_id"))?;
        }
        Record::Site(s) => {
            let stmt = c
                .prepare_cached("INSERT INTO user_sites (user_id, container_id) VALUES ($1, $2)")
                .await
                .map_err(err)?;
            c.execute(&stmt, &[&s.user_id, &s.container_id])
                .await
                .map_err(renamed("user_id or container_id"))?;
        }
        Record::Assignment(a) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO role_assignments (id, user_id, group_id, role_id, all_objects, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &a.id,
                    &a.user_id,
                    &a.group_id,
                    &a.role_id,
                    &a.all_objects,
                    &a.created_at,
                ],
            )
            .await
            .map_err(renamed("user_id, group_id or role_id"))?;
            if !a.container_ids.is_empty() {
                let scope = c
                    .prepare_cached(
                        "INSERT INTO role_assignment_scopes (assignment_id, container_id)
                         SELECT $1, unnest($2::uuid[])",
                    )
                    .await
                    .map_err(err)?;
                c.execute(&scope, &[&a.id, &a.container_ids])
                    .await
                    .map_err(renamed("container_ids"))?;
            }
        }
        Record::ApiKey(k) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO api_keys (id, user_id, name, prefix, hash, role_id, privileges,
                        created_at, expires_at, revoked_at, last_used_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &k.id,
                    &k.user_id,
                    &k.name,
                    &k.prefix,
                    &k.hash,
                    &k.role_id,
                    &k.privileges.as_deref().map(string_array),
                    &k.created_at,
                    &k.expires_at,
                    &k.revoked_at,
                    &k.last_used_at,
                ],
            )
            .await
            .map_err(renamed("user_id or role_id"))?;
        }
        Record::SigningKey(k) => {
            c.execute(
                "INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)",
                &[&k.kid, &k.secret, &k.created_at],
            )
            .await
            .map_err(err)?;
        }
        Record::RevokedToken(t) => {
            c.execute(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)",
                &[&t.jti, &t.expires_at],
            )
            .await
            .map_err(err)?;
        }
        Record::AuditEvent(e) => {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO audit_events (seq, id, at, actor_id, actor, action, target_kind,
                        target_id, container_id, outcome, request_id, source, details, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .await
                .map_err(err)?;
            c.execute(
                &stmt,
                &[
                    &e.seq,
                    &e.id,
                    &e.at,
                    &e.actor_id,
                    &e.actor,
                    &e.action,
                    &e.target_kind,
                    &e.target_id,
                    &e.container_id,
                    &e.outcome,
                    &e.request_id,
                    &e.source,
                    &e.details,
                    &e.prev_hash,
                    &e.hash,
                ],
            )
            .await
            .map_err(err)?;
        }
    }
    Ok(())
}

/// Inserts the records in order; on failure, which one failed. Runs of one
/// kind are pipelined: the first record alone (it prepares the kind's
/// statements), then the rest sent together, which PostgreSQL runs in the
/// order sent. After a failure the transaction is aborted and every later
/// statement fails too, so the first error is the failing record.
async fn insert_all(c: &Conn, records: &[Record]) -> Result<(), (usize, StoreError)> {
    let mut start = 0;
    while start < records.len() {
        let kind = records[start].kind();
        let end = records[start..]
            .iter()
            .position(|r| r.kind() != kind)
            .map_or(records.len(), |n| start + n);
        insert(c, &records[start]).await.map_err(|e| (start, e))?;
        let sent =
            futures_util::future::join_all(records[start + 1..end].iter().map(|r| insert(c, r)))
                .await;
        if let Some((n, e)) = sent
            .into_iter()
            .enumerate()
            .find_map(|(n, r)| r.err().map(|e| (n, e)))
        {
            return Err((start + 1 + n, e));
        }
        start = end;
    }
    Ok(())
}

/// What SQLite keeps by itself and PostgreSQL does not: the identity
/// sequence of `users.seq` moves past the imported seqs, and the audit
/// chain's head row names the newest imported event.
async fn catch_up(c: &Conn, users: bool, audit: bool) -> StoreResult<()> {
    if users {
        c.execute(
            "SELECT setval(pg_get_serial_sequence('users', 'seq'),
                greatest((SELECT max(seq) FROM users), 1))",
            &[],
        )
        .await
        .map_err(err)?;
    }
    if audit {
        c.execute(
            "UPDATE audit_head h SET seq = e.seq, hash = e.hash
             FROM (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) e
             WHERE h.id = 1",
            &[],
        )
        .await
        .map_err(err)?;
    }
    Ok(())
}

const IS_EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM users)
    AND NOT EXISTS (SELECT 1 FROM groups)
    AND NOT EXISTS (SELECT 1 FROM audit_events)
    AND NOT EXISTS (SELECT 1 FROM signing_keys)
    AND NOT EXISTS (SELECT 1 FROM revoked_tokens)
    AND NOT EXISTS (SELECT 1 FROM containers WHERE id <> $1)
    AND NOT EXISTS (SELECT 1 FROM roles WHERE NOT system)";

impl PgStore {
    pub(crate) async fn export_page(
        &self,
        kind: RecordKind,
        after: Cursor,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        export(&*self.conn().await?, kind, &after, limit).await
    }

    pub(crate) async fn import_records(&self, records: Vec<Record>) -> Result<u64, ImportFailure> {
        // The writer's job fails as a whole for its savepoint to roll back,
        // so the failing record's place travels beside the error.
        let failed_at = Arc::new(AtomicUsize::new(usize::MAX));
        let at = failed_at.clone();
        self.inner
            .writer
            .write(Vec::new(), move |c| {
                Box::pin(async move {
                    if let Err((i, e)) = insert_all(c, &records).await {
                        at.store(i, Ordering::Relaxed);
                        return Err(e);
                    }
                    let users = records.iter().any(|r| matches!(r, Record::User(_)));
                    let audit = records.iter().any(|r| matches!(r, Record::AuditEvent(_)));
                    catch_up(c, users, audit).await?;
                    Ok(records.len() as u64)
                })
            })
            .await
            .map_err(|error: StoreError| {
                let i = failed_at.load(Ordering::Relaxed);
                ImportFailure {
                    index: (i != usize::MAX).then_some(i),
                    error,
                }
            })
    }

    /// Drops the users table's secondary (non-unique) indexes before an
    /// import, keeping their definitions: building each once after the
    /// load is faster than keeping them row by row (the trigram index
    /// above all). The unique ones stay, for the records' own checks.
    pub(crate) async fn set_aside_indexes(&self) -> StoreResult<()> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
                 AND tablename = 'users' AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY indexname",
                &[],
            )
            .await
            .map_err(err)?;
        let mut definitions = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0).map_err(err)?;
            c.batch_execute(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))
                .await
                .map_err(err)?;
            definitions.push(row.try_get(1).map_err(err)?);
        }
        *self.inner.import_indexes.lock() = definitions;
        Ok(())
    }

    /// Builds the indexes [`Self::set_aside_indexes`] dropped, with room
    /// to sort in memory, then gathers the planner's statistics: straight
    /// after a load it has none, and guessed wrong (over 1M imported users,
    /// `?email=` ran at 61 req/s instead of thousands, and a substring
    /// every user has read the whole trigram index instead of the first
    /// rows).
    pub(crate) async fn rebuild_indexes(&self) -> StoreResult<()> {
        let definitions = std::mem::take(&mut *self.inner.import_indexes.lock());
        let c = self.conn().await?;
        c.batch_execute("SET maintenance_work_mem = '256MB'")
            .await
            .map_err(err)?;
        for sql in &definitions {
            c.batch_execute(sql).await.map_err(err)?;
        }
        c.batch_execute("RESET maintenance_work_mem; ANALYZE")
            .await
            .map_err(err)
    }

    pub(crate) async fn empty_for_import(&self) -> StoreResult<bool> {
        self.conn()
            .await?
            .query_one(IS_EMPTY, &[&ROOT_CONTAINER_ID])
            .await
            .map_err(err)?
            .try_get(0)
            .map_err(err)
    }
}
