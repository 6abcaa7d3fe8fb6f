//! Every error status of the native API, with its problem+json body.

use std::sync::Arc;

use roster_core::password::HashCost;
use roster_server::HttpConfig;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Options, TestApp, assert_problem, cheap_core, parts};

#[tokio::test]
async fn malformed_json_is_400_naming_body() {
    let app = TestApp::spawn().await;
    for raw in ["{\"username\":", "not json", ""] {
        let (s, body) = parts(
            app.client
                .post(app.url("/api/v1/users"))
                .bearer_auth(ADMIN_KEY)
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(s, &body, 400, Some(("body", "json")));
    }
}

#[tokio::test]
async fn invalid_fields_are_400_with_every_field_named() {
    let app = TestApp::spawn().await;
    let (s, body) = parts(
        app.post_json(
            "/api/v1/users",
            &json!({"username": "bad\u{7}name", "email": "x@", "password": "short",
                    "first_name": "x".repeat(256), "security_level": -1}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("username", "no_control_characters")));
    assert_problem(s, &body, 400, Some(("email", "email")));
    assert_problem(s, &body, 400, Some(("password", "min_length")));
    assert_problem(s, &body, 400, Some(("first_name", "max_length")));
    assert_problem(s, &body, 400, Some(("security_level", "range")));
    let (s, body) = parts(
        app.post_json("/api/v1/users", &json!({"username": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("username", "type")));
    let (s, body) = parts(
        app.post_json("/api/v1/users", &json!({"username": "a", "seq": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("seq", "unknown_field")));
    let (s, body) = parts(
        app.post_json(
            "/api/v1/users",
            &json!({"username": "a", "password": "password123"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("password", "common_password")));
    let (_, list) = parts(app.get("/api/v1/users").send().await.unwrap()).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401() {
    let app = TestApp::spawn().await;
    let no_cred = app
        .client
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_cred.headers()["www-authenticate"],
        "Bearer realm=\"roster\""
    );
    assert_eq!(
        no_cred.headers()["content-type"],
        "application/problem+json"
    );
    let (s, body) = parts(no_cred).await;
    assert_problem(s, &body, 401, None);
    for req in [
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth("rst_not-a-real-key"),
        app.client
            .get(app.url("/api/v1/users"))
            .header("x-api-key", "wrong"),
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth("a.b.c"),
        app.client
            .get(app.url("/api/v1/users"))
            .header("authorization", "Basic YWRtaW46eA=="),
    ] {
        let (s, body) = parts(req.send().await.unwrap()).await;
        assert_problem(s, &body, 401, None);
    }
    // Both header styles work with the real key.
    let ok = app
        .client
        .get(app.url("/api/v1/users"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn non_admin_is_403_except_reading_self() {
    let app = TestApp::spawn().await;
    let u = app
        .create_user(json!({"username": "plain", "password": "plain-user-pass"}))
        .await;
    let other = app.create_user(json!({"username": "other"})).await;
    let token = app.token("plain", "plain-user-pass").await;
    let own = app
        .client
        .get(app.url(&format!("/api/v1/users/{}", u["id"].as_str().unwrap())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    for req in [
        app.client.get(app.url("/api/v1/users")),
        app.client
            .get(app.url(&format!("/api/v1/users/{}", other["id"].as_str().unwrap()))),
        app.client
            .post(app.url("/api/v1/users"))
            .json(&json!({"username": "x"})),
        app.client
            .delete(app.url(&format!("/api/v1/users/{}", other["id"].as_str().unwrap()))),
        app.client
            .patch(app.url(&format!("/api/v1/users/{}", u["id"].as_str().unwrap())))
            .json(&json!({"username": "root"})),
    ] {
        let (s, body) = parts(req.bearer_auth(&token).send().await.unwrap()).await;
        assert_problem(s, &body, 403, None);
    }
}

#[tokio::test]
async fn unknown_route_404_and_wrong_method_405() {
    let app = TestApp::spawn().await;
    let (s, body) = parts(app.get("/api/v1/nope").send().await.unwrap()).await;
    assert_problem(s, &body, 404, None);
    let (s, body) = parts(
        app.client
            .put(app.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 405, None);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .body(r#"{"username":"x"}"#);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (s, body) = parts(req.send().await.unwrap()).await;
        assert_problem(s, &body, 415, None);
    }
    let ok = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"username":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn body_over_limit_is_413() {
    let app = TestApp::with(Options {
        http: HttpConfig {
            body_limit: 1024,
            rate_limit_per_second: 0,
            ..HttpConfig::default()
        },
        ..Options::default()
    })
    .await;
    let big = json!({"username": "big", "display_name": "x".repeat(2000)});
    let (s, body) = parts(app.post_json("/api/v1/users", &big).send().await.unwrap()).await;
    assert_problem(s, &body, 413, None);
    // Without Content-Length (chunked) the limit holds too.
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.to_string().into_bytes())]);
    let (s, body) = parts(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 413, None);
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after() {
    let app = TestApp::with(Options {
        http: HttpConfig {
            rate_limit_per_second: 1,
            rate_limit_burst: 3,
            ..HttpConfig::default()
        },
        ..Options::default()
    })
    .await;
    let mut limited = None;
    for _ in 0..10 {
        let resp = app.get("/api/v1/users").send().await.unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = limited.expect("limit never hit");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));
    let (s, body) = parts(resp).await;
    assert_problem(s, &body, 429, None);
}

#[tokio::test]
async fn internal_errors_are_opaque_500_with_request_id() {
    let app = TestApp::spawn().await;
    // Break the database under the running server, behind its back.
    app.sql("ALTER TABLE users RENAME TO users_gone_secret_detail")
        .await;
    let resp = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-me-123");
    let (s, body) = parts(resp).await;
    assert_problem(s, &body, 500, None);
    assert_eq!(body["request_id"], "trace-me-123");
    let text = body.to_string();
    assert!(
        !text.contains("users") && !text.contains("secret_detail") && !text.contains("SQL"),
        "{body}"
    );
}

#[tokio::test]
async fn saturated_password_hashing_is_refused_fast_with_503() {
    let mut core = cheap_core();
    core.hash_cost = HashCost::default();
    core.hash_workers = 1;
    core.hash_queue = 0;
    let app = Arc::new(
        TestApp::with(Options {
            core,
            ..Options::default()
        })
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .post_json(
                    "/api/v1/users",
                    &json!({"username": format!("p{i}"), "password": "Test@123"}),
                )
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let (s, body) = parts(r).await;
            (s, body, retry)
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let (s, body, retry) = t.await.unwrap();
        match s {
            201 => created += 1,
            503 => {
                refused += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_problem(s, &body, 503, None);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        created >= 1 && refused >= 1,
        "created {created}, refused {refused}"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    for resp in [
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        app.client
            .get(app.url("/api/v1/users"))
            .send()
            .await
            .unwrap(),
        app.get("/api/v1/users").send().await.unwrap(),
    ] {
        let id = resp.headers()["x-request-id"].to_str().unwrap();
        assert!(!id.is_empty());
    }
    // A hostile incoming id is replaced, not echoed.
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a b<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "a b<script>");
    let _: Value = resp.json().await.unwrap();
}

/// U+0000 is valid JSON but not storable PostgreSQL text: on either
/// backend it is refused as bad input (never a 500), in attribute values
/// and in lookups by name. Regression: on PostgreSQL both were 500s.
#[tokio::test]
async fn nul_characters_are_bad_input_on_every_backend() {
    let app = TestApp::spawn().await;
    let (s, body) = parts(
        app.post_json(
            "/api/v1/users",
            &json!({"username": "nul-attrs", "attributes": {"note": "a\u{0}b", "list": ["x\u{0}"]}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("attributes", "no_nul")));
    // A lookup with it finds nobody or is refused; it never fails.
    let (s, body) = parts(
        app.get("/api/v1/users?username=a%00b")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s == 200 || s == 400, "{s} {body}");
    if s == 200 {
        assert_eq!(body["items"], json!([]), "{body}");
    }
    // A login with it is refused as a login, not a failure of the server.
    let (s, body) = parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "ad\u{0}min", "password": "whatever-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s == 400 || s == 401, "{s} {body}");
}
