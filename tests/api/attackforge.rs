//! The AttackForge SSAPI dialect.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, parts};

fn seed() -> Value {
    json!({
        "first_name": "John",
        "last_name": "Citizen",
        "username": "john.citizen@example.com",
        "email": "john.citizen@example.com",
        "password": "ThisIsASuperLongPassword",
        "role": "client",
        "mfa": "Yes"
    })
}

async fn af(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, ("X-SSAPI-KEY", ADMIN_KEY), body)
        .await
}

#[tokio::test]
async fn seed_create_user_request() {
    let app = TestApp::spawn().await;
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(seed())).await;
    assert_eq!(s, 200, "{body}");
    let u = &body["user"];
    for (k, v) in [
        ("first_name", "John"),
        ("last_name", "Citizen"),
        ("email", "john.citizen@example.com"),
        ("username", "john.citizen@example.com"),
        ("status", "Active"),
        ("role", "client"),
        ("mfa", "Yes"),
    ] {
        assert_eq!(u[k], v, "{k}");
    }
    assert!(u.get("password").is_none());
    // The same user through the native face: an ordinary roster user.
    let (_, list) = parts(
        app.get("/api/v1/users?username=john.citizen@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let native = &list["items"][0];
    assert_eq!(native["id"], u["id"]);
    assert_eq!(native["mfa_required"], true);
    assert_eq!(native["has_password"], true);
    let (_, roles) = parts(
        app.get(&format!(
            "/api/v1/users/{}/roles",
            u["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(roles["items"][0]["role"], "client");
    // And the password works.
    app.token("john.citizen@example.com", "ThisIsASuperLongPassword")
        .await;
}

#[tokio::test]
async fn create_failures_in_the_error_envelope() {
    let app = TestApp::spawn().await;
    let mut short = seed();
    short["password"] = json!("Only14chars!!x");
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(short)).await;
    assert_eq!(s, 400);
    assert!(
        body["error"].as_str().unwrap().contains("at least 15"),
        "{body}"
    );
    let mut role = seed();
    role["role"] = json!("superuser");
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(role)).await;
    assert_eq!(
        (s, body["error"].as_str().unwrap()),
        (
            400,
            "role must be one of: admin, librarymod, client, consultant, projectoperator"
        )
    );
    let mut mfa = seed();
    mfa["mfa"] = json!("yes");
    let (s, _) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(mfa)).await;
    assert_eq!(s, 400);
    let mut missing = seed();
    missing.as_object_mut().unwrap().remove("email");
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(missing)).await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("email"), "{body}");
    af(&app, reqwest::Method::POST, "/api/ss/user", Some(seed())).await;
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(seed())).await;
    assert_eq!(s, 409, "{body}");
    assert!(body["error"].is_string());
    // Bad or missing key: 401 with {"error"}.
    let r = app
        .client
        .get(app.url("/api/ss/users"))
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 401);
    assert!(body["error"].is_string());
    let r = app
        .client
        .get(app.url("/api/ss/users"))
        .header("X-SSAPI-KEY", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Malformed JSON and unknown paths stay in the envelope.
    let r = app
        .client
        .post(app.url("/api/ss/user"))
        .header("X-SSAPI-KEY", ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 400);
    assert!(body["error"].is_string());
    let (s, body) = af(&app, reqwest::Method::GET, "/api/ss/nothing-here", None).await;
    assert_eq!(s, 404);
    assert!(body["error"].is_string(), "{body}");
    let (s, body) = af(
        &app,
        reqwest::Method::GET,
        "/api/ss/users/5e5cbecee365f1003f3b20b8",
        None,
    )
    .await;
    assert_eq!((s, body), (404, json!({"error": "User not found"})));
}

#[tokio::test]
async fn reads_updates_and_groups() {
    let app = TestApp::spawn().await;
    let (_, created) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(seed())).await;
    let id = created["user"]["id"].as_str().unwrap().to_string();
    // Natively created users are visible here too, with read-side names.
    app.create_user(
        json!({"username": "native", "email": "native@example.com", "first_name": "Nat"}),
    )
    .await;
    let (s, list) = af(
        &app,
        reqwest::Method::GET,
        "/api/ss/users?firstName=nat",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["users"][0]["email_address"], "native@example.com");
    assert_eq!(list["users"][0]["mfa_enabled"], "No");
    let (_, one) = af(
        &app,
        reqwest::Method::GET,
        "/api/ss/users/email/john.citizen%40example.com",
        None,
    )
    .await;
    assert_eq!(one["user"]["id"], id.as_str());
    let (_, one) = af(
        &app,
        reqwest::Method::GET,
        "/api/ss/users/username/john.citizen%40example.com",
        None,
    )
    .await;
    assert_eq!(one["user"]["mfa_enabled"], "Yes");

    let (s, up) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/user/{id}"),
        Some(json!({"email_address": "jc@example.com"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(up["user"]["email_address"], "jc@example.com");
    let (_, del) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/user/{id}"),
        Some(json!({"is_deleted": true})),
    )
    .await;
    assert_eq!(del["user"]["status"], "Deleted");
    let (_, back) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/user/{id}"),
        Some(json!({"is_deleted": false})),
    )
    .await;
    assert_eq!(back["user"]["status"], "Active");

    let (_, g) = af(&app, reqwest::Method::POST, "/api/ss/group", Some(json!({"name": "Blue", "group_owner": "admin", "custom_fields": [{"key": "k", "value": "v"}]}))).await;
    assert_eq!(g["status"], "ok");
    let gid = g["group"]["id"].as_str().unwrap().to_string();
    let (s, r) = af(
        &app,
        reqwest::Method::POST,
        "/api/ss/group/user",
        Some(json!({"group_id": gid, "user_id": id, "access_level": "Upload"})),
    )
    .await;
    assert_eq!((s, r), (200, json!({"status": "User Added To Group"})));
    let (s, r) = af(
        &app,
        reqwest::Method::POST,
        "/api/ss/group/user",
        Some(json!({"group_id": gid, "user_id": id, "access_level": "Owner"})),
    )
    .await;
    assert_eq!(s, 400, "{r}");
    let (_, full) = af(
        &app,
        reqwest::Method::GET,
        &format!("/api/ss/group/{gid}"),
        None,
    )
    .await;
    assert_eq!(full["group"]["members"][0]["accessLevel"], "Upload");
    assert_eq!(
        full["group"]["custom_fields"],
        json!([{"key": "k", "value": "v"}])
    );
    let (_, r) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/group/{gid}"),
        Some(json!({"primary_contact_name": "Leon"})),
    )
    .await;
    assert_eq!(r, json!({"status": "ok"}));
    let (_, groups) = af(&app, reqwest::Method::GET, "/api/ss/groups", None).await;
    assert_eq!(groups["groups"][0]["group_primary_contact_name"], "Leon");
    let (_, r) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/group/user/{id}"),
        Some(json!({"group_id": gid, "access_level": "Delete"})),
    )
    .await;
    assert_eq!(r["status"], "User Access Updated On Group");
    let (_, mine) = af(
        &app,
        reqwest::Method::GET,
        &format!("/api/ss/user/{id}/groups"),
        None,
    )
    .await;
    assert_eq!(mine["count"], 0);

    // Logins and audit logs come from the audit trail.
    app.token("john.citizen@example.com", "ThisIsASuperLongPassword")
        .await;
    let (_, logins) = af(
        &app,
        reqwest::Method::GET,
        &format!("/api/ss/user/{id}/logins"),
        None,
    )
    .await;
    assert_eq!(logins["count"], 1);
    assert_eq!(logins["logs"][0]["ip"], "127.0.0.1");
    let (_, admin_list) = parts(
        app.get("/api/v1/users?username=admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let admin_id = admin_list["items"][0]["id"].as_str().unwrap();
    let (_, logs) = af(
        &app,
        reqwest::Method::GET,
        &format!("/api/ss/user/{admin_id}/auditlogs?limit=2"),
        None,
    )
    .await;
    assert_eq!(logs["count"], 2);
    assert!(logs["logs"][0]["endpoint"].is_string());
}

#[tokio::test]
async fn regenerate_replaces_the_key() {
    let app = TestApp::spawn().await;
    let (s, body) = af(
        &app,
        reqwest::Method::POST,
        "/api/ss/apikey/regenerate",
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let new = body["apikey"].as_str().unwrap().to_string();
    let r = app
        .client
        .get(app.url("/api/ss/users"))
        .header("X-SSAPI-KEY", &new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/api/ss/users"))
        .header("X-SSAPI-KEY", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the old key is revoked");
}

/// The real client, pyattackforge from PyPI, runs a user lifecycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyattackforge_runs_a_user_lifecycle() {
    let app = TestApp::spawn().await;
    let site = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyclients");
    crate::helpers::ensure_python_package(&site, "pyattackforge", "pyattackforge==0.2.4");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/attackforge_lifecycle.py"
    );
    let base = format!("http://{}", app.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(base)
            .arg(ADMIN_KEY)
            .env("PYTHONPATH", site)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("pyattackforge lifecycle passed"),
        "{stdout}"
    );
}

/// Fields AttackForge does not document for the endpoint (here one standing
/// for a newer version's field) are ignored; documented ones stay checked.
#[tokio::test]
async fn unknown_fields_are_ignored_known_ones_checked() {
    let app = TestApp::spawn().await;
    let mut b = seed();
    b["is_sso_user"] = json!(false);
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(b)).await;
    assert_eq!(s, 200, "{body}");
    let id = body["user"]["id"].as_str().unwrap().to_string();
    let mut bad = seed();
    bad["username"] = json!("jane@example.com");
    bad["mfa"] = json!(true);
    let (s, body) = af(&app, reqwest::Method::POST, "/api/ss/user", Some(bad)).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("mfa"), "{body}");
    // Bulk: per item, the same rule.
    let mut one = seed();
    one["username"] = json!("bulk1@example.com");
    one["email"] = json!("bulk1@example.com");
    one["is_sso_user"] = json!(false);
    let (s, body) = af(
        &app,
        reqwest::Method::POST,
        "/api/ss/users",
        Some(json!([one])),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body[0]["status"], "Created", "{body}");
    // Update (pyattackforge's live test body) with an extra field.
    let (s, body) = af(
        &app,
        reqwest::Method::PUT,
        &format!("/api/ss/user/{id}"),
        Some(json!({"last_name": "UserUpdated", "is_sso_user": false})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["last_name"], "UserUpdated");
    // Group create: an extra field is ignored, not stored.
    let (s, body) = af(
        &app,
        reqwest::Method::POST,
        "/api/ss/group",
        Some(json!({"name": "Team A", "group_owner": "Owner", "primary_contact_name": "A", "primary_contact_email": "a@example.com", "primary_contact_number": "1", "is_sso_group": false})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["group"].get("is_sso_group").is_none());
}
