//! `roster export` / `roster import` with the real binary: a database built
//! through HTTP goes out and back in, and comes back the same.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, ADMIN_PASSWORD, Binary};

fn sqlite_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

fn roster(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .arg("--database-url")
        .arg(url)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn export(url: &str, file: &Path) -> Output {
    let out = roster(&["export", "--output", file.to_str().unwrap()], url);
    assert!(out.status.success(), "export: {}", text(&out));
    out
}

/// The export without its header's `exported_at`.
fn comparable(file: &Path) -> Vec<String> {
    let content = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = content.lines().map(str::to_string).collect();
    let mut header: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(header["kind"], "header");
    assert_eq!(header["format"], 1);
    header.as_object_mut().unwrap().remove("exported_at");
    lines[0] = header.to_string();
    lines
}

struct Http<'a> {
    bin: &'a Binary,
    client: reqwest::Client,
}

impl Http<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(ADMIN_KEY, method, path, body).await
    }

    async fn call_as(
        &self,
        credential: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.bin.url(&format!("/api/v1{path}")))
            .bearer_auth(credential);
        if let Some(b) = body {
            req = req.json(&b);
        }
        crate::helpers::parts(req.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, out) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            matches!(status, 200 | 201 | 204),
            "POST {path}: {status} {out}"
        );
        out
    }

    async fn login(&self, username: &str, password: &str, totp: Option<&str>) -> (u16, Value) {
        let mut body = json!({"username": username, "password": password});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        crate::helpers::parts(
            self.client
                .post(self.bin.url("/api/v1/auth/token"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn effective(&self, user: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/users/{user}/effective-permissions"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

const ALICE_PW: &str = "Alice-Passw0rd-export";
const BOB_PW: &str = "Bob-Passw0rd-export";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let bin = Binary::start(
        dir.path(),
        &source,
        &[
            ("ROSTER_ADMIN_API_KEY", ADMIN_KEY),
            ("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let http = Http {
        bin: &bin,
        client: reqwest::Client::new(),
    };
    // A container tree in which a child is older than its parent (moved
    // under a newer one), so only a parents-first export loads.
    let early = http
        .post(
            "/containers",
            json!({"name": "Early", "description": "older than its parent"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = http.post("/containers", json!({"name": "A"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a1 = http
        .post("/containers", json!({"name": "A1", "parent_id": a}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, moved) = http
        .call(
            reqwest::Method::PATCH,
            &format!("/containers/{early}"),
            Some(json!({"parent_id": a1})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let b = http.post("/containers", json!({"name": "B"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    http.post(
        "/roles",
        json!({"name": "Auditor", "description": "reads the trail",
               "privileges": ["users.read", "audit.read"]}),
    )
    .await;
    let alice = http
        .post(
            "/users",
            json!({"username": "Alice", "email": "Alice@Example.com", "password": ALICE_PW,
                   "container_id": a1, "first_name": "Alice", "attributes": {"team": "red", "n": 3}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = http
        .post("/users", json!({"username": "bob", "password": BOB_PW}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let carol = http
        .post(
            "/users",
            json!({"username": "carol", "container_id": b, "phone": "555-0100", "active": false}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ops = http
        .post(
            "/groups",
            json!({"name": "ops", "description": "operators", "attributes": {"pager": true}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    http.post(&format!("/groups/{ops}/members"), json!({"user_id": alice}))
        .await;
    http.post(
        &format!("/groups/{ops}/roles"),
        json!({"role": "Auditor", "container_ids": [a]}),
    )
    .await;
    http.post(
        &format!("/users/{carol}/roles"),
        json!({"role": "Manager", "container_ids": [b, a1]}),
    )
    .await;
    http.post(
        &format!("/users/{alice}/roles"),
        json!({"role": "ReadOnly", "all_objects": true}),
    )
    .await;
    let alice_key = http
        .post("/api-keys", json!({"name": "ci", "user_id": alice}))
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = http
        .post("/api-keys", json!({"name": "old", "user_id": alice}))
        .await;
    let revoked_key = revoked["secret"].as_str().unwrap().to_string();
    let (status, _) = http
        .call(
            reqwest::Method::DELETE,
            &format!("/api-keys/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // Bob enrols a second factor.
    let (status, token) = http.login("bob", BOB_PW, None).await;
    assert_eq!(status, 200, "{token}");
    let bob_token = token["access_token"].as_str().unwrap().to_string();
    let (status, enrol) = http
        .call_as(&bob_token, reqwest::Method::POST, "/me/mfa/totp", None)
        .await;
    assert_eq!(status, 201, "{enrol}");
    let secret = enrol["secret"].as_str().unwrap().to_string();
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let (status, body) = http
        .call_as(
            &bob_token,
            reqwest::Method::POST,
            "/me/mfa/totp/confirm",
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // A token of Alice's, revoked; and a failed login for the audit trail.
    let (status, token) = http.login("alice", ALICE_PW, None).await;
    assert_eq!(status, 200, "{token}");
    let alice_token = token["access_token"].as_str().unwrap().to_string();
    let r = http
        .client
        .post(bin.url("/api/v1/auth/token/revoke"))
        .json(&json!({"token": alice_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = http.login("alice", "Wrong-Passw0rd-guess", None).await;
    assert_eq!(status, 401);
    let before = [
        http.effective(&alice).await,
        http.effective(&carol).await,
        http.effective(&bob).await,
    ];
    drop(http);
    bin.stop();

    let one = dir.path().join("one.ndjson");
    let out = export(&sqlite_url(&source), &one);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exported") && err.contains("user "), "{err}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&one).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export holds secrets");
    }
    let lines = comparable(&one);
    let kinds: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("user"), 4, "admin, alice, bob, carol");
    assert_eq!(count("container"), 5);
    assert_eq!(count("group"), 1);
    assert_eq!(count("membership"), 1);
    assert_eq!(count("assignment"), 4, "admin's, ops', carol's, alice's");
    assert_eq!(count("api_key"), 3);
    assert_eq!(count("revoked_token"), 1);
    assert!(count("signing_key") >= 1);
    assert!(count("audit_event") >= 12);
    assert_eq!(kinds.last().unwrap(), "end");
    // Dependency order: kinds in blocks, containers parents first.
    let order = [
        "header",
        "container",
        "role",
        "user",
        "group",
        "membership",
        "assignment",
        "api_key",
        "signing_key",
        "revoked_token",
        "audit_event",
        "end",
    ];
    let ranks: Vec<usize> = kinds
        .iter()
        .map(|k| order.iter().position(|o| o == k).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{kinds:?}");
    let containers: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "container")
        .collect();
    let position = |id: &str| containers.iter().position(|c| c["id"] == id).unwrap();
    assert!(position(&a1) < position(&early), "parent before child");
    assert_eq!(
        containers[position(&early)]["description"],
        "older than its parent"
    );
    let whole = std::fs::read_to_string(&one).unwrap();
    assert!(whole.contains("$argon2id$"), "password hashes are exported");
    assert!(whole.contains(&secret), "TOTP secrets are exported");
    assert!(!whole.contains(&alice_key), "key secrets are not");

    // SQLite → PostgreSQL when a server is given (as in CI), else into a
    // new SQLite file; then back into SQLite below.
    let pg = match roster_store::testing::postgres_url() {
        Some(base) => Some(roster_store::testing::TempDatabase::create(&base).await),
        None => None,
    };
    let target = match &pg {
        Some(db) => db.url.clone(),
        None => sqlite_url(&dir.path().join("imported.db")),
    };
    let out = roster(&["import", one.to_str().unwrap()], &target);
    assert!(out.status.success(), "import: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("audit chain verified"), "{err}");
    assert!(
        err.lines().any(|l| l.trim() == "user           4"),
        "counts per kind: {err}"
    );

    if let Some(db) = &pg {
        // PostgreSQL's import also sets the secondary indexes aside and
        // builds them at the end: all are back, the trigram index too.
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let names: Vec<String> = client
            .query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'users' ORDER BY indexname",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        for index in [
            "users_text_trigrams",
            "users_username_search",
            "users_email_search",
            "users_first_name_search",
            "users_last_name_search",
            "users_display_name_search",
        ] {
            assert!(names.iter().any(|n| n == index), "{index}: {names:?}");
        }
    }
    let out = roster(&["audit", "verify"], &target);
    assert!(out.status.success(), "{}", text(&out));
    let source_verify = roster(&["audit", "verify"], &sqlite_url(&source));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&source_verify.stdout),
        "the same chain"
    );

    // The import exports back record for record.
    let two = dir.path().join("two.ndjson");
    export(&target, &two);
    let again = comparable(&two);
    assert_eq!(lines.len(), again.len());
    for (i, (x, y)) in lines.iter().zip(&again).enumerate() {
        assert_eq!(x, y, "line {}", i + 1);
    }
    // And back: that export loads into a new SQLite file, which exports
    // the same records again.
    let back = sqlite_url(&dir.path().join("back.db"));
    let out = roster(&["import", two.to_str().unwrap()], &back);
    assert!(out.status.success(), "import back: {}", text(&out));
    // The import builds the users' secondary indexes once at its end: the
    // imported database has every index (and trigger) the source has.
    let indexes = |db: &Path| -> Vec<String> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut s = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY name",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let expected = indexes(&source);
    assert!(
        expected.iter().any(|n| n == "users_first_name_search"),
        "{expected:?}"
    );
    assert_eq!(indexes(&dir.path().join("back.db")), expected);
    let three = dir.path().join("three.ndjson");
    export(&back, &three);
    assert_eq!(lines, comparable(&three), "the round trip back");

    // Importing into it again is refused: it is not empty.
    let out = roster(&["import", one.to_str().unwrap()], &target);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not empty"),
        "{}",
        text(&out)
    );

    // Served, the imported database behaves as the source did.
    let bin = Binary::start_url(dir.path(), &target, &[]);
    assert!(!bin.stderr().contains("rst_"), "no admin is bootstrapped");
    let http = Http {
        bin: &bin,
        client: reqwest::Client::new(),
    };
    let (status, body) = http.login("alice", ALICE_PW, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, me) = http
        .call_as(&alice_key, reqwest::Method::GET, "/me", None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "Alice");
    let (status, _) = http
        .call_as(&revoked_key, reqwest::Method::GET, "/me", None)
        .await;
    assert_eq!(status, 401, "a revoked key stays revoked");
    let (status, _) = http
        .call_as(&alice_token, reqwest::Method::GET, "/me", None)
        .await;
    assert_eq!(status, 401, "a revoked token stays revoked");
    let (status, body) = http.login("bob", BOB_PW, None).await;
    assert_eq!(status, 401, "bob still needs his second factor: {body}");
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let (status, body) = http.login("bob", BOB_PW, Some(&code)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    let after = [
        http.effective(&alice).await,
        http.effective(&carol).await,
        http.effective(&bob).await,
    ];
    assert_eq!(before, after);
    let (status, c) = http
        .call(reqwest::Method::GET, &format!("/containers/{early}"), None)
        .await;
    assert_eq!(
        (status, c["description"].as_str()),
        (200, Some("older than its parent"))
    );
    // New events extend the imported chain.
    let created = http.post("/users", json!({"username": "dave"})).await;
    assert_eq!(created["seq"], 5, "seq continues after the imported users");
    drop(http);
    bin.stop();
    let out = roster(&["audit", "verify"], &target);
    assert!(out.status.success(), "{}", text(&out));
}

/// Edits line `n` (1-based) of an export.
fn edit_line(from: &Path, to: &Path, n: usize, f: impl FnOnce(&mut Value)) {
    let content = std::fs::read_to_string(from).unwrap();
    let mut lines: Vec<String> = content.lines().map(str::to_string).collect();
    let mut v: Value = serde_json::from_str(&lines[n - 1]).unwrap();
    f(&mut v);
    lines[n - 1] = v.to_string();
    std::fs::write(to, lines.join("\n") + "\n").unwrap();
}

fn line_of(file: &Path, kind: &str, nth: usize) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| serde_json::from_str::<Value>(l).unwrap()["kind"] == kind)
        .nth(nth)
        .unwrap()
        .0
        + 1
}

#[tokio::test]
async fn import_refuses_what_it_cannot_trust() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let bin = Binary::start(dir.path(), &source, &[("ROSTER_ADMIN_API_KEY", ADMIN_KEY)]);
    let client = reqwest::Client::new();
    for name in ["one", "two"] {
        let r = client
            .post(bin.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"username": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    bin.stop();
    let good = dir.path().join("good.ndjson");
    export(&sqlite_url(&source), &good);
    let fresh = |name: &str| sqlite_url(&dir.path().join(format!("{name}.db")));

    // Not empty: the source itself.
    let out = roster(&["import", good.to_str().unwrap()], &sqlite_url(&source));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));

    // A corrupted line is named.
    let bad = dir.path().join("bad.ndjson");
    let n = line_of(&good, "user", 1);
    edit_line(&good, &bad, n, |v| v["id"] = json!("not-a-uuid"));
    let out = roster(&["import", bad.to_str().unwrap()], &fresh("bad"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("line {n}:")) && err.contains("UUID"),
        "{err}"
    );

    // A record the database refuses is named by its line too.
    let dup = dir.path().join("dup.ndjson");
    let second = line_of(&good, "user", 1);
    edit_line(&good, &dup, second, |v| v["username"] = json!("ADMIN"));
    let out = roster(&["import", dup.to_str().unwrap()], &fresh("dup"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("line {second}: conflict on username"))
            && err.contains("holds part of the file"),
        "{err}"
    );

    // A file from a future format is refused at its header.
    let future = dir.path().join("future.ndjson");
    edit_line(&good, &future, 1, |v| v["format"] = json!(99));
    let out = roster(&["import", future.to_str().unwrap()], &fresh("future"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1: the file is in format 99") && err.contains("nothing imported"),
        "{err}"
    );

    // A file cut short (no end line) is refused.
    let cut = dir.path().join("cut.ndjson");
    let content = std::fs::read_to_string(&good).unwrap();
    let kept: Vec<&str> = content.lines().collect();
    std::fs::write(&cut, kept[..kept.len() - 1].join("\n")).unwrap();
    let out = roster(&["import", cut.to_str().unwrap()], &fresh("cut"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cut short"),
        "{}",
        text(&out)
    );

    // A tampered audit record loads, and the broken chain is reported.
    let tampered = dir.path().join("tampered.ndjson");
    let n = line_of(&good, "audit_event", 1);
    edit_line(&good, &tampered, n, |v| v["actor"] = json!("mallory"));
    let url = fresh("tampered");
    let out = roster(&["import", tampered.to_str().unwrap()], &url);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("audit chain BROKEN at event 2"), "{err}");
    let out = roster(&["audit", "verify"], &url);
    assert!(!out.status.success());

    // Standard input works as a source.
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["import", "-", "--database-url", &fresh("stdin")])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(content.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit chain verified: 3 events"));
}
