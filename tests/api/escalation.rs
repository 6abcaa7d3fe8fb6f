//! One regression test per defect found in the attacker review of the
//! access model (docs/ACCESS_MODEL.md), each through the face where it was
//! found: the refusal in that face's own envelope, nothing changed
//! afterwards, and (where cheap) the legitimate path still open.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::aria::aria;
use crate::helpers::{
    ADMIN_KEY, ADMIN_PASSWORD, Options, TestApp, assert_problem, cheap_core, parts,
};

// ---- scaffolding

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn seq(v: &Value) -> i64 {
    v["seq"].as_i64().unwrap()
}

/// A native request with `cred` as the bearer credential.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cred: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(cred);
    if let Some(b) = body {
        req = req.json(&b);
    }
    parts(req.send().await.unwrap()).await
}

/// Creates something natively as the administrator (asserting 201).
async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (st, b) = call(app, Method::POST, path, ADMIN_KEY, Some(body)).await;
    assert_eq!(st, 201, "{path}: {b}");
    b
}

async fn container(app: &TestApp, name: &str) -> Value {
    created(app, "/api/v1/containers", json!({ "name": name })).await
}

async fn group(app: &TestApp, name: &str) -> Value {
    created(app, "/api/v1/groups", json!({ "name": name })).await
}

async fn role(app: &TestApp, name: &str, privileges: &[&str]) -> Value {
    created(
        app,
        "/api/v1/roles",
        json!({ "name": name, "privileges": privileges }),
    )
    .await
}

/// A user with a password, homed in `home` (the root when `None`).
async fn user(app: &TestApp, username: &str, password: &str, home: Option<&Value>) -> Value {
    let mut body = json!({ "username": username, "password": password });
    if let Some(c) = home {
        body["container_id"] = json!(id(c));
    }
    app.create_user(body).await
}

/// Assigns a role by name to a user over all objects.
async fn grant_all(app: &TestApp, u: &Value, role: &str) {
    created(
        app,
        &format!("/api/v1/users/{}/roles", id(u)),
        json!({ "role": role, "all_objects": true }),
    )
    .await;
}

/// Assigns a role by name to a user over some containers.
async fn grant_in(app: &TestApp, u: &Value, role: &str, containers: &[&Value]) {
    let ids: Vec<&str> = containers.iter().map(|c| id(c)).collect();
    created(
        app,
        &format!("/api/v1/users/{}/roles", id(u)),
        json!({ "role": role, "container_ids": ids }),
    )
    .await;
}

async fn login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    parts(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// An API key of one's own, minted with one's own credential.
async fn own_key(app: &TestApp, cred: &str, name: &str) -> String {
    let (st, b) = call(
        app,
        Method::POST,
        "/api/v1/api-keys",
        cred,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    b["secret"].as_str().unwrap().to_string()
}

/// What a user holds, as the administrator sees it.
async fn effective(app: &TestApp, u: &Value) -> Value {
    let (st, b) = call(
        app,
        Method::GET,
        &format!("/api/v1/users/{}/effective-permissions", id(u)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    b["items"].clone()
}

/// A user's role assignments, as the administrator sees them.
async fn assignments(app: &TestApp, u: &Value) -> Value {
    let (st, b) = call(
        app,
        Method::GET,
        &format!("/api/v1/users/{}/roles", id(u)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    // Only what decides power; not ids or timestamps.
    let mut out: Vec<Value> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!([a["role"], a["all_objects"], a["container_ids"]]))
        .collect();
    out.sort_by_key(|v| v.to_string());
    Value::Array(out)
}

async fn admin_view(app: &TestApp, u: &Value) -> Value {
    let (st, b) = call(
        app,
        Method::GET,
        &format!("/api/v1/users/{}", id(u)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    b
}

async fn aria_acquire(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    parts(
        app.client
            .post(app.url("/suite-api/api/auth/token/acquire"))
            .json(&json!({ "username": username, "password": password, "authSource": "LOCAL" }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Aria's error envelope with this status.
fn assert_aria(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["httpStatusCode"], expected, "{body}");
    assert_eq!(body["apiErrorCode"], expected, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

async fn af(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, ("X-SSAPI-KEY", key), body).await
}

/// AttackForge's `{"error": "..."}` with this status.
fn assert_af(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

async fn dc(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(
        method,
        &format!("/services/v2{path}"),
        ("X-DC-DEVKEY", key),
        body,
    )
    .await
}

/// DigiCert's `{"errors": [{"code", "message"}]}` with this status and code.
fn assert_dc(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    let errors = body["errors"].as_array().expect("errors list");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], code, "{body}");
    assert!(errors[0]["message"].is_string(), "{body}");
}

async fn d3(app: &TestApp, command: &str, cred: &str, body: &Value) -> (u16, Value) {
    parts(
        app.client
            .post(app.url(&format!("/api/Command/{command}")))
            .header("d3key", cred)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The administrator's password still signs in (and needs no factor).
async fn admin_password_still_works(app: &TestApp) {
    let (st, body) = login(app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["mfa_enrollment_required"], false, "{body}");
}

// ---- 1. a restricted key mints an unrestricted key

#[tokio::test]
async fn d01_restricted_key_mints_nothing_wider_and_cannot_enrol_a_factor() {
    let app = TestApp::spawn().await;
    let (_, ro) = call(&app, Method::GET, "/api/v1/roles/13", ADMIN_KEY, None).await;
    assert_eq!(ro["name"], "ReadOnly");
    let (_, administrator) = call(&app, Method::GET, "/api/v1/roles/1", ADMIN_KEY, None).await;
    assert_eq!(administrator["name"], "Administrator");
    let key = created(
        &app,
        "/api/v1/api-keys",
        json!({ "name": "reporting", "role_id": id(&ro) }),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let create_user = async |cred: &str, username: &str| {
        call(
            &app,
            Method::POST,
            "/api/v1/users",
            cred,
            Some(json!({ "username": username })),
        )
        .await
    };
    let (st, body) = create_user(&key, "nope-0").await;
    assert_problem(st, &body, 403, None);

    // Minting with it: refused, or a key at most as wide as ReadOnly,
    // whatever role the request names.
    let mut minted = Vec::new();
    for request in [
        json!({ "name": "escalate-plain" }),
        json!({ "name": "escalate-admin", "role_id": id(&administrator) }),
    ] {
        let (st, body) = call(&app, Method::POST, "/api/v1/api-keys", &key, Some(request)).await;
        if st == 201 {
            minted.push(body["secret"].as_str().unwrap().to_string());
        } else {
            assert_problem(st, &body, 403, None);
        }
    }
    for (i, secret) in minted.iter().enumerate() {
        let (st, body) = create_user(secret, &format!("nope-{}", i + 1)).await;
        assert_problem(st, &body, 403, None);
        // Nor can it take over its owner's second factor.
        let (st, body) = call(&app, Method::POST, "/api/v1/me/mfa/totp", secret, None).await;
        assert_problem(st, &body, 403, None);
        // It reads, as ReadOnly does.
        let (st, _) = call(&app, Method::GET, "/api/v1/users", secret, None).await;
        assert_eq!(st, 200);
    }

    // No factor enrolled on, nor password changed for, the key's owner.
    let (st, body) = call(&app, Method::POST, "/api/v1/me/mfa/totp", &key, None).await;
    assert_problem(st, &body, 403, None);
    let (st, body) = call(
        &app,
        Method::POST,
        "/api/v1/me/password",
        &key,
        Some(json!({ "current_password": ADMIN_PASSWORD, "new_password": "Taken-0ver-Passw0rd" })),
    )
    .await;
    assert_problem(st, &body, 403, None);

    // Nothing changed: no user created, the admin has no factor, the password works.
    let (_, list) = call(&app, Method::GET, "/api/v1/users?q=nope", ADMIN_KEY, None).await;
    assert_eq!(list["items"], json!([]), "{list}");
    let (_, me) = call(&app, Method::GET, "/api/v1/me", ADMIN_KEY, None).await;
    assert_eq!(me["mfa_enrolled"], false, "{me}");
    admin_password_still_works(&app).await;
    // The key still reads, as ReadOnly should.
    let (st, _) = call(&app, Method::GET, "/api/v1/users", &key, None).await;
    assert_eq!(st, 200);

    // Legitimate: the whole credential mints a key that can create users.
    let full = own_key(&app, ADMIN_KEY, "full").await;
    let (st, body) = create_user(&full, "made-by-full-key").await;
    assert_eq!(st, 201, "{body}");
}

// ---- 2. enrolment-only tokens

#[tokio::test]
async fn d02_enrolment_only_token_reads_itself_and_enrols_nothing_else() {
    let app = TestApp::spawn().await;
    let pw = "must-user-Passw0rd";
    let must = app
        .create_user(json!({ "username": "must", "password": pw, "mfa_required": true }))
        .await;
    grant_all(&app, &must, "Manager").await;
    let other = user(&app, "other", "other-user-Passw0rd", None).await;
    let before = effective(&app, &must).await;

    let (st, body) = login(&app, "must", pw).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["mfa_enrollment_required"], true, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();

    let refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/users".into(), None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({ "username": "sneaky", "password": "sneaky-Passw0rd-1" })),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{}/password", id(&other)),
            Some(json!({ "password": "Hijacked-Passw0rd-1" })),
        ),
        (
            Method::POST,
            "/api/v1/api-keys".into(),
            Some(json!({ "name": "persist" })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{}", id(&must)),
            Some(json!({ "mfa_required": false })),
        ),
        (
            Method::POST,
            "/api/v1/me/password".into(),
            Some(json!({ "current_password": pw, "new_password": "Another-Passw0rd-1" })),
        ),
    ];
    for (method, path, body) in refused {
        let (st, resp) = call(&app, method.clone(), &path, &token, body).await;
        assert_eq!(st, 403, "{method} {path}: {resp}");
        assert_problem(st, &resp, 403, None);
    }
    let (st, me) = call(&app, Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["username"], "must");

    // Aria's token for the same account is enrolment-only too.
    let (st, t) = aria_acquire(&app, "must", pw).await;
    assert_eq!(st, 200, "{t}");
    let ops = format!("OpsToken {}", t["token"].as_str().unwrap());
    let (st, body) = aria(&app, Method::GET, "/users", &ops, None).await;
    assert_aria(st, &body, 403);

    // Enrolling a factor is what the token is for.
    let (st, e) = call(&app, Method::POST, "/api/v1/me/mfa/totp", &token, None).await;
    assert_eq!(st, 201, "{e}");
    assert!(e["secret"].is_string());

    // Nothing changed.
    assert_eq!(effective(&app, &must).await, before);
    let after = admin_view(&app, &must).await;
    assert_eq!(after["mfa_required"], true, "{after}");
    let (_, list) = call(
        &app,
        Method::GET,
        "/api/v1/users?username=sneaky",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(list["items"], json!([]));
    let (_, keys) = call(
        &app,
        Method::GET,
        &format!("/api/v1/api-keys?user_id={}", id(&must)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(keys["items"], json!([]), "{keys}");
    let (st, _) = login(&app, "other", "other-user-Passw0rd").await;
    assert_eq!(st, 200, "the other user's password is unchanged");
}

// ---- 3. acting on someone more powerful

#[tokio::test]
async fn d03_scoped_manager_cannot_touch_a_global_administrator_homed_in_its_container() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    let mgr = user(&app, "mgr", "manager-Passw0rd-1", Some(&a)).await;
    grant_in(&app, &mgr, "Manager", &[&a]).await;
    let boss_pw = "boss-admin-Passw0rd-1";
    let boss = user(&app, "boss", boss_pw, Some(&a)).await;
    grant_all(&app, &boss, "Administrator").await;
    let plain = user(&app, "plain", "plain-user-Passw0rd-1", Some(&a)).await;
    let token = app.token("mgr", "manager-Passw0rd-1").await;
    let boss_before = admin_view(&app, &boss).await;

    let boss_path = format!("/api/v1/users/{}", id(&boss));
    let refused: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("{boss_path}/password"),
            Some(json!({ "password": "Pwned-by-mgr-Passw0rd" })),
        ),
        (
            Method::PATCH,
            boss_path.clone(),
            Some(json!({ "email": "mgr-controls@example.com" })),
        ),
        (
            Method::PATCH,
            boss_path.clone(),
            Some(json!({ "active": false })),
        ),
        (Method::DELETE, boss_path.clone(), None),
        (Method::DELETE, format!("{boss_path}/mfa"), None),
        (Method::POST, format!("{boss_path}/unlock"), None),
    ];
    for (method, path, body) in refused {
        let (st, resp) = call(&app, method.clone(), &path, &token, body).await;
        assert_eq!(st, 403, "{method} {path}: {resp}");
        assert_problem(st, &resp, 403, None);
    }

    // Nothing changed; the administrator's old password still works.
    let boss_after = admin_view(&app, &boss).await;
    assert_eq!(
        boss_after["version"], boss_before["version"],
        "{boss_after}"
    );
    assert_eq!(boss_after["active"], true);
    assert!(boss_after["email"].is_null());
    let (st, body) = login(&app, "boss", boss_pw).await;
    assert_eq!(st, 200, "{body}");

    // Legitimate: the manager resets a plain user's password in A; an
    // administrator resets the other administrator's.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/password", id(&plain)),
        &token,
        Some(json!({ "password": "Reset-by-mgr-Passw0rd" })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("{boss_path}/password"),
        ADMIN_KEY,
        Some(json!({ "password": "Reset-by-admin-Passw0rd" })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
}

// ---- 4. joining a powerful group

#[tokio::test]
async fn d04_group_writer_cannot_join_a_group_that_holds_administrator() {
    let app = TestApp::spawn().await;
    let pu = user(&app, "pu", "power-user-Passw0rd", None).await;
    grant_all(&app, &pu, "PowerUser").await;
    let admins = group(&app, "Admins").await;
    created(
        &app,
        &format!("/api/v1/groups/{}/roles", id(&admins)),
        json!({ "role": "Administrator", "all_objects": true }),
    )
    .await;
    let lounge = group(&app, "Lounge").await;
    let lobby = group(&app, "Lobby").await;
    let token = app.token("pu", "power-user-Passw0rd").await;
    let key = own_key(&app, &token, "attackforge").await;
    let before = effective(&app, &pu).await;

    // Native.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/groups/{}/members", id(&admins)),
        &token,
        Some(json!({ "user_id": id(&pu) })),
    )
    .await;
    assert_problem(st, &body, 403, None);
    // AttackForge: add, and "update access" (which adds too).
    let (st, body) = af(
        &app,
        Method::POST,
        "/api/ss/group/user",
        &key,
        Some(json!({ "group_id": id(&admins), "user_id": id(&pu), "access_level": "View" })),
    )
    .await;
    assert_af(st, &body, 403);
    let (st, body) = af(
        &app,
        Method::PUT,
        &format!("/api/ss/group/user/{}", id(&pu)),
        &key,
        Some(json!({ "group_id": id(&admins), "access_level": "Edit" })),
    )
    .await;
    assert_af(st, &body, 403);
    // Aria: a group's member list.
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/usergroups",
        &format!("Bearer {token}"),
        Some(json!({ "id": id(&admins), "name": "Admins", "userIds": [id(&pu)] })),
    )
    .await;
    assert_aria(st, &body, 403);

    // Nothing changed.
    let (_, members) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}/members", id(&admins)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(members["items"], json!([]), "{members}");
    assert_eq!(effective(&app, &pu).await, before);
    let (st, body) = call(&app, Method::GET, "/api/v1/audit-events", &token, None).await;
    assert_problem(st, &body, 403, None);

    // Legitimate: groups that grant nothing are the group writer's to join.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/groups/{}/members", id(&lounge)),
        &token,
        Some(json!({ "user_id": id(&pu) })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let (st, body) = af(
        &app,
        Method::POST,
        "/api/ss/group/user",
        &key,
        Some(json!({ "group_id": id(&lobby), "user_id": id(&pu), "access_level": "View" })),
    )
    .await;
    assert_eq!(
        (st, body),
        (200, json!({ "status": "User Added To Group" }))
    );
}

// ---- 5. editing one's own role

#[tokio::test]
async fn d05_role_writer_cannot_add_privileges_it_lacks_to_a_role_it_holds() {
    let app = TestApp::spawn().await;
    let smith = role(
        &app,
        "RoleSmith",
        &["roles.read", "roles.write", "users.read"],
    )
    .await;
    let ed = user(&app, "ed", "role-editor-Passw0rd", None).await;
    grant_all(&app, &ed, "RoleSmith").await;
    let token = app.token("ed", "role-editor-Passw0rd").await;
    let bearer = format!("Bearer {token}");
    let before = effective(&app, &ed).await;
    let role_path = format!("/api/v1/roles/{}", id(&smith));

    for extra in ["users.delete", "roles.assign", "keys.manage"] {
        let (st, body) = call(
            &app,
            Method::PATCH,
            &role_path,
            &token,
            Some(json!({ "privileges": ["roles.read", "roles.write", "users.read", extra] })),
        )
        .await;
        assert_problem(st, &body, 403, None);
    }
    let (st, body) = aria(
        &app,
        Method::POST,
        "/roles/RoleSmith/privileges",
        &bearer,
        Some(json!({ "privilege-key": ["users.delete"] })),
    )
    .await;
    assert_aria(st, &body, 403);
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/roles/RoleSmith/privileges",
        &bearer,
        Some(json!({ "privilege-key": ["roles.read", "roles.write", "users.read", "audit.read"] })),
    )
    .await;
    assert_aria(st, &body, 403);
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/roles",
        &bearer,
        Some(json!({ "name": "RoleSmith", "privilege-keys": ["roles.read", "roles.write", "users.read", "users.write"] })),
    )
    .await;
    assert_aria(st, &body, 403);

    // Nothing changed.
    let (_, now) = call(&app, Method::GET, &role_path, ADMIN_KEY, None).await;
    assert_eq!(now["privileges"], smith["privileges"], "{now}");
    assert_eq!(now["version"], smith["version"], "{now}");
    assert_eq!(effective(&app, &ed).await, before);

    // Legitimate: a change that confers nothing; an administrator's additions.
    let (st, body) = call(
        &app,
        Method::PATCH,
        &role_path,
        &token,
        Some(json!({ "description": "forges roles" })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = aria(
        &app,
        Method::POST,
        "/roles/RoleSmith/privileges",
        &format!("Bearer {ADMIN_KEY}"),
        Some(json!({ "privilege-key": ["users.delete"] })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body["privilege-key"]
            .as_array()
            .unwrap()
            .contains(&json!("users.delete")),
        "{body}"
    );
}

// ---- 6. DigiCert container user-assignments

#[tokio::test]
async fn d06_digicert_user_assignments_need_power_over_what_moves() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    let d = container(&app, "D").await;
    role(&app, "Assigner", &["roles.assign", "containers.read"]).await;
    let caller = user(&app, "assigner", "assigner-Passw0rd-1", Some(&a)).await;
    grant_in(&app, &caller, "Manager", &[&a]).await;
    grant_in(&app, &caller, "Assigner", &[&d]).await;
    let victim = user(&app, "victim", "victim-Passw0rd-12", Some(&a)).await;
    grant_in(&app, &victim, "Manager", &[&d]).await;
    let token = app.token("assigner", "assigner-Passw0rd-1").await;
    let key = own_key(&app, &token, "digicert").await;
    let caller_before = effective(&app, &caller).await;
    let victim_before = assignments(&app, &victim).await;
    let path = format!("/container/{}/user-assignments", seq(&d));

    // Extending its own Manager role to D.
    let (st, body) = dc(
        &app,
        Method::PUT,
        &path,
        &key,
        Some(json!({ "user_id_assignments": [seq(&caller)] })),
    )
    .await;
    assert_dc(st, &body, 403, "access_denied|missing_permission");
    assert_eq!(effective(&app, &caller).await, caller_before);

    // Stripping D from a user whose D-scoped Manager it could not revoke.
    let (st, body) = dc(
        &app,
        Method::PUT,
        &path,
        &key,
        Some(json!({ "user_id_assignments": [] })),
    )
    .await;
    assert_dc(st, &body, 403, "access_denied|missing_permission");
    assert_eq!(assignments(&app, &victim).await, victim_before);
    assert_eq!(
        victim_before,
        json!([["Manager", false, [id(&d)]]]),
        "{victim_before}"
    );

    // Legitimate: an administrator does both.
    let (st, body) = dc(
        &app,
        Method::PUT,
        &path,
        ADMIN_KEY,
        Some(json!({ "user_id_assignments": [seq(&caller), seq(&victim)] })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let now = assignments(&app, &caller).await;
    let manager = now
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a[0] == "Manager")
        .unwrap();
    assert!(
        manager[2].as_array().unwrap().contains(&json!(id(&d))),
        "{now}"
    );
}

// ---- 7. re-assigning replaces

#[tokio::test]
async fn d07_reassigning_a_held_role_cannot_revoke_what_the_caller_could_not() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    let b = container(&app, "B").await;
    role(
        &app,
        "Delegate",
        &[
            "roles.assign",
            "users.read",
            "users.write",
            "containers.read",
        ],
    )
    .await;
    let deleg = user(&app, "deleg", "delegate-Passw0rd-1", Some(&a)).await;
    grant_in(&app, &deleg, "Delegate", &[&a]).await;
    grant_all(&app, &deleg, "ReadOnly").await;
    // Standard User (users.read, containers.read): the delegate holds it
    // everywhere through ReadOnly, so these users are not above it.
    let global = user(&app, "global", "global-user-Passw0rd", Some(&a)).await;
    grant_all(&app, &global, "Standard User").await;
    let in_b = user(&app, "in-b", "in-b-user-Passw0rd", Some(&a)).await;
    grant_in(&app, &in_b, "Standard User", &[&b]).await;
    let fresh = user(&app, "fresh", "fresh-user-Passw0rd", Some(&a)).await;
    let token = app.token("deleg", "delegate-Passw0rd-1").await;
    let global_before = assignments(&app, &global).await;
    let in_b_before = assignments(&app, &in_b).await;
    assert_eq!(global_before, json!([["Standard User", true, []]]));
    assert_eq!(in_b_before, json!([["Standard User", false, [id(&b)]]]));
    let unchanged = async || {
        assert_eq!(assignments(&app, &global).await, global_before);
        assert_eq!(assignments(&app, &in_b).await, in_b_before);
    };

    // Native.
    for u in [&global, &in_b] {
        let (st, body) = call(
            &app,
            Method::POST,
            &format!("/api/v1/users/{}/roles", id(u)),
            &token,
            Some(json!({ "role": "Standard User", "container_ids": [id(&a)] })),
        )
        .await;
        assert_problem(st, &body, 403, None);
    }
    unchanged().await;

    // Aria.
    for u in [&global, &in_b] {
        let (st, body) = aria(
            &app,
            Method::PUT,
            &format!("/users/{}/permissions", id(u)),
            &format!("Bearer {token}"),
            Some(
                json!({ "roleName": "Standard User", "scopeId": id(&a), "allowAllObjects": false }),
            ),
        )
        .await;
        assert_aria(st, &body, 403);
    }
    unchanged().await;

    // D3: "no permission" is its authentication failure.
    for u in [&global, &in_b] {
        let (st, body) = d3(
            &app,
            "UpdateUser",
            &token,
            &json!({
                "Username": "deleg",
                "Site": "A",
                "CommandParams": {
                    "User ID": seq(u),
                    "User Information": { "roleId": 5, "siteIds": [seq(&a)] }
                }
            }),
        )
        .await;
        assert_eq!(
            (st, body),
            (401, json!({ "Error": "Invalid authentication key." }))
        );
    }
    unchanged().await;

    // Legitimate: granting the role in A to someone without it.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/roles", id(&fresh)),
        &token,
        Some(json!({ "role": "Standard User", "container_ids": [id(&a)] })),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(
        assignments(&app, &fresh).await,
        json!([["Standard User", false, [id(&a)]]])
    );
}

// ---- 8. passwords without users.credentials

#[tokio::test]
async fn d08_profile_writer_cannot_set_or_clear_passwords_or_sign_in_rules() {
    let app = TestApp::spawn().await;
    role(&app, "ProfileEditor", &["users.read", "users.write"]).await;
    let editor = user(&app, "editor", "profile-editor-Passw0rd", None).await;
    grant_all(&app, &editor, "ProfileEditor").await;
    let target_pw = "target-user-Passw0rd";
    let target = user(&app, "target", target_pw, None).await;
    let token = app.token("editor", "profile-editor-Passw0rd").await;
    let path = format!("/api/v1/users/{}", id(&target));

    for patch in [
        json!({ "password": "Editor-chosen-Passw0rd" }),
        json!({ "password": null }),
        json!({ "mfa_required": true }),
        json!({ "saml_sso_only": true }),
        json!({ "first_name": "Fine", "password": "Editor-chosen-Passw0rd" }),
    ] {
        let (st, body) = call(&app, Method::PATCH, &path, &token, Some(patch.clone())).await;
        assert_eq!(st, 403, "{patch}: {body}");
        assert_problem(st, &body, 403, None);
    }
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/users",
        &format!("Bearer {token}"),
        Some(json!({ "id": id(&target), "password": "Editor-chosen-Passw0rd" })),
    )
    .await;
    assert_aria(st, &body, 403);

    // Nothing changed; the old password still works.
    let now = admin_view(&app, &target).await;
    assert_eq!(now["version"], target["version"], "{now}");
    assert_eq!(now["has_password"], true);
    assert_eq!(now["mfa_required"], false);
    assert_eq!(now["saml_sso_only"], false);
    assert!(now["first_name"].is_null());
    let (st, body) = login(&app, "target", target_pw).await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = login(&app, "target", "Editor-chosen-Passw0rd").await;
    assert_eq!(st, 401);

    // Legitimate: the profile itself.
    let (st, body) = call(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(json!({ "first_name": "Ted" })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/users",
        &format!("Bearer {token}"),
        Some(json!({ "id": id(&target), "lastName": "Target" })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["lastName"], "Target");
}

// ---- 9. lockout as a weapon

#[tokio::test]
async fn d09_failed_logins_never_switch_off_keys_or_tokens() {
    let app = TestApp::spawn().await;
    let pw = "victim-user-Passw0rd";
    let victim = user(&app, "victim", pw, None).await;
    let key = created(
        &app,
        "/api/v1/api-keys",
        json!({ "name": "automation", "user_id": id(&victim) }),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.token("victim", pw).await;
    let (st, t) = aria_acquire(&app, "victim", pw).await;
    assert_eq!(st, 200, "{t}");
    let ops = format!("OpsToken {}", t["token"].as_str().unwrap());

    // Ten wrong passwords, through two faces.
    for _ in 0..5 {
        let (st, body) = login(&app, "victim", "wrong-guess-Passw0rd").await;
        assert_problem(st, &body, 401, None);
        let (st, body) = aria_acquire(&app, "victim", "wrong-guess-Passw0rd").await;
        assert_aria(st, &body, 401);
    }
    // From this source the next attempt waits, even with the right password
    // (asked at once: the first wait is one second).
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": "victim", "password": pw }))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let (st, body) = parts(r).await;
    assert_problem(st, &body, 429, None);
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .json(&json!({ "username": "victim", "password": pw }))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (st, body) = parts(r).await;
    assert_aria(st, &body, 429);

    // The account's key and live tokens keep working, on every face.
    let (st, me) = call(&app, Method::GET, "/api/v1/me", &key, None).await;
    assert_eq!((st, &me["username"]), (200, &json!("victim")), "{me}");
    assert_eq!(me["active"], true);
    let (st, me) = call(&app, Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!((st, &me["username"]), (200, &json!("victim")), "{me}");
    let (st, me) = dc(&app, Method::GET, "/user/me", &key, None).await;
    assert_eq!((st, &me["username"]), (200, &json!("victim")), "{me}");
    let (st, me) = af(
        &app,
        Method::GET,
        &format!("/api/ss/users/{}", id(&victim)),
        &key,
        None,
    )
    .await;
    assert_eq!(
        (st, &me["user"]["username"]),
        (200, &json!("victim")),
        "{me}"
    );
    let (st, me) = aria(&app, Method::GET, "/currentuser", &ops, None).await;
    assert_eq!((st, &me["username"]), (200, &json!("victim")), "{me}");

    // An administrator's unlock forgives; the right password works again.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/unlock", id(&victim)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = login(&app, "victim", pw).await;
    assert_eq!(st, 200, "{body}");
}

// ---- 10. login flood

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d10_a_login_flood_does_not_starve_an_administrators_create() {
    // One hashing thread, a short queue and a hash that takes a few
    // milliseconds: 64 logins would keep a shared queue full for a while.
    let mut core = cheap_core();
    core.hash_workers = 1;
    core.hash_queue = 32;
    core.hash_cost.memory_kib = 4096;
    core.hash_cost.iterations = 2;
    let app = Arc::new(
        TestApp::with(Options {
            core,
            ..Options::default()
        })
        .await,
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(65));
    let mut logins = Vec::new();
    for i in 0..64 {
        let (app, barrier) = (app.clone(), barrier.clone());
        logins.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app
                .client
                .post(app.url("/api/v1/auth/token"))
                .json(
                    &json!({ "username": format!("ghost-{i}"), "password": "bogus-Passw0rd-123" }),
                )
                .send()
                .await
                .unwrap();
            let retry = r.headers().contains_key("retry-after");
            let (st, body) = parts(r).await;
            (st, retry, body)
        }));
    }
    barrier.wait().await;
    // In the thick of the flood.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let create = parts(
        app.post_json(
            "/api/v1/users",
            &json!({ "username": "hired", "password": "hired-user-Passw0rd" }),
        )
        .send()
        .await
        .unwrap(),
    );
    // The administrator's create is never refused for the logins' sake.
    let (st, body) = create.await;
    assert_eq!(st, 201, "create during the flood: {body}");
    assert_eq!(body["has_password"], true);
    let mut statuses = Vec::new();
    for l in logins {
        let (st, retry, body) = l.await.unwrap();
        match st {
            401 => assert_problem(st, &body, 401, None),
            // Throttled by the gate, or (on a slow, busy machine) beyond the
            // login lane's own time budget: either way told when to retry.
            429 | 503 => {
                assert_problem(st, &body, st, None);
                assert!(retry, "{st} without Retry-After");
            }
            _ => panic!("bogus login answered {st}: {body}"),
        }
        statuses.push(st);
    }
    assert!(
        statuses.contains(&429),
        "the gate held the flood back: {statuses:?}"
    );
}

// ---- 11. unthrottled secret checks

#[tokio::test]
async fn d11_wrong_current_passwords_and_totp_codes_are_audited_and_throttled() {
    // The per-second gate off: this is about the per-account back-off.
    let mut core = cheap_core();
    core.login_rate_per_sec = 0;
    let app = TestApp::with(Options {
        core,
        ..Options::default()
    })
    .await;
    let pw = "changer-user-Passw0rd";
    let changer = user(&app, "changer", pw, None).await;
    let token = app.token("changer", pw).await;
    let (st, t) = aria_acquire(&app, "changer", pw).await;
    assert_eq!(st, 200, "{t}");
    let ops = format!("OpsToken {}", t["token"].as_str().unwrap());
    let native_change = async |current: &str| {
        let r = app
            .client
            .post(app.url("/api/v1/me/password"))
            .bearer_auth(&token)
            .json(&json!({ "current_password": current, "new_password": "Changed-user-Passw0rd" }))
            .send()
            .await
            .unwrap();
        let retry = r.headers().contains_key("retry-after");
        let (st, body) = parts(r).await;
        (st, retry, body)
    };
    let aria_change = async |current: &str| {
        let r = app
            .client
            .put(app.url("/suite-api/api/auth/users/passwordchange"))
            .header("authorization", &ops)
            .json(&json!({ "currentPassword": current, "newPassword": "Changed-user-Passw0rd" }))
            .send()
            .await
            .unwrap();
        let retry = r.headers().contains_key("retry-after");
        let (st, body) = parts(r).await;
        (st, retry, body)
    };
    for _ in 0..5 {
        let (st, _, body) = native_change("not-the-Passw0rd-1").await;
        assert_problem(st, &body, 400, Some(("current_password", "matches")));
        let (st, _, body) = aria_change("not-the-Passw0rd-1").await;
        assert_aria(st, &body, 400);
    }
    // Throttled now, the right current password included, on both faces.
    let (st, retry, body) = native_change(pw).await;
    assert_problem(st, &body, 429, None);
    assert!(retry);
    let (st, retry, body) = aria_change(pw).await;
    assert_aria(st, &body, 429);
    assert!(retry);
    let (_, log) = call(
        &app,
        Method::GET,
        &format!(
            "/api/v1/audit-events?action=user.password.change&outcome=failure&target_id={}&limit=100",
            id(&changer)
        ),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 10, "{log}");
    // The password did not change; an unlock lets its owner back in.
    let (st, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/unlock", id(&changer)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = login(&app, "changer", pw).await;
    assert_eq!(st, 200, "{body}");

    // TOTP enrolment codes.
    let otp = user(&app, "otp", "otp-user-Passw0rd-1", None).await;
    let token = app.token("otp", "otp-user-Passw0rd-1").await;
    let (st, e) = call(&app, Method::POST, "/api/v1/me/mfa/totp", &token, None).await;
    assert_eq!(st, 201, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    let current: u32 = roster_core::mfa::current_code(&secret)
        .unwrap()
        .parse()
        .unwrap();
    let wrong = format!("{:06}", (current + 500_000) % 1_000_000);
    let confirm = async |code: &str| {
        call(
            &app,
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            &token,
            Some(json!({ "code": code })),
        )
        .await
    };
    for _ in 0..10 {
        let (st, body) = confirm(&wrong).await;
        assert_problem(st, &body, 400, Some(("code", "totp")));
    }
    let (st, body) = confirm(&wrong).await;
    assert_problem(st, &body, 429, None);
    let (_, log) = call(
        &app,
        Method::GET,
        &format!(
            "/api/v1/audit-events?action=mfa.totp.enroll&outcome=failure&target_id={}&limit=100",
            id(&otp)
        ),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 10, "{log}");
    assert_eq!(admin_view(&app, &otp).await["mfa_enrolled"], false);
}

// ---- 12. sessions outlive a password reset

#[tokio::test]
async fn d12_a_password_reset_ends_native_and_aria_sessions() {
    let app = TestApp::spawn().await;
    let u = user(&app, "sess", "session-user-Passw0rd", None).await;
    let path = format!("/api/v1/users/{}", id(&u));
    let sessions = async |pw: &str| {
        let token = app.token("sess", pw).await;
        let (st, t) = aria_acquire(&app, "sess", pw).await;
        assert_eq!(st, 200, "{t}");
        let ops = format!("OpsToken {}", t["token"].as_str().unwrap());
        let (st, _) = call(&app, Method::GET, "/api/v1/me", &token, None).await;
        assert_eq!(st, 200);
        let (st, _) = aria(&app, Method::GET, "/currentuser", &ops, None).await;
        assert_eq!(st, 200);
        (token, ops)
    };
    let ended = async |token: &str, ops: &str| {
        let (st, body) = call(&app, Method::GET, "/api/v1/me", token, None).await;
        assert_problem(st, &body, 401, None);
        let (st, body) = aria(&app, Method::GET, "/currentuser", ops, None).await;
        assert_aria(st, &body, 401);
    };

    // Reset through the password endpoint.
    let (token, ops) = sessions("session-user-Passw0rd").await;
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("{path}/password"),
        ADMIN_KEY,
        Some(json!({ "password": "Reset-once-Passw0rd" })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    ended(&token, &ops).await;

    // And through a patch of the user.
    let (token, ops) = sessions("Reset-once-Passw0rd").await;
    let (st, body) = call(
        &app,
        Method::PATCH,
        &path,
        ADMIN_KEY,
        Some(json!({ "password": "Reset-twice-Passw0rd" })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    ended(&token, &ops).await;

    // The new password starts new sessions.
    let (st, body) = login(&app, "sess", "Reset-twice-Passw0rd").await;
    assert_eq!(st, 200, "{body}");
}

// ---- 13. saml_sso_only

#[tokio::test]
async fn d13_sso_only_users_cannot_sign_in_with_a_password() {
    let app = TestApp::spawn().await;
    let pw = "sso-only-user-Passw0rd";
    let u = user(&app, "sso", pw, None).await;
    let (st, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{}", id(&u)),
        ADMIN_KEY,
        Some(json!({ "saml_sso_only": true })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["saml_sso_only"], true);
    assert_eq!(body["has_password"], true);

    let (st, body) = login(&app, "sso", pw).await;
    assert_problem(st, &body, 401, None);
    assert!(body.get("access_token").is_none());
    let (st, body) = aria_acquire(&app, "sso", pw).await;
    assert_aria(st, &body, 401);
    assert!(body.get("token").is_none());

    // Legitimate: once password sign-in is allowed again, it works.
    let (st, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{}", id(&u)),
        ADMIN_KEY,
        Some(json!({ "saml_sso_only": false })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = login(&app, "sso", pw).await;
    assert_eq!(st, 200, "{body}");
}

// ---- 14. member lists leak profiles

#[tokio::test]
async fn d14_member_lists_show_only_members_the_caller_may_read() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    let b = container(&app, "B").await;
    role(&app, "GroupViewer", &["groups.read"]).await;
    let viewer = user(&app, "viewer", "group-viewer-Passw0rd", Some(&a)).await;
    grant_all(&app, &viewer, "GroupViewer").await;
    grant_in(&app, &viewer, "Standard User", &[&a]).await;
    let g = group(&app, "Mixed").await;
    let mut members = Vec::new();
    for (name, home) in [("alice-in-a", &a), ("bob-in-b", &b)] {
        members.push(
            app.create_user(json!({
                "username": name,
                "email": format!("{name}@secret.example.com"),
                "container_id": id(home)
            }))
            .await,
        );
    }
    members.push(
        app.create_user(
            json!({ "username": "root-ruth", "email": "root-ruth@secret.example.com" }),
        )
        .await,
    );
    for m in &members {
        let (st, body) = call(
            &app,
            Method::POST,
            &format!("/api/v1/groups/{}/members", id(&g)),
            ADMIN_KEY,
            Some(json!({ "user_id": id(m) })),
        )
        .await;
        assert_eq!(st, 204, "{body}");
    }
    let token = app.token("viewer", "group-viewer-Passw0rd").await;
    let hidden = ["bob-in-b", "root-ruth"];
    let leaks = |body: &Value| {
        let text = body.to_string();
        hidden.iter().any(|h| text.contains(h)) || members[1..].iter().any(|m| text.contains(id(m)))
    };

    let (st, body) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}/members", id(&g)),
        &token,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice-in-a"], "{body}");
    assert_eq!(body["hidden"], 2, "{body}");
    assert!(!leaks(&body), "{body}");

    // The other faces that list members.
    let key = own_key(&app, &token, "af").await;
    let (st, body) = af(
        &app,
        Method::GET,
        &format!("/api/ss/group/{}", id(&g)),
        &key,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["group"]["members"].as_array().unwrap().len(), 1);
    assert!(!leaks(&body), "{body}");
    let (st, body) = aria(
        &app,
        Method::GET,
        &format!("/usergroups/{}", id(&g)),
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["userIds"], json!([id(&members[0])]));
    assert!(!leaks(&body), "{body}");

    // The administrator sees all three.
    let (_, body) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}/members", id(&g)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    assert_eq!(body["hidden"], 0);
}

// ---- 15. unbounded data from anonymous callers

fn db_bytes(app: &TestApp) -> u64 {
    ["roster.db", "roster.db-wal"]
        .iter()
        .map(|f| {
            std::fs::metadata(app.dir.path().join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test]
async fn d15_a_megabyte_username_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let huge = "u".repeat(1_000_000);
    let before = db_bytes(&app);
    for _ in 0..5 {
        let (st, body) = login(&app, &huge, "whatever-Passw0rd").await;
        assert_problem(st, &body, 400, Some(("username", "max_length")));
        assert!(body.to_string().len() < 10_000, "the name is not echoed");
    }
    let (st, body) = aria_acquire(&app, &huge, "whatever-Passw0rd").await;
    assert_aria(st, &body, 400);
    assert!(body.to_string().len() < 10_000, "the name is not echoed");
    let grown = db_bytes(&app).saturating_sub(before);
    assert!(grown < 200_000, "the database grew by {grown} bytes");
    let (_, log) = call(
        &app,
        Method::GET,
        "/api/v1/audit-events?limit=1000",
        ADMIN_KEY,
        None,
    )
    .await;
    assert!(
        log.to_string().len() < 100_000,
        "the audit log holds the name"
    );
    // A name at the limit is still an ordinary failed login.
    let (st, body) = login(&app, &"u".repeat(255), "whatever-Passw0rd").await;
    assert_problem(st, &body, 401, None);
}

// ---- 16. keys for someone more powerful

#[tokio::test]
async fn d16_keys_manage_cannot_mint_a_key_for_an_administrator_in_its_container() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    role(&app, "KeyAdmin", &["keys.manage", "users.read"]).await;
    let keeper = user(&app, "keeper", "key-keeper-Passw0rd", Some(&a)).await;
    grant_in(&app, &keeper, "KeyAdmin", &[&a]).await;
    let boss = user(&app, "boss", "boss-admin-Passw0rd-1", Some(&a)).await;
    grant_all(&app, &boss, "Administrator").await;
    let plain = user(&app, "plain", "plain-user-Passw0rd-1", Some(&a)).await;
    let token = app.token("keeper", "key-keeper-Passw0rd").await;
    let (_, ro) = call(&app, Method::GET, "/api/v1/roles/13", ADMIN_KEY, None).await;

    for request in [
        json!({ "name": "backdoor", "user_id": id(&boss) }),
        json!({ "name": "backdoor-ro", "user_id": id(&boss), "role_id": id(&ro) }),
    ] {
        let (st, body) = call(
            &app,
            Method::POST,
            "/api/v1/api-keys",
            &token,
            Some(request),
        )
        .await;
        assert_problem(st, &body, 403, None);
    }
    let (_, keys) = call(
        &app,
        Method::GET,
        &format!("/api/v1/api-keys?user_id={}", id(&boss)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(keys["items"], json!([]), "{keys}");

    // Legitimate: a key for a user who holds nothing more than the keeper.
    let (st, body) = call(
        &app,
        Method::POST,
        "/api/v1/api-keys",
        &token,
        Some(json!({ "name": "service", "user_id": id(&plain) })),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["user_id"], plain["id"]);
}

// ---- 17. input edges

#[tokio::test]
async fn d17_over_large_integers_and_odd_usernames_are_400s() {
    let app = TestApp::spawn().await;

    // DigiCert: an offset past i64, and other integers past their types.
    for query in [
        "offset=9223372036854775808",
        "offset=99999999999999999999999",
        "limit=99999999999999999999",
        "container_id=99999999999999999999",
        "access_role_id=99999999999999999999",
        "offset=-1",
    ] {
        let (st, body) = dc(
            &app,
            Method::GET,
            &format!("/user?{query}"),
            ADMIN_KEY,
            None,
        )
        .await;
        assert_eq!(st, 400, "{query}: {body}");
        let code = body["errors"][0]["code"].as_str().unwrap_or_default();
        assert!(code.starts_with("invalid_"), "{query}: {body}");
    }
    // The largest offset that fits is an empty page, not an error.
    let (st, body) = dc(
        &app,
        Method::GET,
        "/user?offset=9223372036854775807",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["users"], json!([]));

    // Native.
    for path in [
        "/api/v1/users?limit=99999999999999999999",
        "/api/v1/users?limit=4294967296",
        "/api/v1/users?limit=1001",
        "/api/v1/users?limit=-1",
        "/api/v1/groups?limit=99999999999999999999",
        "/api/v1/audit-events?limit=99999999999999999999",
    ] {
        let (st, body) = call(&app, Method::GET, path, ADMIN_KEY, None).await;
        assert_problem(st, &body, 400, Some(("limit", "range")));
    }
    // A cursor past every seq is an empty page; one past i64 is a bad cursor.
    use base64::Engine as _;
    let cursor =
        |n: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("s:{n}"));
    let (st, body) = call(
        &app,
        Method::GET,
        &format!("/api/v1/users?cursor={}", cursor("9223372036854775807")),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["items"], json!([]));
    let (st, body) = call(
        &app,
        Method::GET,
        &format!("/api/v1/users?cursor={}", cursor("9223372036854775808")),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_problem(st, &body, 400, Some(("cursor", "cursor")));

    // AttackForge's paged lists.
    let (_, me) = call(&app, Method::GET, "/api/v1/me", ADMIN_KEY, None).await;
    for list in ["auditlogs", "logins"] {
        for query in ["skip=99999999999999999999", "limit=99999999999999999999"] {
            let (st, body) = af(
                &app,
                Method::GET,
                &format!("/api/ss/user/{}/{list}?{query}", id(&me)),
                ADMIN_KEY,
                None,
            )
            .await;
            assert_af(st, &body, 400);
        }
    }

    // Aria's lists are whole and take no integer parameters: paging
    // parameters are ignored, never a 500.
    for path in [
        "/users?page=99999999999999999999&pageSize=99999999999999999999",
        "/usergroups?page=99999999999999999999",
        "/roles?page=99999999999999999999",
    ] {
        let (st, body) = aria(
            &app,
            Method::GET,
            path,
            &format!("Bearer {ADMIN_KEY}"),
            None,
        )
        .await;
        assert_ne!(st, 500, "{path}: {body}");
        assert_eq!(st, 200, "{path}: {body}");
    }

    // Native usernames.
    for (name, rule) in [
        ("two words", "charset"),
        ("tab\there", "no_control_characters"),
        ("quote\"d", "charset"),
        ("apos'trophe", "charset"),
        ("semi;colon", "charset"),
        ("less<than", "charset"),
        ("more>than", "charset"),
        ("nul\u{0}byte", "no_control_characters"),
        ("bell\u{7}", "no_control_characters"),
        ("new\nline", "no_control_characters"),
        ("del\u{7f}ete", "no_control_characters"),
    ] {
        let (st, body) = call(
            &app,
            Method::POST,
            "/api/v1/users",
            ADMIN_KEY,
            Some(json!({ "username": name })),
        )
        .await;
        assert_problem(st, &body, 400, None);
        let errors = body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == "username" && e["rule"] == rule),
            "{name:?}: {body}"
        );
    }
    let (_, list) = call(
        &app,
        Method::GET,
        "/api/v1/users?limit=1000",
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the admin: {list}"
    );
}

// ---- compound dialect requests: refused means nothing changed

#[tokio::test]
async fn a_refused_part_of_a_dialect_request_leaves_everything_as_it_was() {
    let app = TestApp::spawn().await;
    // May change profiles and groups, may not grant roles.
    role(
        &app,
        "Profiler",
        &[
            "users.read",
            "users.write",
            "groups.read",
            "groups.write",
            "roles.read",
            "containers.read",
        ],
    )
    .await;
    let prof = user(&app, "prof", "profiler-Passw0rd-1", None).await;
    grant_all(&app, &prof, "Profiler").await;
    let target = user(&app, "target", "target-user-Passw0rd", None).await;
    let token = app.token("prof", "profiler-Passw0rd-1").await;
    let before = admin_view(&app, &target).await;

    // D3 UpdateUser: a new first name and a role the caller cannot grant.
    let (st, body) = d3(
        &app,
        "UpdateUser",
        &token,
        &json!({
            "Username": "prof",
            "Site": "Root",
            "CommandParams": {
                "User ID": seq(&target),
                "User Information": { "firstName": "Changed", "roleId": 1 }
            }
        }),
    )
    .await;
    assert_eq!(
        (st, body),
        (401, json!({ "Error": "Invalid authentication key." }))
    );
    assert_eq!(admin_view(&app, &target).await, before);
    assert_eq!(assignments(&app, &target).await, json!([]));

    // Aria PUT /users: a new first name and a permission the caller cannot grant.
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/users",
        &format!("Bearer {token}"),
        Some(json!({
            "id": id(&target), "username": "target", "firstName": "Changed",
            "role-permissions": [{ "roleName": "Administrator", "allowAllObjects": true }]
        })),
    )
    .await;
    assert_aria(st, &body, 403);
    assert_eq!(admin_view(&app, &target).await, before);
    assert_eq!(assignments(&app, &target).await, json!([]));

    // Aria POST /usergroups with members and a permission it cannot grant:
    // no group is left behind.
    let (st, body) = aria(
        &app,
        Method::POST,
        "/usergroups",
        &format!("Bearer {token}"),
        Some(json!({
            "name": "left-behind", "userIds": [id(&target)],
            "role-permissions": [{ "roleName": "Administrator", "allowAllObjects": true }]
        })),
    )
    .await;
    assert_aria(st, &body, 403);
    let (st, groups) = call(&app, Method::GET, "/api/v1/groups", ADMIN_KEY, None).await;
    assert_eq!(st, 200);
    assert!(
        !groups.to_string().contains("left-behind"),
        "the refused group was created: {groups}"
    );

    // Aria PUT /usergroups: a new description, a member and a refused
    // permission change nothing.
    let g = group(&app, "kept").await;
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/usergroups",
        &format!("Bearer {token}"),
        Some(json!({
            "id": id(&g), "name": "kept", "description": "changed",
            "userIds": [id(&target)],
            "role-permissions": [{ "roleName": "Administrator", "allowAllObjects": true }]
        })),
    )
    .await;
    assert_aria(st, &body, 403);
    let (_, now) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}", id(&g)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(now["description"], "");
    let (_, members) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}/members", id(&g)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(members["items"], json!([]));

    // Without the refused part, each request goes through whole.
    let (st, body) = aria(
        &app,
        Method::PUT,
        "/usergroups",
        &format!("Bearer {token}"),
        Some(json!({
            "id": id(&g), "name": "kept", "description": "changed",
            "userIds": [id(&target)]
        })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (_, members) = call(
        &app,
        Method::GET,
        &format!("/api/v1/groups/{}/members", id(&g)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(members["items"][0]["id"], id(&target));
    let (st, body) = d3(
        &app,
        "UpdateUser",
        &token,
        &json!({
            "Username": "prof",
            "Site": "Root",
            "CommandParams": {
                "User ID": seq(&target),
                "User Information": { "firstName": "Changed", "groupIds": [seq(&g)] }
            }
        }),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["returnData"]["Status"], "Successful", "{body}");
    assert_eq!(admin_view(&app, &target).await["first_name"], "Changed");
}

// ---- moving a container moves who holds what over it

#[tokio::test]
async fn moving_a_container_under_ones_own_scope_cannot_widen_anyones_power() {
    let app = TestApp::spawn().await;
    let a = container(&app, "A").await;
    let b = container(&app, "B").await;
    // Restructures A with the power to reset passwords there; may only
    // restructure B.
    role(
        &app,
        "Structurer",
        &[
            "containers.write",
            "containers.read",
            "users.credentials",
            "users.read",
        ],
    )
    .await;
    role(&app, "Builder", &["containers.write", "containers.read"]).await;
    let mover = user(&app, "mover", "mover-user-Passw0rd", Some(&a)).await;
    grant_in(&app, &mover, "Structurer", &[&a]).await;
    grant_in(&app, &mover, "Builder", &[&b]).await;
    let in_b = user(&app, "in-b", "in-b-user-Passw0rd", Some(&b)).await;
    let token = app.token("mover", "mover-user-Passw0rd").await;
    // Not over B's users today.
    let (st, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/password", id(&in_b)),
        &token,
        Some(json!({ "password": "taken-over-Passw0rd" })),
    )
    .await;
    assert_problem(st, &body, 403, None);
    // Moving B under A would extend the A-scoped grant over B's users.
    let (st, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/containers/{}", id(&b)),
        &token,
        Some(json!({ "parent_id": id(&a) })),
    )
    .await;
    assert_problem(st, &body, 403, None);
    let (_, now) = call(
        &app,
        Method::GET,
        &format!("/api/v1/containers/{}", id(&b)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(now["parent_id"], "00000000-0000-7000-8000-000000000001");
    let (st, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/password", id(&in_b)),
        &token,
        Some(json!({ "password": "taken-over-Passw0rd" })),
    )
    .await;
    assert_eq!(st, 403);
    // An administrator, who holds all of it, may make the same move.
    let (st, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/containers/{}", id(&b)),
        ADMIN_KEY,
        Some(json!({ "parent_id": id(&a) })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
}
