//! SQL for link tokens (invitation, password reset, email verification)
//! on PostgreSQL.

use roster_core::link::{LinkEffect, LinkPurpose, LinkRecord};
use roster_core::store::{StoreError, StoreResult};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Conn, PgResult, err, micros_precision};

const COLUMNS: &str =
    "token_hash, user_id, purpose, credential_epoch, email, created_at, expires_at";

fn from_row(r: &Row) -> StoreResult<LinkRecord> {
    let get = |r: &Row| -> PgResult<_> {
        Ok((
            r.try_get::<_, String>(0)?,
            r.try_get::<_, Uuid>(1)?,
            r.try_get::<_, String>(2)?,
            r.try_get::<_, i64>(3)?,
            r.try_get::<_, String>(4)?,
            r.try_get::<_, OffsetDateTime>(5)?,
            r.try_get::<_, OffsetDateTime>(6)?,
        ))
    };
    let (token_hash, user_id, purpose, credential_epoch, email, created_at, expires_at) =
        get(r).map_err(err)?;
    Ok(LinkRecord {
        token_hash,
        user_id,
        purpose: LinkPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Backend(format!("unknown link purpose {purpose:?}")))?,
        credential_epoch,
        email,
        created_at,
        expires_at,
    })
}

pub async fn by_hash(c: &Conn, hash: &str) -> StoreResult<Option<LinkRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM link_tokens WHERE token_hash = $1"
        ))
        .await
        .map_err(err)?;
    c.query_opt(&stmt, &[&hash])
        .await
        .map_err(err)?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn pending(
    c: &Conn,
    user: Uuid,
    purpose: LinkPurpose,
) -> StoreResult<Option<LinkRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM link_tokens WHERE user_id = $1 AND purpose = $2
             ORDER BY created_at DESC LIMIT 1"
        ))
        .await
        .map_err(err)?;
    c.query_opt(&stmt, &[&user, &purpose.as_str()])
        .await
        .map_err(err)?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn issue(c: &Conn, rec: &LinkRecord) -> StoreResult<()> {
    let del = c
        .prepare_cached("DELETE FROM link_tokens WHERE user_id = $1 AND purpose = $2")
        .await
        .map_err(err)?;
    c.execute(&del, &[&rec.user_id, &rec.purpose.as_str()])
        .await
        .map_err(err)?;
    let ins = c
        .prepare_cached(&format!(
            "INSERT INTO link_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .await
        .map_err(err)?;
    c.execute(
        &ins,
        &[
            &rec.token_hash,
            &rec.user_id,
            &rec.purpose.as_str(),
            &rec.credential_epoch,
            &rec.email,
            &micros_precision(rec.created_at),
            &micros_precision(rec.expires_at),
        ],
    )
    .await
    .map_err(err)?;
    Ok(())
}

pub async fn revoke(c: &Conn, user: Uuid, purpose: LinkPurpose) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("DELETE FROM link_tokens WHERE user_id = $1 AND purpose = $2")
        .await
        .map_err(err)?;
    let n = c
        .execute(&stmt, &[&user, &purpose.as_str()])
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes a live link and applies its effect; `NotFound` when the link is
/// unknown, of another purpose, expired, or its user's epoch moved on.
pub async fn redeem(
    c: &Conn,
    hash: &str,
    purpose: LinkPurpose,
    now: OffsetDateTime,
    effect: &LinkEffect,
) -> StoreResult<()> {
    let now = micros_precision(now);
    let stmt = c
        .prepare_cached(
            "DELETE FROM link_tokens l WHERE l.token_hash = $1 AND l.purpose = $2 AND l.expires_at > $3
               AND l.credential_epoch = (SELECT u.credential_epoch FROM users u
                                         WHERE u.id = l.user_id AND u.deleted_at IS NULL)
             RETURNING l.user_id, l.email",
        )
        .await
        .map_err(err)?;
    let Some(row) = c
        .query_opt(&stmt, &[&hash, &purpose.as_str(), &now])
        .await
        .map_err(err)?
    else {
        return Err(StoreError::NotFound);
    };
    let user: Uuid = row.try_get(0).map_err(err)?;
    let email: String = row.try_get(1).map_err(err)?;
    let changed = match effect {
        LinkEffect::SetPassword { password_hash } => {
            let stmt = c
                .prepare_cached(
                    "UPDATE users SET password_hash = $2, credential_epoch = credential_epoch + 1,
                        email_verified = email_verified OR email_key IS NOT DISTINCT FROM lower($3),
                        updated_at = $4, version = version + 1
                     WHERE id = $1",
                )
                .await
                .map_err(err)?;
            c.execute(&stmt, &[&user, password_hash, &email, &now])
                .await
                .map_err(err)?
        }
        LinkEffect::VerifyEmail => {
            let stmt = c
                .prepare_cached(
                    "UPDATE users SET email_verified = true, updated_at = $3, version = version + 1
                     WHERE id = $1 AND email_key IS NOT DISTINCT FROM lower($2)",
                )
                .await
                .map_err(err)?;
            c.execute(&stmt, &[&user, &email, &now])
                .await
                .map_err(err)?
        }
    };
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
