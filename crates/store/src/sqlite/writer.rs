//! Group commit: one thread owns the only writing connection. Requests queue
//! up while a commit's fsync runs; the next transaction takes all of them at
//! once, each inside its own savepoint so one failure (a duplicate username)
//! does not undo its neighbours. Every request is answered only after the
//! transaction holding it is on disk.

use std::sync::mpsc;
use std::thread;

use roster_core::store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Runs inside the batch transaction and returns what to send once the
/// commit's outcome is known.
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Most requests one transaction takes; bounds the latency of the first.
const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(conn: Connection) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = thread::Builder::new()
            .name("roster-sqlite-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok((Self { queue: tx }, handle))
    }

    /// Runs `f` in the next batch transaction and returns its result once
    /// that transaction has committed (or the error that stopped it).
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |committed| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Backend(e)),
                };
                let _ = tx.send(outcome);
            })
        });
        self.queue
            .send(job)
            .map_err(|_| StoreError::Backend("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("writer dropped a request".into()))?
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT job")
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    result
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    // Blocks until the first job; ends when every sender is gone.
    while let Ok(first) = rx.recv() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "cannot begin write transaction");
            // Dropping the job drops its reply channel: the caller gets an error.
            drop(first);
            continue;
        }
        let mut panicked = !run_job(&conn, first, &mut replies);
        while !panicked && replies.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => panicked = !run_job(&conn, job, &mut replies),
                Err(_) => break,
            }
        }
        let committed = if panicked {
            // A bug in one job: undo the whole batch rather than commit
            // half of the panicking job's work; everyone in it gets an error.
            let _ = conn.execute_batch("ROLLBACK");
            Err("a write failed unexpectedly".to_string())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| {
                let msg = e.to_string();
                tracing::error!(error = %msg, "write transaction failed to commit");
                let _ = conn.execute_batch("ROLLBACK");
                msg
            })
        };
        for reply in replies.drain(..) {
            reply(committed.clone());
        }
    }
    // Leave a checkpointed, small WAL behind on shutdown.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Runs one job, keeping the writer alive if it panics (its caller then
/// gets an error, as its reply channel is dropped). Returns false on panic.
fn run_job(conn: &Connection, job: Job, replies: &mut Vec<Reply>) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))) {
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
