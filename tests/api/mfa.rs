use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, parts};

async fn login(app: &TestApp, user: &str, pw: &str, totp: Option<&str>) -> (u16, Value) {
    let mut body = json!({"username": user, "password": pw});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub(crate) async fn enroll(app: &TestApp, token: &str) -> String {
    let (st, e) = parts(
        app.client
            .post(app.url("/api/v1/me/mfa/totp"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let secret = e["secret"].as_str().unwrap().to_string();
    let (st, body) = parts(
        app.client
            .post(app.url("/api/v1/me/mfa/totp/confirm"))
            .bearer_auth(token)
            .json(&json!({"code": "000000x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 400, Some(("code", "totp")));
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let r = app
        .client
        .post(app.url("/api/v1/me/mfa/totp/confirm"))
        .bearer_auth(token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    secret
}

#[tokio::test]
async fn totp_enrollment_and_login() {
    let app = TestApp::spawn().await;
    app.create_user(json!({"username": "otp", "password": "otp-user-Passw0rd"}))
        .await;
    let token = app.token("otp", "otp-user-Passw0rd").await;
    let secret = enroll(&app, &token).await;
    let (_, me) = parts(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["mfa_enrolled"], true);
    assert!(
        !me.to_string().contains(&secret),
        "the seed is never shown again"
    );

    let (st, body) = login(&app, "otp", "otp-user-Passw0rd", None).await;
    assert_problem(st, &body, 401, None);
    assert_eq!(body["type"], "urn:roster:problem:mfa-required");
    let (st, _) = login(&app, "otp", "otp-user-Passw0rd", Some("123456x")).await;
    assert_eq!(st, 401);
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let (st, body) = login(&app, "otp", "otp-user-Passw0rd", Some(&code)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["mfa_enrollment_required"], false);
    // A code works once: replaying it is a failed login.
    let (st, body) = login(&app, "otp", "otp-user-Passw0rd", Some(&code)).await;
    assert_problem(st, &body, 401, None);
    assert_eq!(body["type"], "urn:roster:problem:unauthenticated");
    // The wrong password with the right code is still a failure.
    let (st, body) = login(&app, "otp", "wrong-Passw0rd-x", Some(&code)).await;
    assert_problem(st, &body, 401, None);
    assert_eq!(body["type"], "urn:roster:problem:unauthenticated");

    // An administrator resets a lost device.
    let (_, list) = parts(app.get("/api/v1/users?username=otp").send().await.unwrap()).await;
    let id = list["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/users/{id}/mfa"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (st, _) = login(&app, "otp", "otp-user-Passw0rd", None).await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn required_but_not_enrolled_gets_an_enrollment_only_token() {
    let app = TestApp::spawn().await;
    app.create_user(
        json!({"username": "must", "password": "must-user-Passw0rd", "mfa_required": true}),
    )
    .await;
    let (st, body) = login(&app, "must", "must-user-Passw0rd", None).await;
    assert_eq!(st, 200);
    assert_eq!(body["mfa_enrollment_required"], true);
    let token = body["access_token"].as_str().unwrap().to_string();
    // Good for itself and enrollment only.
    assert_eq!(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (st, body) = parts(
        app.client
            .get(app.url("/api/v1/roles"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);
    let secret = enroll(&app, &token).await;
    let (st, body) = login(&app, "must", "must-user-Passw0rd", None).await;
    assert_eq!(body["type"], "urn:roster:problem:mfa-required", "{body}");
    assert_eq!(st, 401);
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let (st, body) = login(&app, "must", "must-user-Passw0rd", Some(&code)).await;
    assert_eq!(st, 200);
    assert_eq!(body["mfa_enrollment_required"], false);
    // Removing one's own factor needs a current code.
    let full = body["access_token"].as_str().unwrap().to_string();
    let r = app
        .client
        .post(app.url("/api/v1/me/mfa/totp/remove"))
        .bearer_auth(&full)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}
