//! Reliability: slow clients, overload, storage faults, foreign database
//! files, truthful token lifetimes and clean shutdown (issue 9). Every test
//! here is bounded in time; the ones that need root (a tmpfs to fill) say
//! so and return early otherwise.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Options, TestApp, cheap_core, parts};

/// A token is refused as soon as its `expires_in` has passed: no hidden
/// grace period (the validation used to allow 5 s past `exp`).
#[tokio::test]
async fn a_token_is_refused_once_expires_in_has_passed() {
    let app = TestApp::with(Options {
        core: roster_core::RosterConfig {
            token_ttl_secs: 1,
            ..cheap_core()
        },
        ..Options::default()
    })
    .await;
    let (s, body) = parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap().to_string();
    let me = || app.client.get(app.url("/api/v1/me")).bearer_auth(&token);
    assert_eq!(me().send().await.unwrap().status(), 200);
    // `exp` is whole seconds: two seconds later it has certainly passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, body) = parts(me().send().await.unwrap()).await;
    assert_eq!(s, 401, "an expired token still works: {body}");
    assert_eq!(body["type"], "urn:roster:problem:unauthenticated");
}
