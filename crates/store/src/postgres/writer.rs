//! Group commit on PostgreSQL, as the SQLite writer does it: one task per
//! node takes every write queued while the previous commit ran, runs each
//! in its own savepoint (a duplicate username undoes only its own request),
//! appends all their audit events in one statement under the chain-head
//! lock, and commits once. Nodes' writers take turns only on that lock,
//! which each holds just for its append and commit.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Pool;
use roster_core::audit::AuditEvent;
use roster_core::store::{StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

use super::{Conn, audit, err};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a job left once it ran: whether it succeeded, the audit events
/// to append if so, and how to answer once the commit's outcome is known.
struct Ran {
    ok: bool,
    events: Vec<AuditEvent>,
    reply: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// Given no connection, a job does not run: it only prepares its answer
/// (the batch's failure), so every caller hears why.
type Job = Box<dyn for<'c> FnOnce(Option<&'c Conn>) -> BoxFut<'c, Ran> + Send>;

/// Most requests one transaction takes; bounds the latency of the first.
/// Kept under PostgreSQL's 64 cached subtransactions per backend: past
/// that, every other session's snapshot has to consult `pg_subtrans`
/// ("suboverflowed"), which slows every node's reads.
const MAX_BATCH: usize = 48;

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Job>,
}

impl Writer {
    pub fn start(pool: Pool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Writer { queue: tx }
    }

    /// Runs `f` in the next batch transaction, appends `events` if it
    /// succeeds, and returns its result once that transaction committed.
    pub async fn write<T, F>(&self, events: Vec<AuditEvent>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                let result = match c {
                    Some(c) => f(c).await,
                    None => Err(StoreError::Backend("not run".into())),
                };
                let ok = result.is_ok();
                Ran {
                    ok,
                    events: if ok { events } else { Vec::new() },
                    reply: Box::new(move |committed| {
                        let _ = tx.send(committed.and(result));
                    }),
                }
            })
        });
        self.queue
            .send(job)
            .map_err(|_| StoreError::Backend("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("writer dropped a request".into()))?
    }
}

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match pool.get().await {
            Ok(conn) => commit(&conn, batch).await,
            Err(e) => {
                tracing::warn!(error = %e, "no database connection for a write batch");
                let failure = StoreError::Unavailable(e.to_string());
                for job in batch {
                    (job(None).await.reply)(Err(copy(&failure)));
                }
            }
        }
    }
}

/// Why the batch did not commit, for every request in it.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

async fn commit(c: &Conn, batch: Vec<Job>) {
    // Alone in its transaction, a request needs no savepoint: if it
    // fails, the whole transaction is rolled back.
    let alone = batch.len() == 1;
    let mut replies = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let mut any_ok = false;
    // Each request runs inside savepoint `w`: one round trip both ends
    // the previous request's savepoint and opens the next one, and a
    // failed request's `ROLLBACK TO` leaves `w` open for the next.
    let begin = if alone { "BEGIN" } else { "BEGIN; SAVEPOINT w" };
    let mut failure: Option<StoreError> = c.batch_execute(begin).await.err().map(err);
    let last = batch.len().saturating_sub(1);
    for (i, job) in batch.into_iter().enumerate() {
        if failure.is_some() {
            // The transaction is gone; run nothing more, answer with why.
            replies.push(job(None).await.reply);
            continue;
        }
        let ran = job(Some(c)).await;
        if !alone {
            let step = match (ran.ok, i == last) {
                (true, false) => "RELEASE SAVEPOINT w; SAVEPOINT w",
                (true, true) => "RELEASE SAVEPOINT w",
                (false, _) => "ROLLBACK TO SAVEPOINT w",
            };
            if let Err(e) = c.batch_execute(step).await {
                failure = Some(err(e));
            }
        }
        if ran.ok {
            any_ok = true;
            events.extend(ran.events);
        }
        replies.push(ran.reply);
    }
    if failure.is_none()
        && let Err(e) = audit::append_all(c, &events).await
    {
        failure = Some(e);
    }
    let outcome = match failure {
        // A request alone that failed may have written part of its work
        // before failing without a database error: undo it, and let it
        // answer with its own error.
        None if alone && !any_ok => c.batch_execute("ROLLBACK").await.map_err(err),
        None => c.batch_execute("COMMIT").await.map_err(err),
        Some(e) => Err(e),
    };
    if outcome.is_err() {
        // The connection may be broken; the pool checks it when it comes back.
        let _ = c.batch_execute("ROLLBACK").await;
    }
    for reply in replies {
        reply(match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(copy(e)),
        });
    }
}
