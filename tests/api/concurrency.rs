use std::sync::Arc;

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_creates_of_one_username_give_one_201() {
    let app = Arc::new(TestApp::spawn().await);
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let app = app.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app
                .post_json(
                    "/api/v1/users",
                    &json!({"username": if i % 2 == 0 { "Same" } else { "same" }}),
                )
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        63,
        "{statuses:?}"
    );
}

fn wal_size(app: &TestApp) -> u64 {
    std::fs::metadata(app.dir.path().join("roster.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wal_stays_bounded_under_sustained_writes_and_reads() {
    const USERS: usize = 15_000;
    const WRITERS: usize = 32;
    if crate::helpers::on_postgres() {
        // SQLite's write-ahead log only: the SQLite run of the suite covers it.
        eprintln!("SQLite-only test: PostgreSQL has no WAL file here to bound");
        return;
    }
    let app = Arc::new(TestApp::spawn().await);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut max_wal = 0;
            for i in (w..USERS).step_by(WRITERS) {
                let r = app
                    .post_json("/api/v1/users", &json!({"username": format!("user{i:06}"), "attributes": {"notes": "x".repeat(800)}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                // Readers keep read transactions coming the whole time.
                let r = app.get("/api/v1/users?limit=20").send().await.unwrap();
                assert_eq!(r.status(), 200);
                max_wal = max_wal.max(wal_size(&app));
            }
            max_wal
        }));
    }
    let mut max_wal = 0;
    for t in tasks {
        max_wal = max_wal.max(t.await.unwrap());
    }
    let db = std::fs::metadata(app.dir.path().join("roster.db"))
        .unwrap()
        .len();
    eprintln!("database {db} bytes, largest WAL seen {max_wal} bytes");
    // Without checkpoints the WAL would hold at least every page written,
    // more than the database itself.
    assert!(max_wal < 10 * 1024 * 1024, "WAL grew to {max_wal} bytes");
    assert!(
        db > 12 * 1024 * 1024,
        "the data must outgrow the WAL bound for the test to mean anything"
    );
    assert!(wal_size(&app) <= 16 * 1024 * 1024 + 1024 * 1024);
}
