//! Whole-list reads of the vendor faces return every match, however many:
//! nothing is silently cut at a cap (they once stopped at 10,000).

use serde_json::json;

use crate::helpers::{ADMIN_KEY, TestApp, on_postgres, parts};

const MANY: usize = 10_001;

/// Puts `MANY` users into a new container `Bulk` behind the server's back
/// (creating them one by one over HTTP would dominate the test's time).
async fn bulk_users(app: &TestApp) {
    let (s, b) = parts(
        app.post_json("/api/v1/containers", &json!({"name": "Bulk", "seq": 4242}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let new_id = if on_postgres() {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    };
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MANY}) \
         INSERT INTO users (id, username, username_key, email, email_key, active, \
                            container_id, created_at, updated_at, version) \
         SELECT {new_id}, 'bulk' || i, 'bulk' || i, 'bulk' || i || '@example.com', \
                'bulk' || i || '@example.com', true, \
                (SELECT id FROM containers WHERE name = 'Bulk'), \
                (SELECT created_at FROM users WHERE username_key = 'admin'), \
                (SELECT created_at FROM users WHERE username_key = 'admin'), 1 \
         FROM n"
    ))
    .await;
}

#[tokio::test]
async fn dialect_lists_return_every_user_past_ten_thousand() {
    let app = TestApp::spawn().await;
    bulk_users(&app).await;

    // D3: every user of the site.
    let (s, b) = parts(
        app.client
            .post(app.url("/api/Command/GetUsersBySite"))
            .header("d3key", ADMIN_KEY)
            .json(&json!({
                "Username": "admin",
                "Site": "Bulk",
                "CommandParams": {"Site Name": "Bulk"}
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["error"], "", "{}", b["error"]);
    assert_eq!(b["returnData"].as_array().unwrap().len(), MANY);

    // AttackForge: every user (the administrator too).
    let (s, b) = parts(
        app.client
            .get(app.url("/api/ss/users"))
            .header("X-SSAPI-KEY", ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["count"], MANY + 1);
    assert_eq!(b["users"].as_array().unwrap().len(), MANY + 1);

    // Aria: every local user.
    let (s, b) = parts(
        app.client
            .get(app.url("/suite-api/api/auth/users"))
            .header("Authorization", format!("Bearer {ADMIN_KEY}"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let users = b["users"].as_array().unwrap();
    assert_eq!(users.len(), MANY + 1);
    assert!(users.iter().any(|u| u["username"] == "bulk10001"));

    // Filters still narrow the whole list (in the store, not after a cap).
    let (s, b) = parts(
        app.client
            .get(app.url("/api/ss/users?username=BULK10001"))
            .header("X-SSAPI-KEY", ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["count"], 1, "{b}");
}
