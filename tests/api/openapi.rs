use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn openapi_describes_every_operation_and_schema() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "public, no credential needed");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = [
        ("/users", "post"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/auth/token", "post"),
    ];
    for (path, method) in ops {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"].as_object().unwrap().len() >= 2,
            "{method} {path}"
        );
    }
    for schema in [
        "UserOut",
        "CreateUserIn",
        "UserPatch",
        "UserList",
        "Problem",
        "TokenRequest",
        "TokenResponse",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let props = &doc["components"]["schemas"]["UserOut"]["properties"];
    assert!(
        props.get("password").is_none(),
        "responses never carry passwords"
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
}

#[tokio::test]
async fn health_is_public() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_per_face_for_authenticated_scrapers() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.get("/api/v1/users").send().await.unwrap();
    app.client
        .get(app.url("/api/ss/users"))
        .header("x-ssapi-key", crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let r = app.get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"roster_http_requests_total{face="native",status="2xx"}"#),
        "{text}"
    );
    assert!(text.contains(r#"face="attackforge""#), "{text}");
    assert!(
        text.contains("roster_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// The served document is compared with the committed one, so that an API
/// change shows in review. `ROSTER_UPDATE_SNAPSHOTS=1 cargo test` rewrites it.
#[tokio::test]
async fn openapi_document_matches_the_committed_snapshot() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/snapshots/openapi.json"
    );
    if std::env::var_os("ROSTER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == pretty,
        "/openapi.json changed; review the difference and run ROSTER_UPDATE_SNAPSHOTS=1 cargo test --test api openapi_document"
    );
}
