//! Tests that run the real `roster` binary: crash durability, graceful
//! stop, bootstrap, and what the log contains.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, ADMIN_PASSWORD, Binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_create_load_loses_no_acknowledged_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let bin = Binary::start(dir.path(), &db, &[("ROSTER_ADMIN_API_KEY", ADMIN_KEY)]);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let client = reqwest::Client::new();
    let url = bin.url("/api/v1/users");
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            // Keep creating until the server dies under us.
            loop {
                let username = format!("w{w}-{i}");
                i += 1;
                let sent = client
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .json(&json!({"username": username}))
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                if resp.status() != 201 {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else {
                    break;
                };
                acked
                    .lock()
                    .unwrap()
                    .push((username, body["id"].as_str().unwrap().to_string()));
                if Instant::now() > deadline + Duration::from_secs(5) {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep_until(deadline.into()).await;
    bin.signal(libc::SIGKILL);
    for t in tasks {
        t.await.unwrap();
    }
    drop(bin);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "load too small to mean anything: {}",
        acked.len()
    );

    let bin = Binary::start(dir.path(), &db, &[]);
    let mut found = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = client
            .get(bin.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .query(&[("limit", "1000")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        for u in page["items"].as_array().unwrap() {
            found.insert(u["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|(_, id)| !found.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged users lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} acknowledged creates, all present after SIGKILL",
        acked.len()
    );
}

#[tokio::test]
async fn no_secret_reaches_the_log_or_a_response() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secrets.db");
    let bin = Binary::start(
        dir.path(),
        &db,
        &[
            ("ROSTER_ADMIN_API_KEY", ADMIN_KEY),
            ("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("ROSTER_LOG", "trace"),
        ],
    );
    let client = reqwest::Client::new();
    let user_pw = "Sup3r-Secret-User-Passw0rd";
    let mut bodies = String::new();
    let r = client
        .post(bin.url("/api/v1/users"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"username": "secretive", "password": user_pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    bodies.push_str(&r.text().await.unwrap());
    let r = client
        .post(bin.url("/api/v1/auth/token"))
        .json(&json!({"username": "secretive", "password": user_pw}))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .get(bin.url("/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    bodies.push_str(&r.text().await.unwrap());
    let r = client
        .get(bin.url("/api/v1/users"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    bodies.push_str(&r.text().await.unwrap());
    // Failed logins and bad keys log nothing secret either.
    let r = client
        .post(bin.url("/api/v1/auth/token"))
        .json(&json!({"username": "secretive", "password": "Wrong-Guess-Passw0rd"}))
        .send()
        .await
        .unwrap();
    bodies.push_str(&r.text().await.unwrap());
    let r = client
        .patch(bin.url("/api/v1/users/nope"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"password": "Another-Secret-Pw1"}).to_string())
        .send()
        .await
        .unwrap();
    bodies.push_str(&r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = bin.stderr();
    assert!(
        log.contains("secretive") || log.contains("user created"),
        "the log is being written: {log}"
    );
    for secret in [
        ADMIN_KEY,
        ADMIN_PASSWORD,
        user_pw,
        "Wrong-Guess-Passw0rd",
        "Another-Secret-Pw1",
        token.as_str(),
        "$argon2id$",
    ] {
        assert!(!log.contains(secret), "log leaks {secret}");
        assert!(!bodies.contains(secret), "a response leaks {secret}");
    }
    // Trace-level logs include the token's signature part nowhere either.
    let sig = token.rsplit('.').next().unwrap();
    assert!(!log.contains(sig));
}

#[tokio::test]
async fn generated_admin_key_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("boot.db");
    let bin = Binary::start(dir.path(), &db, &[]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = bin.stderr();
    let key = err
        .split_whitespace()
        .find(|w| w.starts_with("rst_"))
        .unwrap_or_else(|| panic!("no key printed: {err}"))
        .to_string();
    let r = reqwest::Client::new()
        .get(bin.url("/api/v1/users"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["username"], "admin");
    drop(bin);
    let bin = Binary::start(dir.path(), &db, &[]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!bin.stderr().contains("rst_"), "shown once only");
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut bin = Binary::start(dir.path(), &db, &[("ROSTER_ADMIN_API_KEY", ADMIN_KEY)]);
    bin.signal(libc::SIGTERM);
    let started = Instant::now();
    loop {
        if let Some(status) = bin.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}: {}", bin.stderr());
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(bin.stderr().contains("roster stopped"));
}

#[test]
fn short_configured_admin_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("serve")
        .current_dir(dir.path())
        .env("ROSTER_LISTEN", "127.0.0.1:0")
        .env("ROSTER_ADMIN_API_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ROSTER_ADMIN_API_KEY") && err.contains("32"),
        "{err}"
    );
    assert!(!err.contains("too-short"));
}

fn verify(db: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["audit", "verify", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[tokio::test]
async fn audit_verify_reports_a_tampered_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let bin = Binary::start(dir.path(), &db, &[("ROSTER_ADMIN_API_KEY", ADMIN_KEY)]);
    let client = reqwest::Client::new();
    for name in ["one", "two", "three"] {
        let r = client
            .post(bin.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"username": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    drop(bin);
    let (ok, out) = verify(&db);
    assert!(ok, "{out}");
    assert!(out.contains("intact: 4 events"), "{out}");

    // Edit a row directly in the database.
    let side = rusqlite::Connection::open(&db).unwrap();
    side.execute(
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
        [],
    )
    .unwrap();
    let (ok, out) = verify(&db);
    assert!(!ok);
    assert!(out.contains("TAMPERED at event 3"), "{out}");
    side.execute("UPDATE audit_events SET actor = 'admin' WHERE seq = 3", [])
        .unwrap();
    assert!(verify(&db).0, "restoring the row restores the chain");

    // Delete a row.
    side.execute("DELETE FROM audit_events WHERE seq = 2", [])
        .unwrap();
    let (ok, out) = verify(&db);
    assert!(!ok);
    assert!(out.contains("TAMPERED at event 3"), "{out}");
}

#[tokio::test]
async fn rotated_signing_key_keeps_old_tokens_valid() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rotate.db");
    let bin = Binary::start(
        dir.path(),
        &db,
        &[
            ("ROSTER_ADMIN_API_KEY", ADMIN_KEY),
            ("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let client = reqwest::Client::new();
    let login = || async {
        let r = client
            .post(bin.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = login().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["tokens", "rotate-key", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second process (like another node) signs with the new key...
    drop(bin);
    let bin = Binary::start(dir.path(), &db, &[]);
    let new = {
        let r = client
            .post(bin.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let kid = |t: &str| {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"].clone()
    };
    assert_ne!(kid(&old), kid(&new));
    // ...and both tokens are accepted.
    for t in [&old, &new] {
        let r = client
            .get(bin.url("/api/v1/me"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}
