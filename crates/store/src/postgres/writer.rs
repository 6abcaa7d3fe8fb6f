//! Group commit on PostgreSQL, as the SQLite writer does it: one thread
//! per node, with a connection of its own, takes every write queued while
//! the previous commit ran, runs each in its own savepoint (a duplicate
//! username undoes only its own request), appends all their audit events
//! in one statement under the chain-head lock, and commits once. Nodes'
//! writers take turns only on that lock, which each holds just for its
//! append and commit.
//!
//! A thread (with a runtime of its own) rather than a task: a batch waits
//! on a chain of round trips, and on the server's runtime each of them
//! queued behind the HTTP tasks (measured: batches of ~31 took 15 ms and
//! durable creates stalled at ~2,000/s with the CPU half idle).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::ClientWrapper;
use futures_util::FutureExt as _;
use roster_core::audit::AuditEvent;
use roster_core::store::{StoreError, StoreResult};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::NoTls;

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

/// Writer threads per node, each with its own connection: while one holds
/// the chain head through its append and commit, the next runs its batch's
/// statements. They meet only where any two nodes' writers would (the
/// database's constraints, and the head lock taken last).
const WRITERS: usize = 2;

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Job>,
}

impl Writer {
    pub fn start(config: tokio_postgres::Config) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..WRITERS {
            let (config, rx) = (config.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("roster-pg-writer-{n}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(run(config, rx)),
                        // Every write then fails with "writer stopped".
                        Err(e) => {
                            tracing::error!(error = %e, "cannot start the PostgreSQL writer")
                        }
                    }
                })?;
        }
        Ok(Writer { queue: tx })
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

/// The writer's own connection, driven on the writer's runtime.
async fn connect(config: &tokio_postgres::Config) -> Result<ClientWrapper, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the PostgreSQL writer's connection ended");
        }
    });
    Ok(ClientWrapper::new(client, driver))
}

/// The next batch: what is queued (at least one request, waited for).
async fn next_batch(rx: &Mutex<mpsc::UnboundedReceiver<Job>>) -> Option<Vec<Job>> {
    let mut rx = rx.lock().await;
    let mut batch = vec![rx.recv().await?];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn run(config: tokio_postgres::Config, rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    let mut conn: Option<ClientWrapper> = None;
    while let Some(batch) = next_batch(&rx).await {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            conn = match connect(&config).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "no database connection for a write batch");
                    let failure = StoreError::Unavailable(e.to_string());
                    for job in batch {
                        (job(None).await.reply)(Err(copy(&failure)));
                    }
                    continue;
                }
            };
        }
        let Some(c) = &conn else { continue };
        let size = batch.len();
        let started = std::time::Instant::now();
        // A request that panics fails its batch (its callers hear that the
        // writer dropped them), not the writer: the connection, and with
        // it the open transaction, goes, and the next batch gets a new one.
        if AssertUnwindSafe(commit(c, batch))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!(size, "a write batch panicked; its requests failed");
            conn = None;
            continue;
        }
        tracing::trace!(
            size,
            micros = started.elapsed().as_micros() as u64,
            "write batch"
        );
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
    // Each request runs inside savepoint `w`. The bookkeeping statements
    // (BEGIN, ending one request's savepoint and opening the next, and a
    // failed request's `ROLLBACK TO`, which leaves `w` open) are owed
    // until the next statement and sent in the same round trip as it:
    // the driver pipelines requests issued together, and PostgreSQL runs
    // them in order. Round trips are what a batch waits on when the
    // machine is busy.
    let mut owed: Option<&'static str> = Some(if alone { "BEGIN" } else { "BEGIN; SAVEPOINT w" });
    let mut failure: Option<StoreError> = None;
    let last = batch.len().saturating_sub(1);
    for (i, job) in batch.into_iter().enumerate() {
        if failure.is_some() {
            // The transaction is gone; run nothing more, answer with why.
            replies.push(job(None).await.reply);
            continue;
        }
        let (sent, ran) = tokio::join!(pay(c, owed.take()), job(Some(c)));
        if let Err(e) = sent {
            // The request ran outside a sound transaction: the batch fails.
            failure = Some(e);
        }
        if !alone {
            owed = Some(match (ran.ok, i == last) {
                (true, false) => "RELEASE SAVEPOINT w; SAVEPOINT w",
                (true, true) => "RELEASE SAVEPOINT w",
                (false, _) => "ROLLBACK TO SAVEPOINT w",
            });
        }
        if ran.ok {
            any_ok = true;
            events.extend(ran.events);
        }
        replies.push(ran.reply);
    }
    if failure.is_none() {
        let (sent, appended) = tokio::join!(pay(c, owed.take()), audit::append_all(c, &events));
        failure = sent.err().or(appended.err());
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

/// Sends the statements owed, if any.
async fn pay(c: &Conn, owed: Option<&'static str>) -> StoreResult<()> {
    match owed {
        Some(sql) => c.batch_execute(sql).await.map_err(err),
        None => Ok(()),
    }
}
