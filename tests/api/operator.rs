//! The operator's commands through the real binary: users, keys, roles,
//! backup, healthcheck, completions and the man page, and their errors
//! (one line on standard error, exit status 1, never a backtrace).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::{ADMIN_KEY, Binary, free_port};

/// An audit event's actor name, actor id and source.
type AuditActor = (Option<String>, Option<Vec<u8>>, Option<String>);

/// A temporary SQLite database made by `roster migrate`.
struct Db {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.db");
        let db = Db { dir, path };
        db.ok(&["migrate"]);
        db
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn run(&self, args: &[&str]) -> Output {
        roster(&self.url(), args, None)
    }

    /// Runs and expects success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "roster {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn audit_actors(&self, action: &str) -> Vec<AuditActor> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let mut stmt = conn
            .prepare("SELECT actor, actor_id, source FROM audit_events WHERE action = ?1")
            .unwrap();
        stmt.query_map([action], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

/// `roster ARGS` over `url`, with `RUST_BACKTRACE=1` so that a backtrace
/// would show if an error printed one.
fn roster(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_HASH_MEMORY_KIB", "1024")
        .env("ROSTER_HASH_ITERATIONS", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Exit status 1 and one line on standard error containing `expected`,
/// with no backtrace.
fn assert_one_line_error(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(expected), "{expected:?} in {stderr:?}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "no backtrace: {stderr}"
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn users_are_created_listed_shown_disabled_and_given_passwords() {
    let db = Db::new();
    let out = db.ok(&["users", "create", "alice", "--email", "alice@example.com"]);
    assert!(out.contains("created user alice"), "{out}");
    db.ok(&["users", "create", "bob"]);

    let listed = json(&db.ok(&["users", "list", "--output", "json"]));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let text = db.ok(&["users", "list"]);
    assert!(text.contains("alice@example.com"), "{text}");
    // Paging by hand: the first user's seq, then everything after it.
    let first = json(&db.ok(&["users", "list", "--limit", "1", "--output", "json"]));
    assert_eq!(first.as_array().unwrap().len(), 1);
    let seq = first[0]["seq"].to_string();
    let rest = json(&db.ok(&["users", "list", "--after", &seq, "--output", "json"]));
    assert_eq!(rest[0]["username"], "bob");

    let alice = json(&db.ok(&["users", "show", "alice", "--output", "json"]));
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["has_password"], false);
    assert!(
        db.ok(&["users", "show", "alice"])
            .contains("alice@example.com")
    );

    // The password from standard input's first line, never from argv.
    let out = roster(
        &db.url(),
        &["users", "set-password", "alice"],
        Some("a long enough password 9876\nignored\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alice = json(&db.ok(&["users", "show", "alice", "--output", "json"]));
    assert_eq!(alice["has_password"], true);

    db.ok(&["users", "disable", "alice"]);
    let alice = json(&db.ok(&["users", "show", "alice", "--output", "json"]));
    assert_eq!(alice["active"], false);
    db.ok(&["users", "enable", "alice"]);
    let alice = json(&db.ok(&["users", "show", "alice", "--output", "json"]));
    assert_eq!(alice["active"], true);

    // The operator is the audit trail's actor `cli`, with no user id.
    for action in ["user.create", "user.update"] {
        let events = db.audit_actors(action);
        assert!(!events.is_empty(), "{action} audited");
        for (actor, actor_id, source) in events {
            assert_eq!(actor.as_deref(), Some("cli"));
            assert_eq!(actor_id, None);
            assert_eq!(source.as_deref(), Some("cli"));
        }
    }
    let verify = db.ok(&["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
}

#[test]
fn user_commands_refuse_bad_input_in_one_line() {
    let db = Db::new();
    db.ok(&["users", "create", "carol"]);
    assert_one_line_error(
        &db.run(&["users", "show", "nobody"]),
        "no user named \"nobody\"",
    );
    assert_one_line_error(&db.run(&["users", "disable", "nobody"]), "no user named");
    assert_one_line_error(&db.run(&["users", "create", "carol"]), "username");
    assert_one_line_error(
        &db.run(&["users", "create", "dave", "--container", "nowhere"]),
        "no container named \"nowhere\"",
    );
    let weak = roster(
        &db.url(),
        &["users", "set-password", "carol"],
        Some("short\n"),
    );
    assert_one_line_error(&weak, "password");
    let empty = roster(&db.url(), &["users", "set-password", "carol"], Some(""));
    assert_one_line_error(&empty, "no password on standard input");

    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("absent.db").display());
    let out = roster(&missing, &["users", "list"], None);
    assert_one_line_error(&out, "no database at");
    assert!(
        !dir.path().join("absent.db").exists(),
        "a typo creates no database"
    );
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked() {
    let db = Db::new();
    db.ok(&["users", "create", "erin"]);
    let out = db.run(&["keys", "create", "--user", "erin", "--name", "ci"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        secret.starts_with("rst_"),
        "only the secret on stdout: {secret}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown this once"));

    let keys = json(&db.ok(&["keys", "list", "--user", "erin", "--output", "json"]));
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["name"], "ci");
    assert!(keys[0].get("secret").is_none(), "never the secret again");
    let id = keys[0]["id"].as_str().unwrap().to_string();
    assert!(db.ok(&["keys", "list"]).contains(&id), "everyone's keys");

    // The key works against a server on the same database.
    let server = Binary::start(db.dir.path(), &db.path, &[]);
    let me: Value = reqwest::Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "erin");
    server.stop();

    let restricted = db.run(&[
        "keys",
        "create",
        "--user",
        "erin",
        "--name",
        "ro",
        "--role",
        "Standard User",
    ]);
    assert!(
        restricted.status.success(),
        "{}",
        String::from_utf8_lossy(&restricted.stderr)
    );
    assert_one_line_error(
        &db.run(&[
            "keys", "create", "--user", "erin", "--name", "x", "--role", "nosuch",
        ]),
        "no role named \"nosuch\"",
    );
    assert_one_line_error(
        &db.run(&["keys", "create", "--user", "nobody", "--name", "x"]),
        "no user named",
    );

    assert!(db.ok(&["keys", "revoke", &id]).contains("revoked"));
    let keys = json(&db.ok(&["keys", "list", "--user", "erin", "--output", "json"]));
    let revoked = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_one_line_error(
        &db.run(&["keys", "revoke", "0191d5a2-7c3e-7b1a-9f2e-3c4d5e6f7a8b"]),
        "no API key with id",
    );
    assert_eq!(db.audit_actors("key.create")[0].0.as_deref(), Some("cli"));
}

#[test]
fn roles_are_listed_and_assigned() {
    let db = Db::new();
    db.ok(&["users", "create", "frank"]);
    let roles = json(&db.ok(&["roles", "list", "--output", "json"]));
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Administrator"),
        "{roles}"
    );
    assert!(db.ok(&["roles", "list"]).contains("users.read"));
    let out = db.ok(&[
        "roles",
        "assign",
        "--user",
        "frank",
        "--role",
        "Standard User",
    ]);
    assert!(out.contains("every object"), "{out}");
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let held: i64 = conn
        .query_row(
            "SELECT count(*) FROM role_assignments a JOIN users u ON u.id = a.user_id \
             WHERE u.username = 'frank'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(held, 1);
    assert_one_line_error(
        &db.run(&["roles", "assign", "--user", "frank", "--role", "nosuch"]),
        "no role named",
    );
    assert_one_line_error(
        &db.run(&[
            "roles",
            "assign",
            "--user",
            "frank",
            "--role",
            "Standard User",
            "--container",
            "nowhere",
        ]),
        "no container named",
    );
}

#[test]
fn backup_copies_a_database_in_use() {
    let db = Db::new();
    db.ok(&["users", "create", "gina"]);
    // A server writing to the database while it is copied.
    let server = Binary::start(
        db.dir.path(),
        &db.path,
        &[("ROSTER_ADMIN_API_KEY", ADMIN_KEY)],
    );
    let copy = db.dir.path().join("copy.db");
    let out = db.ok(&["backup", copy.to_str().unwrap()]);
    assert!(out.contains("backup written"), "{out}");
    server.stop();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let users: i64 = conn
        .query_row(
            "SELECT count(*) FROM users WHERE username = 'gina'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 1);
    drop(conn);
    // The copy is a roster database: the CLI reads it and its chain holds.
    let copy_url = format!("sqlite://{}", copy.display());
    let verify = roster(&copy_url, &["audit", "verify"], None);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    assert_one_line_error(&db.run(&["backup", copy.to_str().unwrap()]), "exists");
    let pg = roster(
        "postgres://nobody@127.0.0.1:1/none",
        &["backup", "x.db"],
        None,
    );
    assert_one_line_error(&pg, "pg_dump");
}

#[test]
fn healthcheck_exit_status_follows_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let server = Binary::start(dir.path(), &db, &[]);
    let url = format!("sqlite://{}", db.display());
    let ok = roster(&url, &["healthcheck", "--url", &server.url("")], None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // By default, the configured listen address.
    let by_config = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("healthcheck")
        .current_dir(dir.path())
        .env_clear()
        .env("ROSTER_LISTEN", server.addr.to_string())
        .output()
        .unwrap();
    assert!(
        by_config.status.success(),
        "{}",
        String::from_utf8_lossy(&by_config.stderr)
    );
    server.stop();
    let down = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(
        &roster(&url, &["healthcheck", "--url", &down], None),
        "unhealthy",
    );
    assert_one_line_error(
        &roster(&url, &["healthcheck", "--url", "https://example.com"], None),
        "http://",
    );
}

#[test]
fn completions_and_man_page_come_from_the_command_line_definition() {
    let db_less = "sqlite:///nonexistent/never-opened.db";
    for shell in ["bash", "zsh", "fish"] {
        let out = roster(db_less, &["completions", shell], None);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("set-password"), "{shell}: every subcommand");
    }
    let man = roster(db_less, &["man"], None);
    assert!(man.status.success());
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("roster"), "{page}");
    let bad = roster(db_less, &["completions", "tcsh"], None);
    assert_eq!(bad.status.code(), Some(2), "clap's usage error");
}

/// The same commands on PostgreSQL, when a server is given (as in CI).
#[tokio::test]
async fn operator_commands_work_on_postgresql() {
    let Some(base) = roster_store::testing::postgres_url() else {
        eprintln!("SKIPPED: ROSTER_TEST_POSTGRES_URL not set");
        return;
    };
    let db = roster_store::testing::TempDatabase::create(&base).await;
    let run = |args: &[&str], stdin: Option<&str>| roster(&db.url, args, stdin);
    let ok = |args: &[&str], stdin: Option<&str>| {
        let out = run(args, stdin);
        assert!(
            out.status.success(),
            "roster {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&["migrate"], None);
    ok(
        &["users", "create", "pat", "--email", "pat@example.com"],
        None,
    );
    ok(
        &["users", "set-password", "pat"],
        Some("a long enough password 2468\n"),
    );
    ok(&["users", "disable", "pat"], None);
    let pat = json(&ok(&["users", "show", "pat", "--output", "json"], None));
    assert_eq!(
        (pat["active"].clone(), pat["has_password"].clone()),
        (false.into(), true.into())
    );
    assert!(ok(&["keys", "create", "--user", "pat", "--name", "ci"], None).starts_with("rst_"));
    ok(
        &["roles", "assign", "--user", "pat", "--role", "Manager"],
        None,
    );
    let listed = json(&ok(&["users", "list", "--output", "json"], None));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_one_line_error(&run(&["users", "show", "nobody"], None), "no user named");
    assert_one_line_error(&run(&["backup", "copy.db"], None), "pg_dump");
    assert!(ok(&["audit", "verify"], None).contains("intact"));
}
