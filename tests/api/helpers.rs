//! Shared test scaffolding: an in-process server on a random port over a
//! fresh database, and a way to run the real binary.
//!
//! The backend is SQLite (a temp file) unless `ROSTER_TEST_BACKEND=postgres`,
//! which runs the whole suite on a PostgreSQL database of each test's own,
//! made on the server `ROSTER_TEST_POSTGRES_URL` names (`.ci/run` runs the
//! suite both ways).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};
use roster_core::lockout::LockoutPolicy;
use roster_core::password::HashCost;
use roster_core::store::Store;
use roster_core::{Roster, RosterConfig, Secret};
use roster_server::HttpConfig;
use roster_store::testing::{self, TempDatabase};
use roster_store::{PgOptions, PgStore, SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef-0123456789";
pub const ADMIN_PASSWORD: &str = "Adm1n-Passw0rd-for-tests";

pub struct TestApp {
    pub addr: SocketAddr,
    /// The core behind the server (to run housekeeping in a test).
    pub roster: Arc<Roster>,
    pub client: Client,
    pub dir: TempDir,
    backend: TestBackend,
}

/// The database under a test app, kept so a test can reach behind the
/// server's back (to break or inspect it) on whichever backend runs.
enum TestBackend {
    Sqlite,
    Postgres { store: PgStore, _db: TempDatabase },
}

/// Whether this run of the suite is on PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var("ROSTER_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("ROSTER_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
    }
}

/// A fresh store of the backend under test.
async fn test_store(dir: &TempDir) -> (Arc<dyn Store>, TestBackend) {
    if on_postgres() {
        let base = testing::postgres_url().unwrap_or_else(|| {
            panic!(
                "ROSTER_TEST_BACKEND=postgres needs {}",
                testing::POSTGRES_URL_VAR
            )
        });
        let db = TempDatabase::create(&base).await;
        let store = PgStore::open(&db.url, PgOptions::default())
            .await
            .expect("postgres store");
        (
            Arc::new(store.clone()),
            TestBackend::Postgres { store, _db: db },
        )
    } else {
        let store =
            SqliteStore::open(&dir.path().join("roster.db"), SqliteOptions::default()).unwrap();
        (Arc::new(store), TestBackend::Sqlite)
    }
}

pub struct Options {
    pub http: HttpConfig,
    pub core: RosterConfig,
}

/// Cheap hashing so tests stay fast; the real cost is measured in the bench.
pub fn cheap_core() -> RosterConfig {
    RosterConfig {
        hash_cost: HashCost {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        hash_workers: 2,
        hash_queue: 256,
        // Long enough that a throttled attempt is still throttled however
        // slow the machine is between two requests.
        lockout: LockoutPolicy {
            first_wait_secs: 60,
            ..LockoutPolicy::new(10, 900)
        },
        ..RosterConfig::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            http: HttpConfig {
                rate_limit_per_second: 0,
                ..HttpConfig::default()
            },
            core: cheap_core(),
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(opts: Options) -> Self {
        Self::with_mail(opts, None).await
    }

    /// A server whose mail goes to this SMTP server (none: mail is off).
    pub async fn with_mail(opts: Options, mail: Option<roster_server::mail::MailConfig>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, test_backend) = test_store(&dir).await;
        let backend: Arc<dyn Store> = store;
        let mut roster = Roster::new(backend, opts.core).await.unwrap();
        if let Some(mail) = mail {
            roster = roster.with_mailer(Arc::new(
                roster_server::mail::SmtpMailer::new(&mail).unwrap(),
            ));
        }
        let roster = Arc::new(roster);
        roster
            .bootstrap(
                Some(Secret::new(ADMIN_KEY)),
                Some(Secret::new(ADMIN_PASSWORD)),
            )
            .await
            .unwrap();
        let app = roster_server::app(roster.clone(), opts.http.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(roster_server::serve_with(
            listener,
            app,
            opts.http,
            std::future::pending(),
        ));
        TestApp {
            addr,
            roster,
            client: Client::new(),
            dir,
            backend: test_backend,
        }
    }

    /// Starts delivering webhooks, as `roster serve` does.
    pub fn start_webhooks(&self) {
        roster_server::webhooks::start(self.roster.clone()).unwrap();
    }

    /// Runs SQL on the database behind the server's back (statements both
    /// backends understand), to break it or to play an attacker with
    /// direct access.
    pub async fn sql(&self, statements: &str) {
        match &self.backend {
            TestBackend::Sqlite => rusqlite::Connection::open(self.dir.path().join("roster.db"))
                .unwrap()
                .execute_batch(statements)
                .unwrap(),
            TestBackend::Postgres { store, .. } => store.execute_batch(statements).await.unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// One request with one credential header (each face has its own) and
    /// an optional JSON body; the status and the JSON body back.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        header: (&str, &str),
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header(header.0, header.1);
        if let Some(b) = body {
            req = req.json(&b);
        }
        parts(req.send().await.unwrap()).await
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(ADMIN_KEY)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .patch(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(ADMIN_KEY)
    }

    /// Creates a user and returns its body (asserting 201).
    pub async fn create_user(&self, body: Value) -> Value {
        let resp = self.post_json("/api/v1/users", &body).send().await.unwrap();
        let status = resp.status();
        let body = resp.json::<Value>().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Status and JSON body of a response.
pub async fn parts(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts a problem+json body with the given status and, if given, the
/// (field, rule) of its first error.
pub fn assert_problem(status: u16, body: &Value, expected: u16, field_rule: Option<(&str, &str)>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:roster:problem:"),
        "{body}"
    );
    assert!(body["request_id"].is_string(), "{body}");
    if let Some((field, rule)) = field_rule {
        let errors = body["errors"].as_array().expect("errors list");
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["rule"] == rule),
            "expected {field}/{rule} in {body}"
        );
    }
}

/// The real `roster` binary, serving on a free port over `db`.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr_path: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Binary {
    pub fn start(dir: &std::path::Path, db: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_url(dir, &format!("sqlite://{}", db.display()), env)
    }

    /// Serves the database at `url` (any URL `roster serve` accepts).
    pub fn start_url(dir: &std::path::Path, url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let stderr_path = dir.join(format!("stderr-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
        cmd.arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROSTER_LISTEN", addr.to_string())
            .env("ROSTER_DATABASE_URL", url)
            .env("ROSTER_HASH_MEMORY_KIB", "1024")
            .env("ROSTER_HASH_ITERATIONS", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let bin = Binary {
            child,
            addr,
            stderr_path,
        };
        bin.wait_ready();
        bin
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("roster did not start: {}", self.stderr());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Stops the server as an operator would (SIGTERM) and waits for it to
    /// exit, so the database is checkpointed and closed.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let started = std::time::Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "did not stop: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a Python package importable from `site`, installing it there from
/// PyPI on first use (the client tests need no system-wide install).
pub fn ensure_python_package(site: &std::path::Path, module: &str, requirement: &str) {
    let importable = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .env("PYTHONPATH", site)
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        return;
    }
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(site)
        .arg(requirement)
        .output()
        .expect("python3 is needed for the client tests");
    assert!(
        out.status.success(),
        "pip install {requirement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
