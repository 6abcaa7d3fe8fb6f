use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, parts};

#[tokio::test]
async fn create_returns_201_with_location_etag_and_user() {
    let app = TestApp::spawn().await;
    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({
                "username": "jill.valentine", "email": "jill.valentine@pd.racoon-city.gov",
                "first_name": "Jill", "last_name": "Valentine", "display_name": "Jill V",
                "phone": "555-555-5555", "job_title": "S.T.A.R.S. Alpha Team",
                "timezone": "America/Chicago", "locale": "en-US", "mfa_required": true,
                "saml_sso_only": false, "security_level": 1,
                "distinguished_name": "CN=Jill,OU=STARS,DC=rpd", "external_id": "ext-1",
                "password": "Test@123", "attributes": {"team": "alpha", "badge": 42}
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/users/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert!(body["seq"].as_i64().unwrap() > 1);
    for (k, v) in [
        ("username", json!("jill.valentine")),
        ("email", json!("jill.valentine@pd.racoon-city.gov")),
        ("first_name", json!("Jill")),
        ("job_title", json!("S.T.A.R.S. Alpha Team")),
        ("active", json!(true)),
        ("mfa_required", json!(true)),
        ("mfa_enrolled", json!(false)),
        ("security_level", json!(1)),
        ("has_password", json!(true)),
        ("attributes", json!({"team": "alpha", "badge": 42})),
        ("version", json!(1)),
        ("last_login_at", Value::Null),
    ] {
        assert_eq!(body[k], v, "{k} in {body}");
    }
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    assert!(!body.to_string().contains("Test@123") && !body.to_string().contains("argon2"));

    let (status, got) = parts(app.get(&location).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(got, body);
}

#[tokio::test]
async fn defaults_and_only_username_required() {
    let app = TestApp::spawn().await;
    let body = app.create_user(json!({"username": "svc-backup"})).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["mfa_required"], false);
    assert_eq!(body["has_password"], false);
    assert_eq!(body["attributes"], json!({}));
    let (status, body) = parts(
        app.post_json("/api/v1/users", &json!({"email": "a@b.c"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(status, &body, 400, Some(("username", "required")));
}

#[tokio::test]
async fn usernames_are_unique_case_insensitively() {
    let app = TestApp::spawn().await;
    app.create_user(json!({"username": "Alice"})).await;
    let (status, body) = parts(
        app.post_json("/api/v1/users", &json!({"username": "aLiCe"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(status, &body, 409, Some(("username", "unique")));
}

#[tokio::test]
async fn get_unknown_or_malformed_id_is_404() {
    let app = TestApp::spawn().await;
    for id in ["01a20840-05e0-7392-8faa-cad28771b460", "not-a-uuid"] {
        let (status, body) = parts(
            app.get(&format!("/api/v1/users/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(status, &body, 404, None);
    }
}

async fn seed(app: &TestApp) {
    for (u, e, f, active) in [
        ("alice", "alice@example.com", "Alice", true),
        ("bob", "bob@corp.example", "Bob", true),
        ("carol", "carol@example.com", "Carol", false),
        ("albert", "al@example.com", "Albert", true),
        ("dave", "DAVE@Example.com", "Dave", true),
    ] {
        app.create_user(json!({"username": u, "email": e, "first_name": f, "active": active}))
            .await;
    }
}

async fn usernames(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = parts(
        app.get(&format!("/api/v1/users?{query}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_filters() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    assert_eq!(usernames(&app, "username=ALICE").await, ["alice"]);
    assert_eq!(usernames(&app, "email=dave%40example.com").await, ["dave"]);
    assert_eq!(usernames(&app, "q=al").await, ["alice", "albert"]);
    assert_eq!(usernames(&app, "q=corp").await, Vec::<String>::new());
    assert_eq!(usernames(&app, "q=bob%40corp").await, ["bob"]);
    assert_eq!(usernames(&app, "q=Car").await, ["carol"]);
    assert_eq!(usernames(&app, "active=false").await, ["carol"]);
    assert_eq!(
        usernames(&app, "active=true&q=a").await,
        ["admin", "alice", "albert"]
    );
    assert_eq!(
        usernames(&app, "q=%25").await,
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    // Anywhere in the text with match=contains (the trigram index's path
    // for three characters or more, a walk for fewer).
    assert_eq!(usernames(&app, "q=corp&match=contains").await, ["bob"]);
    assert_eq!(
        usernames(&app, "q=EXAMPLE.COM&match=contains").await,
        ["alice", "carol", "albert", "dave"]
    );
    assert_eq!(usernames(&app, "q=ber&match=contains").await, ["albert"]);
    assert_eq!(usernames(&app, "q=ro&match=contains").await, ["carol"]);
    assert_eq!(
        usernames(&app, "q=ber&match=prefix").await,
        Vec::<String>::new()
    );
    assert_eq!(
        usernames(&app, "q=%25&match=contains").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn list_pages_with_cursor_and_rejects_bad_parameters() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    // admin + 5 seeded users, pages of 2.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let (status, body) = parts(app.get(&q).send().await.unwrap()).await;
        assert_eq!(status, 200);
        pages += 1;
        for u in body["items"].as_array().unwrap() {
            seen.push(u["username"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["admin", "alice", "bob", "carol", "albert", "dave"]);

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("cursor=!!", "cursor"),
        ("active=maybe", "active"),
        ("q=a&match=fuzzy", "match"),
    ] {
        let (status, body) =
            parts(app.get(&format!("/api/v1/users?{q}")).send().await.unwrap()).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{q}: {body}");
    }
}

#[tokio::test]
async fn patch_merges_clears_and_bumps_version() {
    let app = TestApp::spawn().await;
    let u = app
        .create_user(json!({"username": "pat", "first_name": "Pat", "phone": "1", "attributes": {"a": 1, "b": 2}}))
        .await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let resp = app
        .patch(
            &path,
            &json!({"last_name": "Smith", "phone": null, "attributes": {"a": null, "c": 3}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["first_name"], "Pat");
    assert_eq!(body["last_name"], "Smith");
    assert_eq!(body["phone"], Value::Null);
    assert_eq!(body["attributes"], json!({"b": 2, "c": 3}));
    assert_eq!(body["version"], 2);
    assert_eq!(body["created_at"], u["created_at"]);

    // Plain application/json is accepted for merge patches too.
    let resp = app
        .client
        .patch(app.url(&path))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn patch_with_if_match() {
    let app = TestApp::spawn().await;
    let u = app.create_user(json!({"username": "ifm"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let ok = app
        .patch(&path, &json!({"first_name": "A"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let (status, body) = parts(
        app.patch(&path, &json!({"first_name": "B"}))
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(status, &body, 412, None);
    let (_, current) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(current["first_name"], "A", "a stale write must not land");
    let ok = app
        .patch(&path, &json!({"first_name": "C"}))
        .header("if-match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = app
        .patch(&path, &json!({"first_name": "D"}))
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn patch_rejects_bad_fields() {
    let app = TestApp::spawn().await;
    app.create_user(json!({"username": "taken"})).await;
    let u = app.create_user(json!({"username": "pb"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let cases = [
        (json!({"username": "TAKEN"}), 409, "username", "unique"),
        (json!({"username": null}), 400, "username", "required"),
        (json!({"email": "nope"}), 400, "email", "email"),
        (json!({"active": "yes"}), 400, "active", "type"),
        (json!({"id": "x"}), 400, "id", "read_only"),
        (json!({"nickname": "x"}), 400, "nickname", "unknown_field"),
        (json!({"password": "123456"}), 400, "password", "min_length"),
        (
            json!({"password": "qwertyuiop"}),
            400,
            "password",
            "common_password",
        ),
        (json!(["not", "an", "object"]), 400, "body", "type"),
    ];
    for (patch, status, field, rule) in cases {
        let (s, body) = parts(app.patch(&path, &patch).send().await.unwrap()).await;
        assert_problem(s, &body, status, Some((field, rule)));
    }
    let (_, current) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(current["version"], 1, "no failed patch may write");
    let (s, body) = parts(
        app.patch(
            "/api/v1/users/01a20840-05e0-7392-8faa-cad28771b460",
            &json!({"first_name": "x"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(s, &body, 404, None);
}

#[tokio::test]
async fn patch_password_lets_user_log_in() {
    let app = TestApp::spawn().await;
    let u = app.create_user(json!({"username": "pw"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let (s, body) = parts(
        app.patch(&path, &json!({"password": "a-new-Passphrase"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["has_password"], true);
    app.token("pw", "a-new-Passphrase").await;
}

#[tokio::test]
async fn delete_then_gone() {
    let app = TestApp::spawn().await;
    let u = app.create_user(json!({"username": "gone"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let (s, body) = parts(
        app.delete(&path)
            .header("if-match", "\"7\"")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 412, None);
    let resp = app
        .delete(&path)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.text().await.unwrap().is_empty());
    let (s, body) = parts(app.get(&path).send().await.unwrap()).await;
    assert_problem(s, &body, 404, None);
    let (s, body) = parts(app.delete(&path).send().await.unwrap()).await;
    assert_problem(s, &body, 404, None);
    // A soft delete keeps the username taken; a purge frees it.
    let (s, body) = parts(
        app.post_json("/api/v1/users", &json!({"username": "gone"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 409, Some(("username", "unique")));
    let resp = app
        .delete(&format!("{path}?purge=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    app.create_user(json!({"username": "gone"})).await;
}

#[tokio::test]
async fn cannot_delete_yourself() {
    let app = TestApp::spawn().await;
    let (_, list) = parts(
        app.get("/api/v1/users?username=admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let (s, body) = parts(
        app.delete(&format!("/api/v1/users/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 409, Some(("id", "not_self")));
}

#[tokio::test]
async fn idempotent_create_replays_and_detects_mismatch() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "idem", "email": "idem@example.com", "password": "Test@123"});
    let first = app
        .post_json("/api/v1/users", &body)
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // Same key, same body with keys reordered: the first response again.
    let again = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .header("content-type", "application/json")
        .header("idempotency-key", "k-1")
        .body(r#"{"password":"Test@123","email":"idem@example.com","username":"idem"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"],
        format!("/api/v1/users/{}", first["id"].as_str().unwrap())
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    // Same key, other body: 422, nothing created.
    let (s, b) = parts(
        app.post_json("/api/v1/users", &json!({"username": "idem2"}))
            .header("idempotency-key", "k-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &b, 422, None);
    let (_, list) = parts(app.get("/api/v1/users?q=idem").send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_user() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .post_json("/api/v1/users", &json!({"username": "once"}))
                .header("idempotency-key", "race")
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap()["id"].clone(),
            )
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert_eq!(status, 201);
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), 1);
}
