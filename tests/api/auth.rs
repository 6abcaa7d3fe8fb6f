use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, assert_problem, parts};

#[tokio::test]
async fn token_for_password_works_as_bearer() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "ADMIN", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let (s, list) = parts(
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        list["items"][0]["last_login_at"].is_string(),
        "login is recorded: {list}"
    );
    // A tampered token is refused.
    let mut forged = token.to_string();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let (s, body) = parts(
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 401, None);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_are_401() {
    let app = TestApp::spawn().await;
    let u = app
        .create_user(json!({"username": "dis", "password": "disabled-user-pw"}))
        .await;
    let token = app.token("dis", "disabled-user-pw").await;
    for (user, pw) in [
        ("admin", "wrong-password"),
        ("nobody", "whatever-password"),
        ("", "x"),
    ] {
        let (s, body) = parts(
            app.client
                .post(app.url("/api/v1/auth/token"))
                .json(&json!({"username": user, "password": pw}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(s, &body, 401, None);
        assert_eq!(body["detail"], parts_detail());
    }
    // Deactivating a user stops both new logins and tokens already issued.
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&path, &json!({"active": false}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (s, _) = parts(
        app.client
            .get(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "dis", "password": "disabled-user-pw"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
}

fn parts_detail() -> &'static str {
    "a valid API key or token is required (Authorization: Bearer ... or X-API-Key)"
}

#[tokio::test]
async fn token_request_is_validated() {
    let app = TestApp::spawn().await;
    let (s, body) = parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, Some(("password", "required")));
}

#[tokio::test]
async fn deleted_users_key_or_token_stops_working() {
    let app = TestApp::spawn().await;
    let u = app
        .create_user(json!({"username": "del", "password": "deleted-user-pw"}))
        .await;
    let token = app.token("del", "deleted-user-pw").await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    assert_eq!(
        app.client
            .get(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.delete(&path).send().await.unwrap().status(), 204);
    assert_eq!(
        app.client
            .get(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
