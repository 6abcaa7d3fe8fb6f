//! SQL for users on PostgreSQL. Functions take a connection so the same
//! statement serves the writer (inside its batch) and the read pool.

use roster_core::lockout::LockoutPolicy;
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::{
    LoginRecord, NewUserRecord, Patch, User, UserDraft, UserQuery, UserSort, username_key,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::columns::user_columns;
pub use crate::columns::{USER_COLUMN_COUNT, USER_COLUMNS};

use super::{Conn, PgResult, err, micros_precision, not_found_or_stale};

pub fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

pub fn user_from_row(r: &Row) -> PgResult<User> {
    Ok(User {
        seq: r.try_get(0)?,
        id: r.try_get(1)?,
        profile: UserDraft {
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
            mfa_required: r.try_get(13)?,
            saml_sso_only: r.try_get(15)?,
            security_level: r.try_get(16)?,
            distinguished_name: r.try_get(17)?,
            external_id: r.try_get(18)?,
            attributes: object(r.try_get(19)?),
        },
        locked: r
            .try_get::<_, Option<OffsetDateTime>>(12)?
            .is_some_and(|until| until > OffsetDateTime::now_utc()),
        mfa_enrolled: r.try_get(14)?,
        has_password: r.try_get(20)?,
        container_id: r.try_get(21)?,
        created_at: r.try_get(22)?,
        updated_at: r.try_get(23)?,
        last_login_at: r.try_get(24)?,
        version: r.try_get(25)?,
        credential_epoch: r.try_get(26)?,
        deleted_at: r.try_get(27)?,
        email_verified: r.try_get(28)?,
    })
}

pub async fn insert(c: &Conn, rec: &NewUserRecord) -> StoreResult<User> {
    let p = &rec.profile;
    let now = micros_precision(rec.now);
    let stmt = c
        .prepare_cached(
            "INSERT INTO users (id, username, username_key, email, email_key, first_name, last_name,
                display_name, phone, job_title, timezone, locale, active, mfa_required, saml_sso_only,
                security_level, distinguished_name, external_id, attributes, password_hash,
                container_id, created_at, updated_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21, $22, $22, 1)
             RETURNING seq",
        )
        .await
        .map_err(err)?;
    let row = c
        .query_one(
            &stmt,
            &[
                &rec.id,
                &p.username,
                &username_key(&p.username),
                &p.email,
                &p.email.as_deref().map(str::to_lowercase),
                &p.first_name,
                &p.last_name,
                &p.display_name,
                &p.phone,
                &p.job_title,
                &p.timezone,
                &p.locale,
                &p.active,
                &p.mfa_required,
                &p.saml_sso_only,
                &p.security_level,
                &p.distinguished_name,
                &p.external_id,
                &Value::Object(p.attributes.clone()),
                &rec.password_hash,
                &rec.container_id,
                &now,
            ],
        )
        .await
        .map_err(err)?;
    Ok(User {
        id: rec.id,
        seq: row.try_get(0).map_err(err)?,
        profile: rec.profile.clone(),
        mfa_enrolled: false,
        locked: false,
        has_password: rec.password_hash.is_some(),
        container_id: rec.container_id,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        version: 1,
        credential_epoch: 0,
        deleted_at: None,
        email_verified: false,
    })
}

pub async fn by_id(c: &Conn, id: Uuid) -> StoreResult<Option<User>> {
    let stmt = c
        .prepare_cached(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .await
        .map_err(err)?;
    let row = c.query_opt(&stmt, &[&id]).await.map_err(err)?;
    row.as_ref().map(user_from_row).transpose().map_err(err)
}

pub async fn for_login(c: &Conn, key: &str) -> StoreResult<Option<LoginRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash, u.locked_until, u.totp_secret FROM users u WHERE u.username_key = $1"
        ))
        .await
        .map_err(err)?;
    let Some(r) = c.query_opt(&stmt, &[&key]).await.map_err(err)? else {
        return Ok(None);
    };
    let record = (|| {
        Ok(LoginRecord {
            user: user_from_row(&r)?,
            password_hash: r.try_get(USER_COLUMN_COUNT)?,
            locked_until: r.try_get(USER_COLUMN_COUNT + 1)?,
            totp_secret: r.try_get(USER_COLUMN_COUNT + 2)?,
        })
    })()
    .map_err(err)?;
    Ok(Some(record))
}

fn like_prefix(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 1);
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

use super::user_filter::Arg;

/// Up to this many users a search's text matches (by prefix or substring)
/// are looked up by `seq`; past it the planner walks users in order (the
/// rule both stores share).
const RARE: usize = roster_core::user::SEARCH_CANDIDATES;

/// The users a prefix search can match, read through the
/// `text_pattern_ops` indexes (migration 0007; a fresh statement gets a
/// custom plan, so each LIKE is a range scan), or `None` when there are
/// more than [`RARE`]. Keys are lower-cased by the core, names by lower(),
/// as ILIKE folds them.
async fn search_candidates(c: &Conn, q: &UserQuery) -> StoreResult<Option<Vec<i64>>> {
    let Some(text) = q.q.as_deref() else {
        return Ok(None);
    };
    if q.q_contains {
        return substring_candidates(c, text).await;
    }
    let stmt = c
        .prepare(
            // UNION ALL streams, so LIMIT stops a common prefix early (a
            // user matched twice counts twice: erring towards the walk).
            "SELECT seq FROM users WHERE username_key LIKE $1
             UNION ALL SELECT seq FROM users WHERE email_key LIKE $1
             UNION ALL SELECT seq FROM users WHERE lower(first_name) LIKE lower($2)
             UNION ALL SELECT seq FROM users WHERE lower(last_name) LIKE lower($2)
             UNION ALL SELECT seq FROM users WHERE lower(display_name) LIKE lower($2)
             LIMIT $3",
        )
        .await
        .map_err(err)?;
    let rows = c
        .query(
            &stmt,
            &[
                &like_prefix(&text.to_lowercase()),
                &like_prefix(text),
                &((RARE + 1) as i64),
            ],
        )
        .await
        .map_err(err)?;
    candidate_seqs(&rows)
}

/// The `seq`s a candidates query read, in order and once each, or `None`
/// past [`RARE`] (the query reads one more to tell).
fn candidate_seqs(rows: &[Row]) -> StoreResult<Option<Vec<i64>>> {
    if rows.len() > RARE {
        return Ok(None);
    }
    let mut seqs = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<PgResult<Vec<_>>>()
        .map_err(err)?;
    seqs.sort_unstable();
    seqs.dedup();
    Ok(Some(seqs))
}

/// Every user's searchable text as the `users_text_trigrams` index of
/// migration 0008 has it (the same expression, or the planner cannot use
/// the index).
const TEXT_EXPRESSION: &str = "lower(username_key || E'\\n' || coalesce(email_key, '') || E'\\n' \
     || coalesce(first_name, '') || E'\\n' || coalesce(last_name, '') || E'\\n' \
     || coalesce(display_name, ''))";

/// The users whose text holds `text` anywhere, read through the trigram
/// index, or `None` when more than [`RARE`] do, or `text` is too short to
/// have a trigram (a shorter one matches so many users that walking them
/// in order finds a page at once).
async fn substring_candidates(c: &Conn, text: &str) -> StoreResult<Option<Vec<i64>>> {
    if text.chars().count() < 3 {
        return Ok(None);
    }
    let stmt = c
        .prepare(&format!(
            "SELECT seq FROM users WHERE {TEXT_EXPRESSION} LIKE lower($1) LIMIT $2"
        ))
        .await
        .map_err(err)?;
    let rows = c
        .query(
            &stmt,
            &[&format!("%{}", like_prefix(text)), &((RARE + 1) as i64)],
        )
        .await
        .map_err(err)?;
    candidate_seqs(&rows)
}

/// One filter builder for both the page and its total; `candidates`
/// narrows a prefix search to the users [`search_candidates`] found.
fn filter(
    q: &UserQuery,
    within: Option<&[Uuid]>,
    counting: bool,
    candidates: Option<Vec<i64>>,
) -> (String, Vec<Arg>) {
    let columns = if counting { "count(*)" } else { USER_COLUMNS };
    let after = if q.offset.is_some() {
        None
    } else {
        q.after_seq
    };
    let mut args: Vec<Arg> = vec![Box::new(after.unwrap_or(0))];
    let mut sql = format!("SELECT {columns} FROM users u WHERE u.seq > $1");
    fn push(args: &mut Vec<Arg>, sql: &mut String, clause: &str, arg: Arg) {
        args.push(arg);
        sql.push_str(&clause.replace("$?", &format!("${}", args.len())));
    }
    if let Some(roots) = within {
        push(
            &mut args,
            &mut sql,
            " AND u.container_id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM containers WHERE id = ANY($?) \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)",
            Box::new(roots.to_vec()),
        );
    }
    if !q.include_deleted {
        sql.push_str(" AND u.deleted_at IS NULL");
    }
    if let Some(u) = &q.username {
        push(
            &mut args,
            &mut sql,
            " AND u.username_key = $?",
            Box::new(u.clone()),
        );
    }
    if let Some(e) = &q.email {
        push(
            &mut args,
            &mut sql,
            " AND u.email_key = $?",
            Box::new(e.clone()),
        );
    }
    if let Some(root) = q.container {
        push(
            &mut args,
            &mut sql,
            " AND u.container_id IN (WITH RECURSIVE sub(id) AS (SELECT $?::uuid \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)",
            Box::new(root),
        );
    }
    if let Some(site) = q.site {
        // `$?` names the one argument in both walks of the subtree.
        push(
            &mut args,
            &mut sql,
            " AND (u.container_id IN (WITH RECURSIVE sub(id) AS (SELECT $?::uuid \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub) \
             OR u.id IN (SELECT s.user_id FROM user_sites s WHERE s.container_id IN \
             (WITH RECURSIVE sub(id) AS (SELECT $?::uuid \
             UNION SELECT c.id FROM containers c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)))",
            Box::new(site),
        );
    }
    if let Some(r) = q.role {
        push(
            &mut args,
            &mut sql,
            " AND u.id IN (SELECT user_id FROM role_assignments WHERE role_id = $? AND user_id IS NOT NULL)",
            Box::new(r),
        );
    }
    if let Some(n) = &q.first_name {
        push(
            &mut args,
            &mut sql,
            " AND lower(u.first_name) = $?",
            Box::new(n.clone()),
        );
    }
    if let Some(n) = &q.last_name {
        push(
            &mut args,
            &mut sql,
            " AND lower(u.last_name) = $?",
            Box::new(n.clone()),
        );
    }
    if let Some(seq) = q.seq {
        push(&mut args, &mut sql, " AND u.seq = $?", Box::new(seq));
    }
    if let Some(a) = q.active {
        push(&mut args, &mut sql, " AND u.active = $?", Box::new(a));
    }
    if let Some(text) = &q.q {
        let pattern = if q.q_contains {
            format!("%{}", like_prefix(text))
        } else {
            like_prefix(text)
        };
        // ILIKE: names match case-insensitively, as SQLite's LIKE does;
        // username and email keys are lower case already.
        push(
            &mut args,
            &mut sql,
            " AND (u.username_key ILIKE $? OR u.email_key ILIKE $? \
             OR u.first_name ILIKE $? OR u.last_name ILIKE $? OR u.display_name ILIKE $?)",
            Box::new(pattern),
        );
        if let Some(seqs) = candidates {
            // A rare prefix: its few users by primary key, in order.
            push(&mut args, &mut sql, " AND u.seq = ANY($?)", Box::new(seqs));
        } else if !q.q_contains {
            // A common prefix: the same text as a LIKE the indexes answer,
            // for the planner to weigh against walking users in order
            // (without it, it scanned and sorted every user). Keys are
            // lower-cased by the core, names by lower() here, as ILIKE
            // folds them.
            push(
                &mut args,
                &mut sql,
                " AND (u.username_key LIKE $? OR u.email_key LIKE $?",
                Box::new(like_prefix(&text.to_lowercase())),
            );
            push(
                &mut args,
                &mut sql,
                " OR lower(u.first_name) LIKE lower($?) OR lower(u.last_name) LIKE lower($?) \
                 OR lower(u.display_name) LIKE lower($?))",
                Box::new(like_prefix(text)),
            );
        }
    }
    if let Some(f) = &q.filter {
        let (condition, values) = super::user_filter::condition(f, args.len() + 1);
        sql.push_str(&format!(" AND {condition}"));
        args.extend(values);
    }
    if counting {
        return (sql, args);
    }
    match q.offset {
        None => push(
            &mut args,
            &mut sql,
            " ORDER BY u.seq LIMIT $?",
            Box::new(i64::from(q.limit)),
        ),
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
                    // NULLs sort lowest, as in SQLite, so both backends page alike.
                    if *desc {
                        format!("{col} DESC NULLS LAST")
                    } else {
                        format!("{col} ASC NULLS FIRST")
                    }
                })
                .collect();
            order.push("u.seq ASC".into());
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
            push(
                &mut args,
                &mut sql,
                " LIMIT $?",
                Box::new(i64::from(q.limit)),
            );
            push(
                &mut args,
                &mut sql,
                " OFFSET $?",
                Box::new(i64::try_from(offset).unwrap_or(i64::MAX)),
            );
        }
    }
    (sql, args)
}

fn refs(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

pub async fn list(c: &Conn, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<Vec<User>> {
    let candidates = search_candidates(c, q).await?;
    let (sql, args) = filter(q, within, false, candidates);
    // Keyset pages have a bounded set of shapes and are prepared once per
    // connection; sorted (offset) pages may be ordered, and filtered pages
    // shaped, any way a client likes, so their statements are not kept:
    // the cache would only grow. A search is planned for its own text
    // (a fresh statement gets a custom plan): whether reading the prefix
    // ranges beats walking users in order depends on how common it is.
    let stmt = if q.offset.is_none() && q.filter.is_none() && q.q.is_none() {
        c.prepare_cached(&sql).await
    } else {
        c.prepare(&sql).await
    }
    .map_err(err)?;
    let rows = c.query(&stmt, &refs(&args)).await.map_err(err)?;
    rows.iter()
        .map(user_from_row)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn count(c: &Conn, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<u64> {
    let candidates = search_candidates(c, q).await?;
    let (sql, args) = filter(q, within, true, candidates);
    let stmt = if q.filter.is_none() && q.q.is_none() {
        c.prepare_cached(&sql).await
    } else {
        c.prepare(&sql).await
    }
    .map_err(err)?;
    let n: i64 = c
        .query_one(&stmt, &refs(&args))
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)?;
    Ok(n as u64)
}

pub async fn update(
    c: &Conn,
    id: Uuid,
    expected_version: i64,
    p: &UserDraft,
    container_id: Uuid,
    password_hash: &Patch<String>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let (set_pw, pw) = match password_hash {
        Patch::Keep => (false, None),
        Patch::Clear => (true, None),
        Patch::Set(h) => (true, Some(h.as_str())),
    };
    let stmt = c
        .prepare_cached(
            "UPDATE users SET username = $3, username_key = $4, email = $5, email_key = $6,
                first_name = $7, last_name = $8, display_name = $9, phone = $10, job_title = $11,
                timezone = $12, locale = $13, active = $14, mfa_required = $15, saml_sso_only = $16,
                security_level = $17, distinguished_name = $18, external_id = $19, attributes = $20,
                password_hash = CASE WHEN $21 THEN $22 ELSE password_hash END,
                credential_epoch = credential_epoch + CASE WHEN $21 THEN 1 ELSE 0 END,
                email_verified = CASE WHEN email_key IS NOT DISTINCT FROM $6 THEN email_verified ELSE false END,
                updated_at = $23, container_id = $24, version = version + 1
             WHERE id = $1 AND version = $2",
        )
        .await
        .map_err(err)?;
    let changed = c
        .execute(
            &stmt,
            &[
                &id,
                &expected_version,
                &p.username,
                &username_key(&p.username),
                &p.email,
                &p.email.as_deref().map(str::to_lowercase),
                &p.first_name,
                &p.last_name,
                &p.display_name,
                &p.phone,
                &p.job_title,
                &p.timezone,
                &p.locale,
                &p.active,
                &p.mfa_required,
                &p.saml_sso_only,
                &p.security_level,
                &p.distinguished_name,
                &p.external_id,
                &Value::Object(p.attributes.clone()),
                &set_pw,
                &pw,
                &now,
                &container_id,
            ],
        )
        .await
        .map_err(err)?;
    if changed == 0 {
        return Err(not_found_or_stale(by_id(c, id).await?.is_some()));
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

/// Soft-deletes (`Some`) or restores (`None`) a user. Deleting moves the
/// credential epoch on, so tokens issued before stay refused after a restore.
pub async fn set_deleted(
    c: &Conn,
    id: Uuid,
    expected_version: Option<i64>,
    deleted_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let stmt = c
        .prepare_cached(
            "UPDATE users SET deleted_at = $3, updated_at = $4, version = version + 1,
                 credential_epoch = credential_epoch + CASE WHEN $3::timestamptz IS NULL THEN 0 ELSE 1 END
             WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)",
        )
        .await
        .map_err(err)?;
    let changed = c
        .execute(
            &stmt,
            &[
                &id,
                &expected_version,
                &deleted_at.map(micros_precision),
                &micros_precision(now),
            ],
        )
        .await
        .map_err(err)?;
    if changed == 0 {
        return Err(not_found_or_stale(by_id(c, id).await?.is_some()));
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

/// Users soft-deleted before `cutoff`, oldest first.
pub async fn deleted_before(
    c: &Conn,
    cutoff: OffsetDateTime,
    limit: u32,
) -> StoreResult<Vec<Uuid>> {
    let stmt = c
        .prepare_cached(
            "SELECT id FROM users WHERE deleted_at IS NOT NULL AND deleted_at < $1
             ORDER BY deleted_at LIMIT $2",
        )
        .await
        .map_err(err)?;
    let rows = c
        .query(&stmt, &[&cutoff, &i64::from(limit)])
        .await
        .map_err(err)?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn delete(c: &Conn, id: Uuid, expected_version: Option<i64>) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("DELETE FROM users WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)")
        .await
        .map_err(err)?;
    let changed = c
        .execute(&stmt, &[&id, &expected_version])
        .await
        .map_err(err)?;
    if changed == 0 {
        return Err(not_found_or_stale(by_id(c, id).await?.is_some()));
    }
    Ok(())
}

pub async fn record_login(
    c: &Conn,
    id: Uuid,
    at: OffsetDateTime,
    totp_step: Option<i64>,
) -> StoreResult<()> {
    if let Some(step) = totp_step {
        // The step only moves forward: a code (or an older one) is spent.
        // The row lock taken here makes two nodes' uses of one code queue.
        let n = c
            .execute(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND coalesce(totp_last_step, -1) < $2",
                &[&id, &step],
            )
            .await
            .map_err(err)?;
        if n == 0 {
            return Err(StoreError::Conflict { field: "totp" });
        }
    }
    let stmt = c
        .prepare_cached(
            "UPDATE users SET last_login_at = $2, failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&id, &at]).await.map_err(err)?;
    Ok(())
}

/// Counts a failed password check of `account_key` from `source`, and of
/// the account across all sources (`*`), and sets when each may try again
/// (see the SQLite backend for the rule). The upsert is one atomic
/// statement, so failures counted by every node add up.
pub async fn record_failure(
    c: &Conn,
    account_key: &str,
    source: &str,
    policy: &LockoutPolicy,
    now: OffsetDateTime,
) -> StoreResult<Option<OffsetDateTime>> {
    // Saturating: a configured "forever" must not overflow (and panic).
    let secs = |n: u64| Duration::seconds(n.min(100 * 365 * 24 * 3600) as i64);
    let window = secs(policy.window_secs);
    let forgiven_before = now
        .checked_sub(window)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut latest: Option<OffsetDateTime> = None;
    let count = c
        .prepare_cached(
            "INSERT INTO login_throttle AS t (account_key, source, failures, blocked_until, updated_at)
             VALUES ($1, $2, 1, NULL, $3)
             ON CONFLICT (account_key, source) DO UPDATE SET
                failures = CASE WHEN t.updated_at < $4 THEN 1 ELSE t.failures + 1 END,
                updated_at = $3
             RETURNING failures",
        )
        .await
        .map_err(err)?;
    for (src, free, max) in [
        (source, policy.threshold, policy.lock_secs),
        ("*", policy.account_threshold, policy.account_lock_secs),
    ] {
        let failures: i64 = c
            .query_one(&count, &[&account_key, &src, &now, &forgiven_before])
            .await
            .map_err(err)?
            .try_get(0)
            .map_err(err)?;
        if let Some(wait) = policy.backoff_secs(failures as u64, free, max) {
            let until = now.saturating_add(secs(wait));
            c.execute(
                "UPDATE login_throttle SET blocked_until = $3 WHERE account_key = $1 AND source = $2",
                &[&account_key, &src, &until],
            )
            .await
            .map_err(err)?;
            if src == "*" {
                c.execute(
                    "UPDATE users SET locked_until = $2 WHERE username_key = $1",
                    &[&account_key, &until],
                )
                .await
                .map_err(err)?;
            }
            latest = Some(latest.map_or(until, |l| l.max(until)));
        }
    }
    // Forget long-quiet entries a few at a time, so the table stays small
    // without a sweeper.
    let quiet = window.saturating_mul(4).max(Duration::days(1));
    c.execute(
        "DELETE FROM login_throttle WHERE (account_key, source) IN (
            SELECT account_key, source FROM login_throttle WHERE updated_at < $1
            LIMIT 8 FOR UPDATE SKIP LOCKED)",
        &[&now.checked_sub(quiet).unwrap_or(OffsetDateTime::UNIX_EPOCH)],
    )
    .await
    .map_err(err)?;
    Ok(latest)
}

/// Until when password checks of `account_key` from `source` must wait.
pub async fn throttled_until(
    c: &Conn,
    account_key: &str,
    source: &str,
) -> StoreResult<Option<OffsetDateTime>> {
    let stmt = c
        .prepare_cached(
            "SELECT max(blocked_until) FROM login_throttle
             WHERE account_key = $1 AND source IN ($2, '*') AND blocked_until IS NOT NULL",
        )
        .await
        .map_err(err)?;
    c.query_one(&stmt, &[&account_key, &source])
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)
}

/// A successful check from `source` forgives that source's failures.
pub async fn clear_throttle(c: &Conn, user: Uuid, source: &str) -> StoreResult<()> {
    let stmt = c
        .prepare_cached(
            "DELETE FROM login_throttle WHERE source = $2
               AND account_key = (SELECT username_key FROM users WHERE id = $1)",
        )
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&user, &source]).await.map_err(err)?;
    Ok(())
}

pub async fn set_lock(
    c: &Conn,
    id: Uuid,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<User> {
    let n = c
        .execute(
            "UPDATE users SET locked_until = $2, failed_logins = 0, updated_at = $3, version = version + 1 WHERE id = $1",
            &[&id, &until, &now],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    if until.is_none() {
        // An administrator's unlock forgives every source.
        c.execute(
            "DELETE FROM login_throttle WHERE account_key = (SELECT username_key FROM users WHERE id = $1)",
            &[&id],
        )
        .await
        .map_err(err)?;
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

pub async fn set_totp(
    c: &Conn,
    id: Uuid,
    secret: Option<&str>,
    confirmed: bool,
) -> StoreResult<()> {
    let n = if confirmed {
        c.execute(
            "UPDATE users SET totp_secret = $2, totp_pending = NULL, version = version + 1,
                credential_epoch = credential_epoch + CASE WHEN $2::text IS NULL THEN 1 ELSE 0 END
             WHERE id = $1",
            &[&id, &secret],
        )
        .await
    } else {
        c.execute(
            "UPDATE users SET totp_pending = $2 WHERE id = $1",
            &[&id, &secret],
        )
        .await
    }
    .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn pending_totp(c: &Conn, id: Uuid) -> StoreResult<Option<String>> {
    let row = c
        .query_opt("SELECT totp_pending FROM users WHERE id = $1", &[&id])
        .await
        .map_err(err)?;
    match row {
        Some(r) => r.try_get(0).map_err(err),
        None => Ok(None),
    }
}

/// Replaces the containers a user belongs to besides its home.
pub async fn set_sites(c: &Conn, user: Uuid, sites: &[Uuid]) -> StoreResult<()> {
    c.execute("DELETE FROM user_sites WHERE user_id = $1", &[&user])
        .await
        .map_err(err)?;
    c.execute(
        "INSERT INTO user_sites (user_id, container_id)
         SELECT $1, s FROM unnest($2::uuid[]) AS s ON CONFLICT DO NOTHING",
        &[&user, &sites],
    )
    .await
    .map_err(super::renamed("site_ids"))?;
    Ok(())
}
