//! Group commit: one thread owns the only writing connection. Requests queue
//! up while a commit's fsync runs; the next transaction takes all of them at
//! once, each inside its own savepoint so one failure (a duplicate username)
//! does not undo its neighbours. Every request is answered only after the
//! transaction holding it is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use roster_core::store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::classify;

/// Runs inside the batch transaction (or learns that none could begin) and
/// returns what to send once the commit's outcome is known.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), Failure>) + Send>;

/// Why a batch did not commit; cloned to every request in it.
#[derive(Clone)]
struct Failure {
    /// The disk or file system failed (full, I/O error, read-only): not a
    /// bug, and it may pass.
    storage: bool,
    message: String,
}

impl Failure {
    fn of(e: &rusqlite::Error) -> Self {
        Failure {
            storage: matches!(classify(e), StoreError::Unavailable(_)),
            message: e.to_string(),
        }
    }

    fn into_error(self) -> StoreError {
        if self.storage {
            StoreError::Unavailable(self.message)
        } else {
            StoreError::Backend(self.message)
        }
    }
}

enum Msg {
    Job(Job),
    /// Checkpoint, close the connection and stop; answered when done.
    Close(mpsc::Sender<()>),
}

/// Most requests one transaction takes; bounds the latency of the first.
const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Msg>,
    /// Set when a write failed for a storage reason, cleared by the next
    /// commit that wrote something: the readiness probe reports it.
    storage_failed: Arc<AtomicBool>,
}

impl Writer {
    pub fn start(conn: Connection) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let storage_failed = Arc::new(AtomicBool::new(false));
        let flag = storage_failed.clone();
        let handle = thread::Builder::new()
            .name("roster-sqlite-writer".into())
            .spawn(move || run(conn, rx, flag))?;
        Ok((
            Self {
                queue: tx,
                storage_failed,
            },
            handle,
        ))
    }

    /// Whether the last write that touched the disk failed for a storage reason.
    pub fn storage_failed(&self) -> bool {
        self.storage_failed.load(Ordering::Relaxed)
    }

    /// Runs `f` in the next batch transaction and returns its result once
    /// that transaction has committed (or the error that stopped it).
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let flag = self.storage_failed.clone();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(|conn| in_savepoint(conn, f));
            Box::new(move |committed| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(e) => Err(e.into_error()),
                };
                if matches!(outcome, Err(StoreError::Unavailable(_))) {
                    flag.store(true, Ordering::Relaxed);
                }
                let _ = tx.send(outcome);
            })
        });
        self.queue
            .send(Msg::Job(job))
            .map_err(|_| StoreError::Backend("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("writer dropped a request".into()))?
    }

    /// Finishes the queued writes, checkpoints the WAL into the database
    /// and closes the connection. Blocks until done; later writes fail.
    pub fn close(&self) {
        let (tx, rx) = mpsc::channel();
        if self.queue.send(Msg::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// Runs one of the writer's own fixed statements, prepared once (parsing
/// them on every request cost as much as a small insert).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    exec(conn, "SAVEPOINT job").map_err(|e| classify(&e))?;
    let result = f(conn);
    let end = if result.is_ok() {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    if let Err(e) = end {
        // After a storage error SQLite may have rolled the whole
        // transaction back already; report the error that caused it.
        return Err(match result {
            Err(first @ StoreError::Unavailable(_)) => first,
            _ => classify(&e),
        });
    }
    result
}

fn run(conn: Connection, rx: mpsc::Receiver<Msg>, storage_failed: Arc<AtomicBool>) {
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    // Blocks until the first job; ends when every sender is gone or on Close.
    while let Ok(first) = rx.recv() {
        let first = match first {
            Msg::Job(job) => job,
            Msg::Close(done) => {
                closing = Some(done);
                break;
            }
        };
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin write transaction");
            let failure = Failure::of(&e);
            first(Err(failure.clone().into_error()))(Err(failure));
            continue;
        }
        let changes_before = conn.total_changes();
        let mut panicked = !run_job(&conn, first, &mut replies);
        while !panicked && replies.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => panicked = !run_job(&conn, job, &mut replies),
                Ok(Msg::Close(done)) => {
                    closing = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        let committed = if panicked {
            // A bug in one job: undo the whole batch rather than commit
            // half of the panicking job's work; everyone in it gets an error.
            let _ = conn.execute_batch("ROLLBACK");
            Err(Failure {
                storage: false,
                message: "a write failed unexpectedly".into(),
            })
        } else if conn.is_autocommit() {
            // SQLite rolls a transaction back by itself only after a
            // storage failure (disk full, I/O error): nothing was written.
            Err(Failure {
                storage: true,
                message: "the storage engine rolled the transaction back".into(),
            })
        } else {
            exec(&conn, "COMMIT").map_err(|e| {
                tracing::error!(error = %e, "write transaction failed to commit");
                let _ = conn.execute_batch("ROLLBACK");
                Failure::of(&e)
            })
        };
        match &committed {
            Err(f) if f.storage => storage_failed.store(true, Ordering::Relaxed),
            // Only a commit that wrote something proves the disk takes
            // writes again; an empty one succeeds even on a full disk.
            Ok(()) if conn.total_changes() != changes_before => {
                storage_failed.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
        for reply in replies.drain(..) {
            reply(committed.clone());
        }
        if closing.is_some() {
            break;
        }
    }
    // Leave a checkpointed, empty WAL behind; closing the last connection
    // then removes it.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the database failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs one job, keeping the writer alive if it panics (its caller then
/// gets an error, as its reply channel is dropped). Returns false on panic.
fn run_job(conn: &Connection, job: Job, replies: &mut Vec<Reply>) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(conn)))) {
        Ok(reply) => {
            replies.push(reply);
            true
        }
        Err(_) => {
            tracing::error!("a write job panicked; its batch is rolled back");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_fails_its_batch_but_not_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let (writer, _thread) = Writer::start(conn).unwrap();
        let bad = writer
            .write(|_: &Connection| -> StoreResult<()> { panic!("bug in a job") })
            .await;
        assert!(bad.is_err());
        let good = writer
            .write(|c: &Connection| {
                c.execute("INSERT INTO t (x) VALUES (1)", [])
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(good, 1, "the writer still works after a panic");
    }
}
