//! The accept loop. `axum::serve` has no header-size limit, no header or
//! idle timeout, no connection cap and no shutdown deadline, so one slow
//! client could hold memory and keep a stop signal from finishing. This
//! serves the same router with hyper's own connection builder and those
//! limits; HTTP parsing stays hyper's.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::HttpConfig;

/// hyper refuses a read buffer smaller than this.
const MIN_BUF: usize = 8192;

/// Serves `app` on `listener` with the limits of `http` until `shutdown`
/// completes; then stops accepting, lets requests in flight finish for up
/// to `http.shutdown_timeout`, and closes what is still open.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    http: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_read_timeout)
        // The read buffer's cap is the header limit: a head that does not
        // fit, finished or not, is answered 431 and the connection closed,
        // so an unfinished header holds at most this much memory.
        .max_buf_size(http.max_header_bytes.max(MIN_BUF));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(http.max_header_bytes).unwrap_or(u32::MAX));
    let permits = Arc::new(Semaphore::new(http.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let idle_timeout = http.idle_timeout;
    let closed = Arc::new(AtomicUsize::new(0));
    let trimmer = tokio::spawn(trim_after_bursts(closed.clone()));
    let mut shutdown = pin!(shutdown);
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        // A permit first: at the cap, clients wait in the listen backlog
        // instead of each holding a buffer here.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let app = app.clone();
        let in_flight = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // What `into_make_service_with_connect_info` would insert: the
            // rate limiter keys on it.
            req.extensions_mut().insert(ConnectInfo(remote));
            let guard = InFlight::enter(in_flight.clone());
            let app = app.clone();
            async move {
                let resp = app.oneshot(req).await;
                drop(guard);
                resp
            }
        });
        let watched = graceful.watch(builder.serve_connection(io, service).into_owned());
        let closed = closed.clone();
        connections.spawn(async move {
            let _permit = permit;
            let _closed = Closed(closed);
            let mut conn = pin!(watched);
            loop {
                let wake = activity.idle_deadline(idle_timeout);
                tokio::select! {
                    result = &mut conn => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, client = %remote, "connection ended with an error");
                        }
                        return;
                    }
                    () = tokio::time::sleep_until(wake.into()) => {
                        if activity.idle_for() >= idle_timeout && activity.in_flight() == 0 {
                            tracing::debug!(client = %remote, "closing idle connection");
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    trimmer.abort();
    while connections.try_join_next().is_some() {}
    let open = connections.len();
    tracing::info!(
        connections = open,
        "stopped accepting; finishing requests in flight"
    );
    let deadline = tokio::time::sleep(http.shutdown_timeout);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = deadline => {
            tracing::warn!(
                connections = connections.len(),
                "shutdown deadline passed; closing the connections still open"
            );
        }
    }
    connections.shutdown().await;
    Ok(())
}

/// Counts a connection as closed when its task ends, however it ends.
struct Closed(Arc<AtomicUsize>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Connections closed since the last trim that make a trim worth it.
const TRIM_AFTER_CLOSED: usize = 256;

/// glibc's malloc keeps the memory of freed connection buffers in its
/// arenas: after 2,000 slow clients left, ~150 MB stayed resident. After a
/// burst of closed connections this hands free pages back to the system.
async fn trim_after_bursts(closed: Arc<AtomicUsize>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if closed.load(Ordering::Relaxed) >= TRIM_AFTER_CLOSED {
            closed.store(0, Ordering::Relaxed);
            // A walk over the heap: off the async workers.
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns unused heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// When a connection last moved bytes and how many of its requests are
/// being handled.
struct Activity {
    started: Instant,
    /// Milliseconds since `started` of the last read or write.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    fn idle_for(&self) -> Duration {
        self.last().elapsed()
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        // Checked again at least every `idle` while a request is in flight.
        (self.last() + idle).max(Instant::now() + Duration::from_millis(100))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Counts a request as in flight until its handler has answered (or its
/// future is dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(a)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A TCP stream that records when bytes last moved.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() != before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
