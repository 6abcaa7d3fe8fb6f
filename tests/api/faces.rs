//! One core, many faces: a user made through any face is the same user
//! through every other.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, parts};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    header: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header(header, ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    parts(req.send().await.unwrap()).await
}

async fn everywhere(app: &TestApp, username: &str, email: &str, first: &str) {
    let (s, native) = parts(
        app.get(&format!("/api/v1/users?username={username}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let n = &native["items"][0];
    assert_eq!(
        (n["email"].as_str(), n["first_name"].as_str()),
        (Some(email), Some(first)),
        "native: {native}"
    );
    let seq = n["seq"].as_i64().unwrap();

    let (_, d3) = send(
        app,
        reqwest::Method::POST,
        "/api/Command/GetUserByUsername",
        "d3key",
        Some(
            json!({"Username": "admin", "Site": "Root", "CommandParams": {"User Name": username}}),
        ),
    )
    .await;
    assert_eq!(d3["contextData"]["email"], email, "d3: {d3}");
    assert_eq!(d3["contextData"]["userID"], seq.to_string());

    let (_, dc) = send(
        app,
        reqwest::Method::GET,
        &format!("/services/v2/user/{seq}"),
        "X-DC-DEVKEY",
        None,
    )
    .await;
    assert_eq!(
        (dc["email"].as_str(), dc["first_name"].as_str()),
        (Some(email), Some(first)),
        "digicert: {dc}"
    );

    let encoded = username.replace('@', "%40");
    let (_, af) = send(
        app,
        reqwest::Method::GET,
        &format!("/api/ss/users/username/{encoded}"),
        "X-SSAPI-KEY",
        None,
    )
    .await;
    assert_eq!(af["user"]["email_address"], email, "attackforge: {af}");
    assert_eq!(af["user"]["id"], n["id"]);
}

#[tokio::test]
async fn a_user_from_any_face_is_the_same_user_everywhere() {
    let app = TestApp::spawn().await;
    app.create_user(
        json!({"username": "native.user", "email": "native@example.com", "first_name": "Nat"}),
    )
    .await;
    everywhere(&app, "native.user", "native@example.com", "Nat").await;

    let (s, r) = send(
        &app,
        reqwest::Method::POST,
        "/api/Command/CreateUser",
        "d3key",
        Some(json!({"Username": "admin", "Site": "Root", "CommandParams": {"UserInfo": {
            "username": "d3.user", "emailAddress": "d3@example.com", "firstName": "Dee", "lastName": "Three", "roleId": "5"
        }}})),
    )
    .await;
    assert_eq!((s, &r["error"]), (200, &json!("")), "{r}");
    everywhere(&app, "d3.user", "d3@example.com", "Dee").await;

    let (s, r) = send(
        &app,
        reqwest::Method::POST,
        "/services/v2/user",
        "X-DC-DEVKEY",
        Some(json!({"username": "dc.user", "first_name": "Dc", "last_name": "User", "email": "dc@example.com", "access_roles": [{"id": 5}]})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    everywhere(&app, "dc.user", "dc@example.com", "Dc").await;

    let (s, r) = send(
        &app,
        reqwest::Method::POST,
        "/api/ss/user",
        "X-SSAPI-KEY",
        Some(json!({"first_name": "Af", "last_name": "User", "username": "af@example.com", "email": "af@example.com",
            "password": "ThisIsASuperLongPassword", "role": "consultant", "mfa": "No"})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    everywhere(&app, "af@example.com", "af@example.com", "Af").await;
}

#[tokio::test]
async fn internal_errors_and_rate_limits_come_in_each_faces_envelope() {
    let app = TestApp::spawn().await;
    app.sql("ALTER TABLE users RENAME TO users_elsewhere").await;
    let (s, d3) = send(
        &app,
        reqwest::Method::POST,
        "/api/Command/GetUserByUsername",
        "d3key",
        Some(json!({"Username": "admin", "Site": "Root", "CommandParams": {"User Name": "x"}})),
    )
    .await;
    assert_eq!((s, d3), (500, json!({"Error": "Unexpected Error."})));
    let (s, dc) = send(
        &app,
        reqwest::Method::GET,
        "/services/v2/user",
        "X-DC-DEVKEY",
        None,
    )
    .await;
    assert_eq!(
        (s, dc["errors"][0]["code"].as_str()),
        (500, Some("server_error"))
    );
    assert!(!dc.to_string().contains("users"), "{dc}");
    let (s, af) = send(
        &app,
        reqwest::Method::GET,
        "/api/ss/users",
        "X-SSAPI-KEY",
        None,
    )
    .await;
    assert_eq!((s, af), (500, json!({"error": "Internal server error"})));

    let limited = TestApp::with(crate::helpers::Options {
        http: roster_server::HttpConfig {
            rate_limit_per_second: 1,
            rate_limit_burst: 1,
            ..roster_server::HttpConfig::default()
        },
        ..crate::helpers::Options::default()
    })
    .await;
    for (path, header) in [
        ("/services/v2/user", "X-DC-DEVKEY"),
        ("/api/ss/users", "X-SSAPI-KEY"),
    ] {
        let mut last = (0, Value::Null);
        for _ in 0..4 {
            last = send(&limited, reqwest::Method::GET, path, header, None).await;
            if last.0 == 429 {
                break;
            }
        }
        assert_eq!(last.0, 429, "{path}");
        if path.starts_with("/services") {
            assert_eq!(last.1["errors"][0]["code"], "request_limit_exceeded");
        } else {
            assert!(last.1["error"].is_string());
        }
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_in_each_faces_envelope() {
    let app = TestApp::with(crate::helpers::Options {
        http: roster_server::HttpConfig {
            body_limit: 1024,
            rate_limit_per_second: 0,
            ..roster_server::HttpConfig::default()
        },
        ..crate::helpers::Options::default()
    })
    .await;
    let big = json!({"username": "x".repeat(4000)});
    let (s, d3) = send(
        &app,
        reqwest::Method::POST,
        "/api/Command/CreateUser",
        "d3key",
        Some(big.clone()),
    )
    .await;
    assert_eq!(
        (s, d3),
        (
            400,
            json!({"Error": "The body of the request must be a valid JSON object"})
        )
    );
    let (s, dc) = send(
        &app,
        reqwest::Method::POST,
        "/services/v2/user",
        "X-DC-DEVKEY",
        Some(big.clone()),
    )
    .await;
    assert_eq!(
        (s, dc["errors"][0]["code"].as_str()),
        (413, Some("request_too_large"))
    );
    let (s, af) = send(
        &app,
        reqwest::Method::POST,
        "/api/ss/user",
        "X-SSAPI-KEY",
        Some(big.clone()),
    )
    .await;
    assert_eq!(s, 413);
    assert!(af["error"].as_str().unwrap().contains("1024"), "{af}");
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/users"))
        .bearer_auth(ADMIN_KEY)
        .json(&big)
        .send()
        .await
        .unwrap();
    let (s, aria) = parts(r).await;
    assert_eq!((s, aria["httpStatusCode"].as_i64()), (413, Some(413)));
}

#[tokio::test]
async fn undecodable_path_segments_answer_in_each_faces_envelope() {
    let app = TestApp::spawn().await;
    let (s, native) = parts(app.get("/api/v1/users/%FF").send().await.unwrap()).await;
    assert_eq!(
        (s, native["type"].as_str()),
        (404, Some("urn:roster:problem:not-found"))
    );
    let (s, af) = send(
        &app,
        reqwest::Method::GET,
        "/api/ss/users/email/%FF",
        "X-SSAPI-KEY",
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(af["error"].is_string(), "{af}");
    let (s, dc) = send(
        &app,
        reqwest::Method::GET,
        "/services/v2/user/%FF",
        "X-DC-DEVKEY",
        None,
    )
    .await;
    assert_eq!(
        (s, dc["errors"][0]["code"].as_str()),
        (404, Some("not_found|route"))
    );
    let r = app
        .client
        .get(app.url("/suite-api/api/auth/roles/%FF"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let (s, aria) = parts(r).await;
    assert_eq!((s, aria["httpStatusCode"].as_i64()), (404, Some(404)));
}
