//! SQL for API keys, revoked tokens, sliding sessions, signing secrets and
//! idempotency records on PostgreSQL.

use roster_core::access::ApiKeyInfo;
use roster_core::auth::{KeyOwner, KeyRecord};
use roster_core::authz::Privilege;
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::{IdempotencyHit, IdempotencyWrite, User};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::columns::KEY_COLUMNS;

use super::roles::{parse_privileges, privileges_json};
use super::users::{USER_COLUMN_COUNT, USER_COLUMNS, user_from_row};
use super::{Conn, PgResult, err, micros_precision, renamed};

/// Idempotency records older than this are forgotten.
const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

fn key_info(r: &Row, at: usize) -> PgResult<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: r.try_get(at)?,
        user_id: r.try_get(at + 1)?,
        name: r.try_get(at + 2)?,
        prefix: r.try_get(at + 3)?,
        role_id: r.try_get(at + 4)?,
        created_at: r.try_get(at + 5)?,
        expires_at: r.try_get(at + 6)?,
        revoked_at: r.try_get(at + 7)?,
        last_used_at: r.try_get(at + 8)?,
    })
}

pub async fn insert_key(
    c: &Conn,
    user_id: Uuid,
    key: &KeyRecord,
    role: Option<Uuid>,
    cap: Option<&[Privilege]>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<ApiKeyInfo> {
    c.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, role_id, created_at, expires_at, privileges)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &key.id,
            &user_id,
            &key.name,
            &key.prefix,
            &key.hash,
            &role,
            &micros_precision(now),
            &expires_at.map(micros_precision),
            &cap.map(privileges_json),
        ],
    )
    .await
    .map_err(renamed("role_id"))?;
    key_by_id(c, key.id).await?.ok_or(StoreError::NotFound)
}

pub async fn key_by_id(c: &Conn, id: Uuid) -> StoreResult<Option<ApiKeyInfo>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1"
        ))
        .await
        .map_err(err)?;
    let row = c.query_opt(&stmt, &[&id]).await.map_err(err)?;
    row.as_ref()
        .map(|r| key_info(r, 0))
        .transpose()
        .map_err(err)
}

pub async fn list_keys(c: &Conn, user: Option<Uuid>) -> StoreResult<Vec<ApiKeyInfo>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE $1::uuid IS NULL OR k.user_id = $1 ORDER BY k.created_at, k.id"
        ))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[&user]).await.map_err(err)?;
    rows.iter()
        .map(|r| key_info(r, 0))
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn key_owner(c: &Conn, hash: &str) -> StoreResult<Option<KeyOwner>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS}, {KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = $1"
        ))
        .await
        .map_err(err)?;
    let Some(r) = c.query_opt(&stmt, &[&hash]).await.map_err(err)? else {
        return Ok(None);
    };
    let owner = (|| {
        Ok(KeyOwner {
            user: user_from_row(&r)?,
            key: key_info(&r, USER_COLUMN_COUNT)?,
            key_hash: r.try_get(USER_COLUMN_COUNT + 9)?,
            cap: r
                .try_get::<_, Option<Value>>(USER_COLUMN_COUNT + 10)?
                .map(|v| parse_privileges(&v)),
        })
    })()
    .map_err(err)?;
    Ok(Some(owner))
}

pub async fn revoke_key(c: &Conn, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
    let n = c
        .execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
            &[&id, &at],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn touch_key(c: &Conn, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&id, &at]).await.map_err(err)?;
    Ok(())
}

pub async fn revoke_token(c: &Conn, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
    c.execute(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&jti, &expires_at],
    )
    .await
    .map_err(err)?;
    // Expired tokens are refused anyway; their revocations can go, a few
    // at a time, skipping rows another writer holds (no waiting, no
    // deadlock between batches over housekeeping).
    c.execute(
        "DELETE FROM revoked_tokens WHERE jti IN (
            SELECT jti FROM revoked_tokens WHERE expires_at < $1
            LIMIT 100 FOR UPDATE SKIP LOCKED)",
        &[&(OffsetDateTime::now_utc() - Duration::hours(1))],
    )
    .await
    .map_err(err)?;
    Ok(())
}

pub async fn token_revoked(c: &Conn, jti: Uuid) -> StoreResult<bool> {
    let stmt = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)")
        .await
        .map_err(err)?;
    c.query_one(&stmt, &[&jti])
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)
}

pub async fn create_session(
    c: &Conn,
    jti: Uuid,
    user: Uuid,
    idle: u64,
    expires_at: OffsetDateTime,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO token_sessions (jti, user_id, idle_secs, expires_at) VALUES ($1, $2, $3, $4)",
        &[
            &jti,
            &user,
            &(idle.min(i64::MAX as u64) as i64),
            &expires_at,
        ],
    )
    .await
    .map_err(err)?;
    // Lapsed sessions can go, as revocations do above.
    c.execute(
        "DELETE FROM token_sessions WHERE jti IN (
            SELECT jti FROM token_sessions WHERE expires_at < $1
            LIMIT 100 FOR UPDATE SKIP LOCKED)",
        &[&OffsetDateTime::now_utc()],
    )
    .await
    .map_err(err)?;
    Ok(())
}

pub async fn session(c: &Conn, jti: Uuid) -> StoreResult<Option<(u64, OffsetDateTime)>> {
    let stmt = c
        .prepare_cached("SELECT idle_secs, expires_at FROM token_sessions WHERE jti = $1")
        .await
        .map_err(err)?;
    let row = c.query_opt(&stmt, &[&jti]).await.map_err(err)?;
    row.map(|r| Ok((r.try_get::<_, i64>(0)? as u64, r.try_get(1)?)))
        .transpose()
        .map_err(err)
}

pub async fn extend_session(c: &Conn, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
    let stmt = c
        .prepare_cached(
            "UPDATE token_sessions SET expires_at = greatest(expires_at, $2) WHERE jti = $1",
        )
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&jti, &expires_at]).await.map_err(err)?;
    Ok(())
}

pub async fn signing_secrets(c: &Conn, candidate: &[u8]) -> StoreResult<Vec<(String, Vec<u8>)>> {
    if !candidate.is_empty() {
        // Nodes starting together agree on one first secret.
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('signing_keys'))",
            &[],
        )
        .await
        .map_err(err)?;
        c.execute(
            "INSERT INTO signing_keys (kid, secret, created_at)
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
            &[
                &Uuid::now_v7().to_string(),
                &candidate,
                &micros_precision(OffsetDateTime::now_utc()),
            ],
        )
        .await
        .map_err(err)?;
    }
    let rows = c
        .query(
            "SELECT kid, secret FROM signing_keys ORDER BY created_at DESC, kid DESC",
            &[],
        )
        .await
        .map_err(err)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn add_signing_secret(c: &Conn, kid: &str, secret: &[u8]) -> StoreResult<()> {
    c.execute(
        "INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)",
        &[&kid, &secret, &micros_precision(OffsetDateTime::now_utc())],
    )
    .await
    .map_err(err)?;
    Ok(())
}

fn hit(r: &Row) -> StoreResult<Option<IdempotencyHit>> {
    let request_hash: String = r.try_get(0).map_err(err)?;
    let response: Option<Value> = r.try_get(1).map_err(err)?;
    Ok(response
        .and_then(|v| serde_json::from_value::<User>(v).ok())
        .map(|user| IdempotencyHit { request_hash, user }))
}

pub async fn idempotent_result(
    c: &Conn,
    scope: Uuid,
    key: &str,
) -> StoreResult<Option<IdempotencyHit>> {
    let stmt = c
        .prepare_cached(
            "SELECT request_hash, response FROM idempotency_keys
             WHERE scope = $1 AND key = $2 AND created_at > $3 AND response IS NOT NULL",
        )
        .await
        .map_err(err)?;
    let cutoff = OffsetDateTime::now_utc() - IDEMPOTENCY_TTL;
    match c
        .query_opt(&stmt, &[&scope, &key, &cutoff])
        .await
        .map_err(err)?
    {
        Some(r) => hit(&r),
        None => Ok(None),
    }
}

/// Claims an idempotency key for this transaction before the user is
/// written. A retry racing on another node waits here for the first
/// transaction to end, then finds its result; `None` means the key is ours.
pub async fn claim_idempotency(
    c: &Conn,
    w: &IdempotencyWrite,
) -> StoreResult<Option<IdempotencyHit>> {
    let now = OffsetDateTime::now_utc();
    let stmt = c
        .prepare_cached(
            "INSERT INTO idempotency_keys AS i (scope, key, request_hash, response, created_at)
             VALUES ($1, $2, $3, NULL, $4)
             ON CONFLICT (scope, key) DO UPDATE SET
                request_hash = excluded.request_hash, response = NULL, created_at = excluded.created_at
                WHERE i.created_at <= $5
             RETURNING true",
        )
        .await
        .map_err(err)?;
    let claimed = c
        .query_opt(
            &stmt,
            &[
                &w.scope,
                &w.key,
                &w.request_hash,
                &micros_precision(now),
                &(now - IDEMPOTENCY_TTL),
            ],
        )
        .await
        .map_err(err)?;
    if claimed.is_some() {
        return Ok(None);
    }
    let row = c
        .query_one(
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
            &[&w.scope, &w.key],
        )
        .await
        .map_err(err)?;
    match hit(&row)? {
        Some(h) => Ok(Some(h)),
        None => Err(StoreError::Backend(
            "idempotency record without a response".into(),
        )),
    }
}

pub async fn save_idempotency(c: &Conn, w: &IdempotencyWrite, user: &User) -> StoreResult<()> {
    let response = serde_json::to_value(user).map_err(|e| StoreError::Backend(e.to_string()))?;
    let stmt = c
        .prepare_cached("UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2")
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&w.scope, &w.key, &response])
        .await
        .map_err(err)?;
    Ok(())
}

pub async fn expire_idempotency(c: &Conn) -> StoreResult<()> {
    c.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= $1",
        &[&(OffsetDateTime::now_utc() - IDEMPOTENCY_TTL)],
    )
    .await
    .map_err(err)?;
    Ok(())
}
