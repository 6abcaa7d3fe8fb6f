//! SQL for webhooks and their deliveries on PostgreSQL. Several nodes may
//! deliver at once: a delivery is claimed under `FOR UPDATE SKIP LOCKED`
//! and leased (`lease_until`), so one node sends it while the lease holds;
//! queuing moves a webhook's cursor only from the value it read, so two
//! nodes do not queue the same run twice.

use roster_core::Secret;
use roster_core::store::{StoreError, StoreResult};
use roster_core::webhook::{Attempt, Delivery, DeliveryStatus, NewDelivery, Webhook};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Conn, PgResult, err, micros_precision, not_found_or_stale};

const HOOK_COLUMNS: &str =
    "id, url, event_types, secret, active, cursor_seq, version, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_seq, event_id, event_type, order_key, status, \
     attempts, last_status, last_error, next_attempt_at, created_at, updated_at, delivered_at";

fn hook_from_row(r: &Row) -> StoreResult<Webhook> {
    let get = |r: &Row| -> PgResult<Webhook> {
        let types: serde_json::Value = r.try_get(2)?;
        Ok(Webhook {
            id: r.try_get(0)?,
            url: r.try_get(1)?,
            event_types: types
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            secret: Secret::new(r.try_get::<_, String>(3)?),
            active: r.try_get(4)?,
            cursor: r.try_get(5)?,
            version: r.try_get(6)?,
            created_at: r.try_get(7)?,
            updated_at: r.try_get(8)?,
        })
    };
    get(r).map_err(err)
}

fn delivery_from_row(r: &Row) -> StoreResult<Delivery> {
    let get = |r: &Row| -> PgResult<(Delivery, String)> {
        let status: String = r.try_get(6)?;
        Ok((
            Delivery {
                id: r.try_get(0)?,
                webhook_id: r.try_get(1)?,
                event_seq: r.try_get(2)?,
                event_id: r.try_get(3)?,
                event_type: r.try_get(4)?,
                order_key: r.try_get(5)?,
                status: DeliveryStatus::Pending,
                attempts: r.try_get(7)?,
                last_status: r.try_get(8)?,
                last_error: r.try_get(9)?,
                next_attempt_at: r.try_get(10)?,
                created_at: r.try_get(11)?,
                updated_at: r.try_get(12)?,
                delivered_at: r.try_get(13)?,
            },
            status,
        ))
    };
    let (mut d, status) = get(r).map_err(err)?;
    d.status = DeliveryStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown delivery status {status:?}")))?;
    Ok(d)
}

fn types_json(w: &Webhook) -> serde_json::Value {
    serde_json::Value::from(w.event_types.clone())
}

/// Stores the webhook with its cursor at the chain's head.
pub async fn insert(c: &Conn, w: &Webhook) -> StoreResult<Webhook> {
    let stmt = c
        .prepare_cached(&format!(
            "INSERT INTO webhooks ({HOOK_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT seq FROM audit_head WHERE id = 1), 0),
                     $6, $7, $8)
             RETURNING {HOOK_COLUMNS}"
        ))
        .await
        .map_err(err)?;
    let row = c
        .query_one(
            &stmt,
            &[
                &w.id,
                &w.url,
                &types_json(w),
                &w.secret.expose(),
                &w.active,
                &w.version,
                &micros_precision(w.created_at),
                &micros_precision(w.updated_at),
            ],
        )
        .await
        .map_err(err)?;
    hook_from_row(&row)
}

pub async fn by_id(c: &Conn, id: Uuid) -> StoreResult<Option<Webhook>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .await
        .map_err(err)?;
    c.query_opt(&stmt, &[&id])
        .await
        .map_err(err)?
        .as_ref()
        .map(hook_from_row)
        .transpose()
}

pub async fn all(c: &Conn) -> StoreResult<Vec<Webhook>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .await
        .map_err(err)?;
    c.query(&stmt, &[])
        .await
        .map_err(err)?
        .iter()
        .map(hook_from_row)
        .collect()
}

pub async fn update(c: &Conn, w: &Webhook) -> StoreResult<Webhook> {
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE webhooks SET url = $2, event_types = $3, secret = $4, active = $5,
                updated_at = $6, version = version + 1
             WHERE id = $1 AND version = $7
             RETURNING {HOOK_COLUMNS}"
        ))
        .await
        .map_err(err)?;
    match c
        .query_opt(
            &stmt,
            &[
                &w.id,
                &w.url,
                &types_json(w),
                &w.secret.expose(),
                &w.active,
                &micros_precision(w.updated_at),
                &w.version,
            ],
        )
        .await
        .map_err(err)?
    {
        Some(row) => hook_from_row(&row),
        None => Err(not_found_or_stale(by_id(c, w.id).await?.is_some())),
    }
}

pub async fn delete(c: &Conn, id: Uuid) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("DELETE FROM webhooks WHERE id = $1")
        .await
        .map_err(err)?;
    if c.execute(&stmt, &[&id]).await.map_err(err)? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn queue(
    c: &Conn,
    webhook: Uuid,
    from: i64,
    to: i64,
    deliveries: &[NewDelivery],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("UPDATE webhooks SET cursor_seq = $3 WHERE id = $1 AND cursor_seq = $2")
        .await
        .map_err(err)?;
    if c.execute(&stmt, &[&webhook, &from, &to])
        .await
        .map_err(err)?
        == 0
    {
        return Err(StoreError::VersionMismatch);
    }
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let seqs: Vec<i64> = deliveries.iter().map(|d| d.event_seq).collect();
    let event_ids: Vec<Uuid> = deliveries.iter().map(|d| d.event_id).collect();
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    let keys: Vec<&str> = deliveries.iter().map(|d| d.order_key.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_seq, event_id, event_type,
                order_key, status, attempts, next_attempt_at, created_at, updated_at)
             SELECT d.id, $1, d.seq, d.event_id, d.event_type, d.order_key, 'pending', 0, $2, $2, $2
             FROM unnest($3::uuid[], $4::bigint[], $5::uuid[], $6::text[], $7::text[])
                  AS d(id, seq, event_id, event_type, order_key)
             ON CONFLICT (webhook_id, event_seq) DO NOTHING",
        )
        .await
        .map_err(err)?;
    c.execute(
        &stmt,
        &[
            &webhook,
            &micros_precision(now),
            &ids,
            &seqs,
            &event_ids,
            &types,
            &keys,
        ],
    )
    .await
    .map_err(err)?;
    Ok(())
}

pub async fn claim(
    c: &Conn,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE webhook_deliveries SET lease_until = $2
             WHERE id IN (
                SELECT d.id FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                  AND (d.lease_until IS NULL OR d.lease_until <= $1)
                  AND NOT EXISTS (
                    SELECT 1 FROM webhook_deliveries e
                    WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key
                      AND e.status = 'pending' AND e.event_seq < d.event_seq)
                ORDER BY d.event_seq LIMIT $3
                FOR UPDATE SKIP LOCKED)
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .await
        .map_err(err)?;
    let mut out = c
        .query(
            &stmt,
            &[
                &micros_precision(now),
                &micros_precision(lease_until),
                &i64::from(limit),
            ],
        )
        .await
        .map_err(err)?
        .iter()
        .map(delivery_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by_key(|d| d.event_seq);
    Ok(out)
}

pub async fn record(c: &Conn, id: Uuid, a: &Attempt) -> StoreResult<()> {
    let delivered = (a.next == DeliveryStatus::Delivered).then(|| micros_precision(a.at));
    let stmt = c
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status = $3,
                last_error = $4, next_attempt_at = $5, lease_until = NULL, updated_at = $6,
                delivered_at = COALESCE($7, delivered_at)
             WHERE id = $1",
        )
        .await
        .map_err(err)?;
    c.execute(
        &stmt,
        &[
            &id,
            &a.next.as_str(),
            &a.status_code,
            &a.error,
            &micros_precision(a.retry_at),
            &micros_precision(a.at),
            &delivered,
        ],
    )
    .await
    .map_err(err)?;
    Ok(())
}

pub async fn page(
    c: &Conn,
    webhook: Uuid,
    before_seq: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE webhook_id = $1 AND event_seq < $2 ORDER BY event_seq DESC LIMIT $3"
        ))
        .await
        .map_err(err)?;
    c.query(
        &stmt,
        &[&webhook, &before_seq.unwrap_or(i64::MAX), &i64::from(limit)],
    )
    .await
    .map_err(err)?
    .iter()
    .map(delivery_from_row)
    .collect()
}

pub async fn redeliver(
    c: &Conn,
    webhook: Uuid,
    delivery: Uuid,
    now: OffsetDateTime,
) -> StoreResult<Delivery> {
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3,
                updated_at = $3
             WHERE id = $2 AND webhook_id = $1
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .await
        .map_err(err)?;
    c.query_opt(&stmt, &[&webhook, &delivery, &micros_precision(now)])
        .await
        .map_err(err)?
        .as_ref()
        .map(delivery_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

pub async fn purge(c: &Conn, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached(
            "DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> 'pending' AND updated_at < $1 LIMIT $2)",
        )
        .await
        .map_err(err)?;
    c.execute(&stmt, &[&micros_precision(before), &i64::from(limit)])
        .await
        .map_err(err)
}
