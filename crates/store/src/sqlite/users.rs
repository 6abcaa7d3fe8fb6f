//! SQL for users. Functions take a connection so the same statement serves
//! the writer (inside its batch) and the read pool.

use roster_core::lockout::LockoutPolicy;
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::{
    LoginRecord, NewUserRecord, Patch, User, UserDraft, UserQuery, UserSort, username_key,
};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Map;
use time::OffsetDateTime;
use uuid::Uuid;

use super::search;
use crate::columns::user_columns;
pub use crate::columns::{USER_COLUMN_COUNT, USER_COLUMNS};

pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub fn from_micros(m: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(m as i128 * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    // Borrowed from the row, and most users have none: no String to
    // allocate, nothing to parse.
    let attributes = match r.get_ref(19)? {
        ValueRef::Text(b"{}") => Map::new(),
        ValueRef::Text(text) => serde_json::from_slice(text).unwrap_or_default(),
        _ => Map::new(),
    };
    Ok(User {
        seq: r.get(0)?,
        id: r.get(1)?,
        profile: UserDraft {
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
            mfa_required: r.get(13)?,
            saml_sso_only: r.get(15)?,
            security_level: r.get(16)?,
            distinguished_name: r.get(17)?,
            external_id: r.get(18)?,
            attributes,
        },
        locked: r
            .get::<_, Option<i64>>(12)?
            .is_some_and(|until| until > micros(OffsetDateTime::now_utc())),
        mfa_enrolled: r.get(14)?,
        has_password: r.get(20)?,
        container_id: r.get(21)?,
        created_at: from_micros(r.get(22)?),
        updated_at: from_micros(r.get(23)?),
        last_login_at: r.get::<_, Option<i64>>(24)?.map(from_micros),
        version: r.get(25)?,
        credential_epoch: r.get(26)?,
        deleted_at: r.get::<_, Option<i64>>(27)?.map(from_micros),
        email_verified: r.get(28)?,
    })
}

/// Turns a constraint failure into what it means, by SQLite's extended
/// result code (the kind of constraint); for uniqueness, the field is read
/// from the columns SQLite lists (`UNIQUE constraint failed: t.c, ...`), the
/// only place it names them. Anything else is classified by its code too.
pub fn map_write_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(err, msg) = &e {
        match err.extended_code {
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                return StoreError::MissingReference { field: "reference" };
            }
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                let columns = msg
                    .as_deref()
                    .and_then(|m| m.split_once(": "))
                    .map_or("", |(_, c)| c);
                return StoreError::Conflict {
                    field: unique_field(columns),
                };
            }
            _ => {}
        }
    }
    super::classify(&e)
}

/// The API field a unique index stands for.
fn unique_field(columns: &str) -> &'static str {
    let column = |c: &str| columns.split(", ").any(|x| x.ends_with(c));
    if column("users.username_key") {
        "username"
    } else if column(".seq") {
        "seq"
    } else if column(".name_key") || columns.contains("containers_sibling_name") {
        "name"
    } else {
        "id"
    }
}

pub fn insert(conn: &Connection, rec: &NewUserRecord) -> StoreResult<User> {
    let p = &rec.profile;
    let attributes =
        serde_json::to_string(&p.attributes).map_err(|e| StoreError::Backend(e.to_string()))?;
    let now = micros(rec.now);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO users (id, username, username_key, email, email_key, first_name, last_name,
                display_name, phone, job_title, timezone, locale, active, mfa_required, saml_sso_only,
                security_level, distinguished_name, external_id, attributes, password_hash,
                container_id, created_at, updated_at, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?22, 1)",
        )
        .map_err(map_write_error)?;
    stmt.execute(params![
        rec.id,
        p.username,
        username_key(&p.username),
        p.email,
        p.email.as_deref().map(str::to_lowercase),
        p.first_name,
        p.last_name,
        p.display_name,
        p.phone,
        p.job_title,
        p.timezone,
        p.locale,
        p.active,
        p.mfa_required,
        p.saml_sso_only,
        p.security_level,
        p.distinguished_name,
        p.external_id,
        attributes,
        rec.password_hash,
        rec.container_id,
        now,
    ])
    .map_err(map_write_error)?;
    Ok(User {
        id: rec.id,
        seq: conn.last_insert_rowid(),
        profile: rec.profile.clone(),
        mfa_enrolled: false,
        locked: false,
        has_password: rec.password_hash.is_some(),
        container_id: rec.container_id,
        created_at: from_micros(now),
        updated_at: from_micros(now),
        last_login_at: None,
        version: 1,
        credential_epoch: 0,
        deleted_at: None,
        email_verified: false,
    })
}

pub fn by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id = ?1"
    ))?
    .query_row([id], user_from_row)
    .optional()
}

pub fn for_login(conn: &Connection, key: &str) -> rusqlite::Result<Option<LoginRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, u.password_hash, u.locked_until, u.totp_secret FROM users u WHERE u.username_key = ?1"
    ))?
    .query_row([key], |r| {
        Ok(LoginRecord {
            user: user_from_row(r)?,
            password_hash: r.get(USER_COLUMN_COUNT)?,
            locked_until: r
                .get::<_, Option<i64>>(USER_COLUMN_COUNT + 1)?
                .map(from_micros),
            totp_secret: r.get(USER_COLUMN_COUNT + 2)?,
        })
    })
    .optional()
}

fn like_prefix(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 1);
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

pub fn list(
    conn: &Connection,
    q: &UserQuery,
    within: Option<&[Uuid]>,
) -> rusqlite::Result<Vec<User>> {
    list_or_count(conn, q, within, false, search::THRESHOLDS).map(|(users, _)| users)
}

pub fn count(conn: &Connection, q: &UserQuery, within: Option<&[Uuid]>) -> rusqlite::Result<u64> {
    list_or_count(conn, q, within, true, search::THRESHOLDS).map(|(_, n)| n)
}

/// One filter builder for both the page and its total.
/// A limit larger than this (a dialect's export) grows its vector as usual.
const PRESIZE_AT_MOST: usize = 1024;

/// `search`: when a prefix is read through its ranges, as runs or walked
/// ([`search::THRESHOLDS`]; tests make them small).
fn list_or_count(
    conn: &Connection,
    q: &UserQuery,
    within: Option<&[Uuid]>,
    counting: bool,
    thresholds: search::Thresholds,
) -> rusqlite::Result<(Vec<User>, u64)> {
    let columns = if counting { "count(*)" } else { USER_COLUMNS };
    let after = if q.offset.is_some() {
        None
    } else {
        q.after_seq
    };
    let mut sql = format!("SELECT {columns} FROM users u WHERE u.seq > ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(after.unwrap_or(0))];
    if let Some(roots) = within {
        let marks = vec!["?"; roots.len()].join(", ");
        sql.push_str(&format!(
            " AND u.container_id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM containers WHERE id IN ({marks}) \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)"
        ));
        args.extend(roots.iter().map(|r| SqlValue::Blob(r.as_bytes().to_vec())));
    }
    if !q.include_deleted {
        sql.push_str(" AND u.deleted_at IS NULL");
    }
    if let Some(u) = &q.username {
        sql.push_str(" AND u.username_key = ?");
        args.push(SqlValue::Text(u.clone()));
    }
    if let Some(e) = &q.email {
        sql.push_str(" AND u.email_key = ?");
        args.push(SqlValue::Text(e.clone()));
    }
    if let Some(c) = q.container {
        sql.push_str(
            " AND u.container_id IN (WITH RECURSIVE sub(id) AS (SELECT ? \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)",
        );
        args.push(SqlValue::Blob(c.as_bytes().to_vec()));
    }
    if let Some(c) = q.site {
        // The subtree is walked twice (home, further sites): each walk is
        // a handful of rows, and the query stays one plain WHERE.
        let subtree = "WITH RECURSIVE sub(id) AS (SELECT ? \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub";
        sql.push_str(&format!(
            " AND (u.container_id IN ({subtree}) \
             OR u.id IN (SELECT s.user_id FROM user_sites s WHERE s.container_id IN ({subtree})))"
        ));
        args.push(SqlValue::Blob(c.as_bytes().to_vec()));
        args.push(SqlValue::Blob(c.as_bytes().to_vec()));
    }
    if let Some(r) = q.role {
        sql.push_str(" AND u.id IN (SELECT user_id FROM role_assignments WHERE role_id = ? AND user_id IS NOT NULL)");
        args.push(SqlValue::Blob(r.as_bytes().to_vec()));
    }
    if let Some(n) = &q.first_name {
        sql.push_str(" AND lower(u.first_name) = ?");
        args.push(SqlValue::Text(n.clone()));
    }
    if let Some(n) = &q.last_name {
        sql.push_str(" AND lower(u.last_name) = ?");
        args.push(SqlValue::Text(n.clone()));
    }
    if let Some(seq) = q.seq {
        sql.push_str(" AND u.seq = ?");
        args.push(SqlValue::Integer(seq));
    }
    if let Some(a) = q.active {
        sql.push_str(" AND u.active = ?");
        args.push(SqlValue::Integer(a as i64));
    }
    let mut common_prefix = None;
    if let Some(text) = &q.q {
        let pattern = if q.q_contains {
            format!("%{}", like_prefix(text))
        } else {
            like_prefix(text)
        };
        // Names are matched case-insensitively by LIKE (ASCII folding);
        // username and email keys are already lower case.
        sql.push_str(
            " AND (u.username_key LIKE ?1q ESCAPE '\\' OR u.email_key LIKE ?1q ESCAPE '\\' \
             OR u.first_name LIKE ?1q ESCAPE '\\' OR u.last_name LIKE ?1q ESCAPE '\\' \
             OR u.display_name LIKE ?1q ESCAPE '\\')",
        );
        let n = args.len() + 1;
        sql = sql.replace("?1q", &format!("?{n}"));
        args.push(SqlValue::Text(pattern));
        // A prefix that few users have is found through the ordered
        // indexes of the five columns; a common one by walking users in
        // `seq` order, where matches usually come early, in windows
        // (`search::common_prefix`); a substring by walking.
        if !q.q_contains {
            if search::is_rare(conn, text, thresholds.rare)? {
                let (narrowing, values) = search::candidates(text, args.len() + 1);
                sql.push_str(&format!(" AND {narrowing}"));
                args.extend(values);
            } else {
                common_prefix = Some(text.as_str());
            }
        }
    }
    if let Some(filter) = &q.filter {
        let (condition, values) = super::user_filter::condition(filter, args.len() + 1);
        sql.push_str(&format!(" AND {condition}"));
        args.extend(values);
    }
    // Filters come in any shape a client likes: their statements are not
    // kept, or the cache would churn.
    let keep = q.filter.is_none();
    if counting {
        let mut stmt = conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(params_from_iter(args), |r| r.get(0))?;
        if !keep {
            stmt.discard();
        }
        return Ok((Vec::new(), n as u64));
    }
    if let (Some(text), None) = (common_prefix, q.offset) {
        let page = search::Page::new(conn, &sql, args, q.limit, keep, user_from_row);
        let users = search::common_prefix(text, thresholds, page)?;
        return Ok((users, 0));
    }
    match q.offset {
        None => sql.push_str(&format!(" ORDER BY u.seq LIMIT {}", q.limit)),
        Some(offset) => {
            let mut order: Vec<String> = q
                .sort
                .iter()
                .map(|(key, desc)| {
                    let col = match key {
                        UserSort::Seq => "u.seq",
                        UserSort::Username => "u.username_key",
                        UserSort::FirstName => "lower(u.first_name)",
                        UserSort::LastName => "lower(u.last_name)",
                        UserSort::Email => "u.email_key",
                        UserSort::CreatedAt => "u.created_at",
                    };
                    format!("{col} {}", if *desc { "DESC" } else { "ASC" })
                })
                .collect();
            order.push("u.seq ASC".into());
            sql.push_str(&format!(
                " ORDER BY {} LIMIT {} OFFSET {offset}",
                order.join(", "),
                q.limit
            ));
        }
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    // Sized for the page at once: growing by doubling copied every user
    // read so far each time (~3 % of a page of 50, callgrind).
    let mut users = Vec::with_capacity((q.limit as usize).min(PRESIZE_AT_MOST));
    for user in stmt.query_map(params_from_iter(args), user_from_row)? {
        users.push(user?);
    }
    if !keep {
        stmt.discard();
    }
    Ok((users, 0))
}

pub fn update(
    conn: &Connection,
    id: Uuid,
    expected_version: i64,
    p: &UserDraft,
    container_id: Uuid,
    password_hash: &Patch<String>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let attributes =
        serde_json::to_string(&p.attributes).map_err(|e| StoreError::Backend(e.to_string()))?;
    let (set_pw, pw) = match password_hash {
        Patch::Keep => (false, None),
        Patch::Clear => (true, None),
        Patch::Set(h) => (true, Some(h.as_str())),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE users SET username = ?3, username_key = ?4, email = ?5, email_key = ?6,
                first_name = ?7, last_name = ?8, display_name = ?9, phone = ?10, job_title = ?11,
                timezone = ?12, locale = ?13, active = ?14, mfa_required = ?15, saml_sso_only = ?16,
                security_level = ?17, distinguished_name = ?18, external_id = ?19, attributes = ?20,
                password_hash = CASE WHEN ?21 THEN ?22 ELSE password_hash END,
                credential_epoch = credential_epoch + CASE WHEN ?21 THEN 1 ELSE 0 END,
                email_verified = CASE WHEN email_key IS ?6 THEN email_verified ELSE 0 END,
                updated_at = ?23, container_id = ?24, version = version + 1
             WHERE id = ?1 AND version = ?2",
        )
        .map_err(map_write_error)?
        .execute(params![
            id,
            expected_version,
            p.username,
            username_key(&p.username),
            p.email,
            p.email.as_deref().map(str::to_lowercase),
            p.first_name,
            p.last_name,
            p.display_name,
            p.phone,
            p.job_title,
            p.timezone,
            p.locale,
            p.active,
            p.mfa_required,
            p.saml_sso_only,
            p.security_level,
            p.distinguished_name,
            p.external_id,
            attributes,
            set_pw,
            pw,
            micros(now),
            container_id,
        ])
        .map_err(map_write_error)?;
    if changed == 0 {
        return match by_id(conn, id).map_err(map_write_error)? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    by_id(conn, id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

/// Soft-deletes (`Some`) or restores (`None`) a user. Deleting moves the
/// credential epoch on, so tokens issued before stay refused after a restore.
pub fn set_deleted(
    conn: &Connection,
    id: Uuid,
    expected_version: Option<i64>,
    deleted_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let changed = conn
        .prepare_cached(
            "UPDATE users SET deleted_at = ?3, updated_at = ?4, version = version + 1,
                 credential_epoch = credential_epoch + (?3 IS NOT NULL)
             WHERE id = ?1 AND (?2 IS NULL OR version = ?2)",
        )
        .map_err(map_write_error)?
        .execute(params![
            id,
            expected_version,
            deleted_at.map(micros),
            micros(now)
        ])
        .map_err(map_write_error)?;
    if changed == 0 {
        return match by_id(conn, id).map_err(map_write_error)? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    by_id(conn, id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

/// Users soft-deleted before `cutoff`, oldest first.
pub fn deleted_before(
    conn: &Connection,
    cutoff: OffsetDateTime,
    limit: u32,
) -> rusqlite::Result<Vec<Uuid>> {
    conn.prepare_cached(
        "SELECT id FROM users WHERE deleted_at IS NOT NULL AND deleted_at < ?1
         ORDER BY deleted_at LIMIT ?2",
    )?
    .query_map(params![micros(cutoff), limit], |r| r.get(0))?
    .collect()
}

pub fn delete(conn: &Connection, id: Uuid, expected_version: Option<i64>) -> StoreResult<()> {
    let changed = conn
        .prepare_cached("DELETE FROM users WHERE id = ?1 AND (?2 IS NULL OR version = ?2)")
        .map_err(map_write_error)?
        .execute(params![id, expected_version])
        .map_err(map_write_error)?;
    if changed == 0 {
        return match by_id(conn, id).map_err(map_write_error)? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    Ok(())
}

pub fn record_login(
    conn: &Connection,
    id: Uuid,
    at: OffsetDateTime,
    totp_step: Option<i64>,
) -> StoreResult<()> {
    if let Some(step) = totp_step {
        // The step only moves forward: a code (or an older one) is spent.
        let n = conn
            .execute(
                "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND ifnull(totp_last_step, -1) < ?2",
                params![id, step],
            )
            .map_err(map_write_error)?;
        if n == 0 {
            return Err(StoreError::Conflict { field: "totp" });
        }
    }
    conn.prepare_cached(
        "UPDATE users SET last_login_at = ?2, failed_logins = 0, locked_until = NULL WHERE id = ?1",
    )
    .map_err(map_write_error)?
    .execute(params![id, micros(at)])
    .map_err(map_write_error)?;
    Ok(())
}

/// Counts a failed password check of `account_key` from `source`, and of
/// the account across all sources (`*`), and sets when each may try again.
/// Returns the later of the two, if the attempt now has to wait. The
/// account-wide wait is mirrored on the user row as `locked_until`, which
/// faces show as `locked` and an administrator can lift.
pub fn record_failure(
    conn: &Connection,
    account_key: &str,
    source: &str,
    policy: &LockoutPolicy,
    now: OffsetDateTime,
) -> StoreResult<Option<OffsetDateTime>> {
    let now_us = micros(now);
    let window_us = (policy.window_secs as i64).saturating_mul(1_000_000);
    let mut latest: Option<i64> = None;
    for (src, free, max) in [
        (source, policy.threshold, policy.lock_secs),
        ("*", policy.account_threshold, policy.account_lock_secs),
    ] {
        // Failures older than the window are forgiven.
        let failures: i64 = conn
            .prepare_cached(
                "INSERT INTO login_throttle (account_key, source, failures, blocked_until, updated_at)
                 VALUES (?1, ?2, 1, NULL, ?3)
                 ON CONFLICT (account_key, source) DO UPDATE SET
                    failures = CASE WHEN updated_at < ?3 - ?4 THEN 1 ELSE failures + 1 END,
                    updated_at = ?3
                 RETURNING failures",
            )
            .map_err(map_write_error)?
            .query_row(params![account_key, src, now_us, window_us], |r| r.get(0))
            .map_err(map_write_error)?;
        if let Some(wait) = policy.backoff_secs(failures as u64, free, max) {
            let until = now_us.saturating_add((wait as i64).saturating_mul(1_000_000));
            conn.prepare_cached(
                "UPDATE login_throttle SET blocked_until = ?3 WHERE account_key = ?1 AND source = ?2",
            )
            .map_err(map_write_error)?
            .execute(params![account_key, src, until])
            .map_err(map_write_error)?;
            if src == "*" {
                conn.prepare_cached("UPDATE users SET locked_until = ?2 WHERE username_key = ?1")
                    .map_err(map_write_error)?
                    .execute(params![account_key, until])
                    .map_err(map_write_error)?;
            }
            latest = Some(latest.map_or(until, |l| l.max(until)));
        }
    }
    // Forget long-quiet entries a few at a time, so the table stays small
    // without a sweeper.
    conn.prepare_cached(
        "DELETE FROM login_throttle WHERE (account_key, source) IN (
            SELECT account_key, source FROM login_throttle WHERE updated_at < ?1 LIMIT 8)",
    )
    .map_err(map_write_error)?
    .execute([now_us.saturating_sub(window_us.saturating_mul(4).max(24 * 3600 * 1_000_000))])
    .map_err(map_write_error)?;
    Ok(latest.map(from_micros))
}

/// Until when password checks of `account_key` from `source` must wait.
pub fn throttled_until(
    conn: &Connection,
    account_key: &str,
    source: &str,
) -> rusqlite::Result<Option<OffsetDateTime>> {
    conn.prepare_cached(
        "SELECT max(blocked_until) FROM login_throttle
         WHERE account_key = ?1 AND source IN (?2, '*') AND blocked_until IS NOT NULL",
    )?
    .query_row(params![account_key, source], |r| r.get::<_, Option<i64>>(0))
    .map(|t| t.map(from_micros))
}

/// A successful check from `source` forgives that source's failures.
pub fn clear_throttle(conn: &Connection, account_key: &str, source: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM login_throttle WHERE account_key = ?1 AND source = ?2")
        .map_err(map_write_error)?
        .execute(params![account_key, source])
        .map_err(map_write_error)?;
    Ok(())
}

pub fn set_lock(
    conn: &Connection,
    id: Uuid,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let n = conn
        .execute(
            "UPDATE users SET locked_until = ?2, failed_logins = 0, updated_at = ?3, version = version + 1 WHERE id = ?1",
            params![id, until.map(micros), micros(now)],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    if until.is_none() {
        // An administrator's unlock forgives every source.
        conn.execute(
            "DELETE FROM login_throttle WHERE account_key = (SELECT username_key FROM users WHERE id = ?1)",
            [id],
        )
        .map_err(map_write_error)?;
    }
    by_id(conn, id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn set_totp(
    conn: &Connection,
    id: Uuid,
    secret: Option<&str>,
    confirmed: bool,
) -> StoreResult<()> {
    let sql = if confirmed {
        "UPDATE users SET totp_secret = ?2, totp_pending = NULL, version = version + 1,
            credential_epoch = credential_epoch + CASE WHEN ?2 IS NULL THEN 1 ELSE 0 END
         WHERE id = ?1"
    } else {
        "UPDATE users SET totp_pending = ?2 WHERE id = ?1"
    };
    let n = conn
        .execute(sql, params![id, secret])
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn pending_totp(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT totp_pending FROM users WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .map(Option::flatten)
}

/// Replaces the containers a user belongs to besides its home. A missing
/// container is refused with the field that named it.
pub fn set_sites(conn: &Connection, user: Uuid, sites: &[Uuid]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM user_sites WHERE user_id = ?1")
        .and_then(|mut s| s.execute([user]))
        .map_err(map_write_error)?;
    add_sites(conn, user, sites)
}

/// Adds `sites` to a user's; a new user's own (it has none to clear: the
/// DELETE of `set_sites` was an eighth of a create's writer time).
pub fn add_sites(conn: &Connection, user: Uuid, sites: &[Uuid]) -> StoreResult<()> {
    if sites.is_empty() {
        return Ok(());
    }
    let mut insert = conn
        .prepare_cached("INSERT OR IGNORE INTO user_sites (user_id, container_id) VALUES (?1, ?2)")
        .map_err(map_write_error)?;
    for site in sites {
        insert
            .execute(params![user, site])
            .map_err(|e| match map_write_error(e) {
                StoreError::MissingReference { .. } => {
                    StoreError::MissingReference { field: "site_ids" }
                }
                other => other,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One user of the search property: username (`None`: one no prefix
    /// matches), first name, last name, soft-deleted, homed in the
    /// container `SCOPE` (else the root). Texts from a small alphabet, so
    /// that prefixes are common and names share values; the order of the
    /// list is the order of `seq`.
    type Row = (Option<String>, Option<String>, Option<String>, bool, bool);

    /// A container below the root: a scoped caller's subtree.
    const SCOPE: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_00a1);

    fn text() -> impl Strategy<Value = String> {
        "[abAB]{1,4}"
    }

    fn name() -> impl Strategy<Value = String> {
        "[abAB]{1,2}"
    }

    fn username(i: usize, name: &Option<String>) -> String {
        match name {
            Some(name) => format!("{name}{i}"),
            None => format!("u{i}"),
        }
    }

    fn search_db(users: &[Row]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(super::super::migrations::apply(&mut conn).unwrap().is_ok());
        let root = conn
            .query_row("SELECT id FROM containers", [], |r| r.get::<_, Vec<u8>>(0))
            .unwrap();
        conn.execute(
            "INSERT INTO containers (id, seq, name, name_key, parent_id, created_at, updated_at) \
             VALUES (?1, 2, 'Scope', 'scope', ?2, 0, 0)",
            params![SCOPE, root],
        )
        .unwrap();
        for (i, (name, first, last, deleted, scoped)) in users.iter().enumerate() {
            let username = username(i, name);
            let home = if *scoped {
                SCOPE.as_bytes().to_vec()
            } else {
                root.clone()
            };
            conn.execute(
                "INSERT INTO users (id, username, username_key, email, email_key, first_name, \
                 last_name, active, container_id, created_at, updated_at, version, deleted_at) \
                 VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, 1, ?6, 0, 0, 1, ?7)",
                params![
                    Uuid::now_v7(),
                    username,
                    username.to_lowercase(),
                    first,
                    last,
                    home,
                    deleted.then_some(1i64)
                ],
            )
            .unwrap();
        }
        conn
    }

    fn starts(value: &str, text: &str) -> bool {
        value
            .to_ascii_lowercase()
            .starts_with(&text.to_ascii_lowercase())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Paging through a prefix search returns exactly the matching
        /// users in `seq` order, whichever way a page is found: through
        /// the ranges (rare), as runs of names' values, by windows of the
        /// walk, or by windows and then the ranges past them (thresholds
        /// from 0 and 1 up).
        #[test]
        fn prefix_pages_are_the_matches_in_order_whatever_the_plan(
            users in proptest::collection::vec(
                (
                    proptest::option::weighted(0.3, text()),
                    proptest::option::of(name()),
                    proptest::option::of(name()),
                    proptest::bool::weighted(0.3),
                    proptest::bool::ANY,
                ),
                0..160,
            ),
            scoped_caller in proptest::bool::ANY,
            prefix in "[abAB]{1,3}",
            rare in 1i64..12,
            runs_per_column in 0usize..6,
            limit in 1u32..9,
        ) {
            let conn = search_db(&users);
            let expected: Vec<i64> = users
                .iter()
                .enumerate()
                .filter(|(i, (name, first, last, deleted, scoped))| {
                    !deleted
                        && (*scoped || !scoped_caller)
                        && (starts(&username(*i, name), &prefix)
                            || first.as_deref().is_some_and(|f| starts(f, &prefix))
                            || last.as_deref().is_some_and(|l| starts(l, &prefix)))
                })
                .map(|(i, _)| i as i64 + 1)
                .collect();
            // A scoped caller's search sees its subtree only, whichever
            // plan finds the page.
            let within = scoped_caller.then_some(&[SCOPE][..]);
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let q = UserQuery {
                    q: Some(prefix.clone()),
                    after_seq: after,
                    limit,
                    ..Default::default()
                };
                let thresholds = search::Thresholds { rare, runs_per_column };
                let page = list_or_count(&conn, &q, within, false, thresholds).unwrap().0;
                prop_assert!(page.len() <= limit as usize);
                seen.extend(page.iter().map(|u| u.seq));
                // A page that repeats users would never end.
                prop_assert!(seen.len() <= expected.len(), "{seen:?} past {expected:?}");
                if page.len() < limit as usize {
                    break;
                }
                after = page.last().map(|u| u.seq);
            }
            prop_assert_eq!(&seen, &expected);
            let total = list_or_count(
                &conn,
                &UserQuery { q: Some(prefix.clone()), ..Default::default() },
                within,
                true,
                search::Thresholds { rare, runs_per_column },
            )
            .unwrap()
            .1;
            prop_assert_eq!(total, expected.len() as u64);
        }
    }

    #[test]
    fn constraint_failures_are_classified_by_code() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE users (username_key TEXT UNIQUE, seq INTEGER UNIQUE,
                p INTEGER REFERENCES p(id));
             INSERT INTO users VALUES ('a', 1, NULL);",
        )
        .unwrap();
        let fail = |sql: &str| map_write_error(c.execute(sql, []).unwrap_err());
        assert!(matches!(
            fail("INSERT INTO users VALUES ('a', 2, NULL)"),
            StoreError::Conflict { field: "username" }
        ));
        assert!(matches!(
            fail("INSERT INTO users VALUES ('b', 1, NULL)"),
            StoreError::Conflict { field: "seq" }
        ));
        assert!(matches!(
            fail("INSERT INTO users VALUES ('c', 3, 42)"),
            StoreError::MissingReference { .. }
        ));
        // Not a constraint: classified by its code, not taken for one.
        assert!(!matches!(
            fail("INSERT INTO nowhere VALUES (1)"),
            StoreError::Conflict { .. } | StoreError::MissingReference { .. }
        ));
    }
}
