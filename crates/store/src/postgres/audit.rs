//! SQL for the hash-chained audit log on PostgreSQL.

use roster_core::audit::{AuditEvent, AuditQuery, AuditRecord, Outcome, chain_hash};
use roster_core::store::StoreResult;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{Conn, PgResult, err, micros_precision};

use crate::columns::AUDIT_COLUMNS;

/// Appends `events` after the newest event, in the caller's transaction.
/// The chain head row is locked until that transaction ends, so appends
/// from every node take turns and the chain has no gaps or forks; the
/// writer calls this last, just before committing, to hold it briefly.
pub async fn append_all(c: &Conn, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let head = c
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .await
        .map_err(err)?;
    let row = c.query_one(&head, &[]).await.map_err(err)?;
    let (mut seq, mut prev): (i64, String) =
        (row.try_get(0).map_err(err)?, row.try_get(1).map_err(err)?);
    let n = events.len();
    let mut cols = Columns::with_capacity(n);
    for e in events {
        seq += 1;
        // Stored at microsecond precision: hash what will be read back.
        let mut e = e.clone();
        e.at = micros_precision(e.at);
        let hash = chain_hash(&prev, seq, &e);
        cols.push(seq, &e, std::mem::replace(&mut prev, hash.clone()), hash);
    }
    let insert = c
        .prepare_cached(&format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS})
             SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::uuid[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::text[],
                $13::text[], $14::text[], $15::text[])"
        ))
        .await
        .map_err(err)?;
    let advance = c
        .prepare_cached("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .await
        .map_err(err)?;
    // One round trip for both; if the insert fails, the update fails in
    // the aborted transaction too, and the caller does not commit.
    let params = cols.params();
    let head: [&(dyn ToSql + Sync); 2] = [&seq, &prev];
    let (inserted, advanced) =
        tokio::join!(c.execute(&insert, &params), c.execute(&advance, &head));
    inserted.map_err(err)?;
    advanced.map_err(err)?;
    Ok(())
}

/// The events of one append, column by column, for `unnest`.
struct Columns {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    at: Vec<OffsetDateTime>,
    actor_id: Vec<Option<Uuid>>,
    actor: Vec<Option<String>>,
    action: Vec<String>,
    target_kind: Vec<Option<String>>,
    target_id: Vec<Option<String>>,
    container_id: Vec<Option<Uuid>>,
    outcome: Vec<&'static str>,
    request_id: Vec<Option<String>>,
    source: Vec<Option<String>>,
    details: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Columns {
            seq: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            actor_id: Vec::with_capacity(n),
            actor: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            target_kind: Vec::with_capacity(n),
            target_id: Vec::with_capacity(n),
            container_id: Vec::with_capacity(n),
            outcome: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            details: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, seq: i64, e: &AuditEvent, prev_hash: String, hash: String) {
        self.seq.push(seq);
        self.id.push(e.id);
        self.at.push(e.at);
        self.actor_id.push(e.actor_id);
        self.actor.push(e.actor.clone());
        self.action.push(e.action.clone());
        self.target_kind.push(e.target_kind.clone());
        self.target_id.push(e.target_id.clone());
        self.container_id.push(e.container_id);
        self.outcome.push(e.outcome.as_str());
        self.request_id.push(e.request_id.clone());
        self.source.push(e.source.clone());
        self.details.push(e.details.clone());
        self.prev_hash.push(prev_hash);
        self.hash.push(hash);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.seq,
            &self.id,
            &self.at,
            &self.actor_id,
            &self.actor,
            &self.action,
            &self.target_kind,
            &self.target_id,
            &self.container_id,
            &self.outcome,
            &self.request_id,
            &self.source,
            &self.details,
            &self.prev_hash,
            &self.hash,
        ]
    }
}

fn record(r: &Row) -> PgResult<AuditRecord> {
    let outcome: String = r.try_get(9)?;
    Ok(AuditRecord {
        seq: r.try_get(0)?,
        event: AuditEvent {
            id: r.try_get(1)?,
            at: r.try_get(2)?,
            actor_id: r.try_get(3)?,
            actor: r.try_get(4)?,
            action: r.try_get(5)?,
            target_kind: r.try_get(6)?,
            target_id: r.try_get(7)?,
            container_id: r.try_get(8)?,
            // An unreadable outcome fails verification rather than loading.
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failure),
            request_id: r.try_get(10)?,
            source: r.try_get(11)?,
            details: r.try_get(12)?,
        },
        prev_hash: r.try_get(13)?,
        hash: r.try_get(14)?,
    })
}

pub async fn list(c: &Conn, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    let before = q.before_seq.unwrap_or(i64::MAX);
    let outcome = q.outcome.map(|o| o.as_str());
    // One statement for every filter combination: an absent filter is NULL.
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq < $1
               AND ($2::uuid IS NULL OR actor_id = $2)
               AND ($3::text IS NULL OR action = $3)
               AND ($4::text IS NULL OR target_id = $4)
               AND ($5::text IS NULL OR outcome = $5)
               AND ($6::timestamptz IS NULL OR at >= $6)
               AND ($7::timestamptz IS NULL OR at < $7)
             ORDER BY seq DESC LIMIT $8"
        ))
        .await
        .map_err(err)?;
    let rows = c
        .query(
            &stmt,
            &[
                &before,
                &q.actor_id,
                &q.action,
                &q.target_id,
                &outcome,
                &q.since,
                &q.until,
                &(q.limit as i64),
            ],
        )
        .await
        .map_err(err)?;
    rows.iter()
        .map(record)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn chain(c: &Conn, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .await
        .map_err(err)?;
    let rows = c
        .query(&stmt, &[&after_seq, &(limit as i64)])
        .await
        .map_err(err)?;
    rows.iter()
        .map(record)
        .collect::<PgResult<_>>()
        .map_err(err)
}
