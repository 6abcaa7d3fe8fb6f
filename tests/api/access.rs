//! The access model: containers, roles, scoped grants, groups, keys,
//! tokens, lockout and the audit trail.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, assert_problem, parts};

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    parts(app.post_json(path, &body).send().await.unwrap()).await
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = post(app, path, body).await;
    assert_eq!(s, 201, "{path}: {b}");
    b
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// A tree Root > A > A1 and Root > B, and a manager scoped to A.
struct Scoped {
    a: Value,
    a1: Value,
    b: Value,
    token: String,
    manager: Value,
}

async fn scoped(app: &TestApp) -> Scoped {
    let a = created(app, "/api/v1/containers", json!({"name": "A"})).await;
    let a1 = created(
        app,
        "/api/v1/containers",
        json!({"name": "A1", "parent_id": id(&a)}),
    )
    .await;
    let b = created(app, "/api/v1/containers", json!({"name": "B"})).await;
    let manager = created(
        app,
        "/api/v1/users",
        json!({"username": "mgr", "password": "manager-password-1", "container_id": id(&a)}),
    )
    .await;
    created(
        app,
        &format!("/api/v1/users/{}/roles", id(&manager)),
        json!({"role": "Manager", "container_ids": [id(&a)]}),
    )
    .await;
    let token = app.token("mgr", "manager-password-1").await;
    Scoped {
        a,
        a1,
        b,
        token,
        manager,
    }
}

#[tokio::test]
async fn scoped_manager_acts_in_its_subtree_only() {
    let app = TestApp::spawn().await;
    let s = scoped(&app).await;
    let as_mgr = |req: reqwest::RequestBuilder| req.bearer_auth(&s.token);
    let in_b = created(
        &app,
        "/api/v1/users",
        json!({"username": "bob-in-b", "container_id": id(&s.b)}),
    )
    .await;
    let in_a1 = created(
        &app,
        "/api/v1/users",
        json!({"username": "al-in-a1", "container_id": id(&s.a1)}),
    )
    .await;

    // Read: 200 in A's sub-container, 403 in B.
    let (st, _) = parts(
        as_mgr(
            app.client
                .get(app.url(&format!("/api/v1/users/{}", id(&in_a1)))),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = parts(
        as_mgr(
            app.client
                .get(app.url(&format!("/api/v1/users/{}", id(&in_b)))),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);

    // Create: lands in the caller's home container by default; B is refused.
    let (st, body) = parts(
        as_mgr(app.client.post(app.url("/api/v1/users")))
            .json(&json!({"username": "new1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["container_id"], s.a["id"]);
    let (st, _) = parts(
        as_mgr(app.client.post(app.url("/api/v1/users")))
            .json(&json!({"username": "new2", "container_id": id(&s.a1)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201);
    let (st, body) = parts(
        as_mgr(app.client.post(app.url("/api/v1/users")))
            .json(&json!({"username": "new3", "container_id": id(&s.b)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);

    // Update and move: within A only.
    let (st, _) = parts(
        as_mgr(
            app.client
                .patch(app.url(&format!("/api/v1/users/{}", id(&in_a1)))),
        )
        .json(&json!({"first_name": "Al"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = parts(
        as_mgr(
            app.client
                .patch(app.url(&format!("/api/v1/users/{}", id(&in_a1)))),
        )
        .json(&json!({"container_id": id(&s.b)}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    // Manager holds no users.delete.
    let (st, _) = parts(
        as_mgr(
            app.client
                .delete(app.url(&format!("/api/v1/users/{}", id(&in_a1)))),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403);

    // List: only A's subtree.
    let (st, list) = parts(
        as_mgr(app.client.get(app.url("/api/v1/users?limit=100")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["al-in-a1", "mgr", "new1", "new2"]);

    // No escalation: the manager cannot hand out Administrator, nor assign at all without roles.assign.
    let (st, body) = parts(
        as_mgr(
            app.client
                .post(app.url(&format!("/api/v1/users/{}/roles", id(&in_a1)))),
        )
        .json(&json!({"role": "Administrator", "all_objects": true}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);
}

#[tokio::test]
async fn effective_permissions_explain_direct_and_group_grants() {
    let app = TestApp::spawn().await;
    let s = scoped(&app).await;
    let group = created(
        &app,
        "/api/v1/groups",
        json!({"name": "Auditors", "description": "read the log"}),
    )
    .await;
    let r = app
        .post_json(
            &format!("/api/v1/groups/{}/members", id(&group)),
            &json!({"user_id": id(&s.manager)}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    created(
        &app,
        &format!("/api/v1/groups/{}/roles", id(&group)),
        json!({"role": "ReadOnly", "all_objects": true}),
    )
    .await;
    let (st, body) = parts(
        app.get(&format!(
            "/api/v1/users/{}/effective-permissions",
            id(&s.manager)
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let write = items
        .iter()
        .find(|g| g["privilege"] == "users.write")
        .unwrap();
    assert_eq!(write["role"], "Manager");
    assert_eq!(write["via"], "direct");
    assert_eq!(write["all_objects"], false);
    assert_eq!(write["container_ids"], json!([s.a["id"]]));
    let audit = items
        .iter()
        .find(|g| g["privilege"] == "audit.read")
        .unwrap();
    assert_eq!(audit["via"], "group:Auditors");
    assert_eq!(audit["all_objects"], true);
    // The group grant now works: the manager may read the audit log.
    let token = app.token("mgr", "manager-password-1").await;
    let r = app
        .client
        .get(app.url("/api/v1/audit-events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Membership listing and removal.
    let (_, members) = parts(
        app.get(&format!("/api/v1/groups/{}/members", id(&group)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(members["items"][0]["username"], "mgr");
    let r = app
        .delete(&format!(
            "/api/v1/groups/{}/members/{}",
            id(&group),
            id(&s.manager)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .client
        .get(app.url("/api/v1/audit-events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn builtin_roles_keep_vendor_ids_and_cannot_change() {
    let app = TestApp::spawn().await;
    let (st, roles) = parts(app.get("/api/v1/roles").send().await.unwrap()).await;
    assert_eq!(st, 200);
    let by_seq = |seq: i64| {
        roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["seq"] == seq)
            .unwrap()["name"]
            .clone()
    };
    assert_eq!(by_seq(1), "Administrator");
    assert_eq!(by_seq(2), "Limited User");
    assert_eq!(by_seq(3), "Finance Manager");
    assert_eq!(by_seq(4), "Manager");
    assert_eq!(by_seq(5), "Standard User");
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "PowerUser",
        "PowerUserMinusRemediation",
        "ContentAdmin",
        "GeneralUser-1",
        "GeneralUser-4",
        "ReadOnly",
        "admin",
        "librarymod",
        "client",
        "consultant",
        "projectoperator",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    let (st, role) = parts(app.get("/api/v1/roles/5").send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(role["system"], true);
    let (st, body) = parts(
        app.delete(&format!("/api/v1/roles/{}", id(&role)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 409, None);
    let (st, body) = parts(
        app.client
            .patch(app.url(&format!("/api/v1/roles/{}", id(&role))))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"privileges": ["users.delete"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 409, None);
    let (st, privs) = parts(app.get("/api/v1/privileges").send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert!(
        privs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "audit.read")
    );
}

#[tokio::test]
async fn custom_roles_and_preserved_ids() {
    let app = TestApp::spawn().await;
    let role = created(
        &app,
        "/api/v1/roles",
        json!({"name": "Helpdesk", "privileges": ["users.read", "users.credentials"], "seq": 1000}),
    )
    .await;
    assert_eq!(role["seq"], 1000);
    assert_eq!(role["system"], false);
    let (st, body) = post(&app, "/api/v1/roles", json!({"name": "helpdesk"})).await;
    assert_problem(st, &body, 409, Some(("name", "unique")));
    let (st, body) = post(&app, "/api/v1/roles", json!({"name": "Other", "seq": 1000})).await;
    assert_problem(st, &body, 409, Some(("seq", "unique")));
    let (st, body) = post(
        &app,
        "/api/v1/roles",
        json!({"name": "Bad", "privileges": ["users.fly"]}),
    )
    .await;
    assert_problem(st, &body, 400, Some(("privileges[0]", "privilege")));
    let site = created(
        &app,
        "/api/v1/containers",
        json!({"name": "Security Operations", "seq": 100018}),
    )
    .await;
    assert_eq!(site["seq"], 100018);
    let group = created(
        &app,
        "/api/v1/groups",
        json!({"name": "Tier 1", "seq": 100013}),
    )
    .await;
    assert_eq!(group["seq"], 100013);
    let (st, body) = post(
        &app,
        "/api/v1/containers",
        json!({"name": "Security Operations"}),
    )
    .await;
    assert_problem(st, &body, 409, None);
    let (st, body) = post(
        &app,
        "/api/v1/containers",
        json!({"name": "X", "parent_id": "01a20840-05e0-7392-8faa-cad28771b460"}),
    )
    .await;
    assert_problem(st, &body, 400, Some(("parent_id", "exists")));
    // Role edits and deletion.
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/roles/{}", id(&role))))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"description": "first line"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.delete(&format!("/api/v1/roles/{}", id(&role)))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    // A container with users in it cannot go; an empty one can.
    created(
        &app,
        "/api/v1/users",
        json!({"username": "inside", "container_id": id(&site)}),
    )
    .await;
    let (st, body) = parts(
        app.delete(&format!("/api/v1/containers/{}", id(&site)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 409, Some(("id", "in_use")));
    let empty = created(&app, "/api/v1/containers", json!({"name": "Empty"})).await;
    assert_eq!(
        app.delete(&format!("/api/v1/containers/{}", id(&empty)))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn role_restricted_key_cannot_exceed_its_role_and_revoked_key_is_401() {
    let app = TestApp::spawn().await;
    let (_, ro) = parts(app.get("/api/v1/roles/13").send().await.unwrap()).await;
    assert_eq!(ro["name"], "ReadOnly");
    let key = created(
        &app,
        "/api/v1/api-keys",
        json!({"name": "reporting", "role_id": id(&ro)}),
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rst_"));
    assert_eq!(key["prefix"], secret[..8]);
    let r = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, body) = parts(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&secret)
            .json(&json!({"username": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);
    // The secret is never shown again.
    let (_, listed) = parts(app.get("/api/v1/api-keys").send().await.unwrap()).await;
    assert!(!listed.to_string().contains(&secret));
    let (_, one) = parts(
        app.get(&format!("/api/v1/api-keys/{}", id(&key)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(one.get("secret").is_none());
    assert!(one["last_used_at"].is_string(), "use is recorded: {one}");
    // Revoked: 401 at once.
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{}", id(&key)))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (st, body) = parts(
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 401, None);
}

#[tokio::test]
async fn service_account_keys_and_expiry() {
    let app = TestApp::spawn().await;
    let svc = created(&app, "/api/v1/users", json!({"username": "svc-sync"})).await;
    created(
        &app,
        &format!("/api/v1/users/{}/roles", id(&svc)),
        json!({"role": "ReadOnly", "all_objects": true}),
    )
    .await;
    let key = created(
        &app,
        "/api/v1/api-keys",
        json!({"name": "sync", "user_id": id(&svc)}),
    )
    .await;
    assert_eq!(key["user_id"], svc["id"]);
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(key["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "svc-sync");
    let (st, body) = post(
        &app,
        "/api/v1/api-keys",
        json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_problem(st, &body, 400, Some(("expires_at", "future")));
}

#[tokio::test]
async fn revoked_token_is_401() {
    let app = TestApp::spawn().await;
    created(
        &app,
        "/api/v1/users",
        json!({"username": "tok", "password": "token-user-pass"}),
    )
    .await;
    let token = app.token("tok", "token-user-pass").await;
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
    let r = app
        .client
        .post(app.url("/api/v1/auth/token/revoke"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (st, body) = parts(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 401, None);
}

#[tokio::test]
async fn ten_failures_slow_that_source_but_never_keys_or_tokens() {
    let app = TestApp::spawn().await;
    let u = created(
        &app,
        "/api/v1/users",
        json!({"username": "victim", "password": "victim-password-1"}),
    )
    .await;
    let token = app.token("victim", "victim-password-1").await;
    let (_, key) = parts(
        app.post_json(
            "/api/v1/api-keys",
            &json!({"name": "automation", "user_id": id(&u)}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let login = |pw: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "victim", "password": pw}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(login("wrong-guess-123").await.unwrap().status(), 401);
    }
    // From this source the next attempt waits, the right password too,
    // and costs no hashing.
    let r = login("victim-password-1").await.unwrap();
    assert_eq!(r.headers()["retry-after"], "60");
    let (st, body) = parts(r).await;
    assert_problem(st, &body, 429, None);
    // The account's key and live token keep working.
    for credential in [&key, &token] {
        let r = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The audit log shows every failed check, with its source.
    let (_, log) = parts(
        app.get(&format!(
            "/api/v1/audit-events?action=login&target_id={}&outcome=failure&limit=100",
            id(&u)
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let events = log["items"].as_array().unwrap();
    assert_eq!(events.len(), 10, "{log}");
    assert!(
        events
            .iter()
            .all(|e| e["details"]["reason"] == "wrong password")
    );
    assert!(
        events[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1")
    );
    // An administrator's unlock forgives at once; the right password works.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/users/{}/unlock", id(&u))))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(login("victim-password-1").await.unwrap().status(), 200);
}

#[tokio::test]
async fn passwords_set_by_admin_and_changed_by_owner() {
    let app = TestApp::spawn().await;
    let u = created(&app, "/api/v1/users", json!({"username": "pwuser"})).await;
    let r = app
        .post_json(
            &format!("/api/v1/users/{}/password", id(&u)),
            &json!({"password": "first-Passw0rd"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let token = app.token("pwuser", "first-Passw0rd").await;
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/api/v1/me/password"))
            .bearer_auth(&token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    let (st, body) = parts(change("not-the-password", "second-Passw0rd").await.unwrap()).await;
    assert_problem(st, &body, 400, Some(("current_password", "matches")));
    let (st, body) = parts(change("first-Passw0rd", "short").await.unwrap()).await;
    assert_problem(st, &body, 400, Some(("password", "min_length")));
    assert_eq!(
        change("first-Passw0rd", "second-Passw0rd")
            .await
            .unwrap()
            .status(),
        204
    );
    // The change ended the old session; a new one works.
    let old_session = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(old_session.status(), 401);
    let token = app.token("pwuser", "second-Passw0rd").await;
    // A plain user may not set someone else's password.
    let (st, _) = parts(
        app.client
            .post(app.url(&format!("/api/v1/users/{}/password", id(&u))))
            .bearer_auth(&token)
            .json(&json!({"password": "third-Passw0rd"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn audit_log_records_changes_with_request_ids_and_filters() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/api/v1/users",
            &json!({"username": "audited", "password": "audited-Passw0rd"}),
        )
        .header("x-request-id", "req-audit-1")
        .send()
        .await
        .unwrap();
    let u: Value = r.json().await.unwrap();
    let (st, log) = parts(
        app.get("/api/v1/audit-events?action=user.create")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let e = &log["items"][0];
    assert_eq!(e["target_id"], u["id"]);
    assert_eq!(e["actor"], "admin");
    assert_eq!(e["request_id"], "req-audit-1");
    assert_eq!(e["outcome"], "success");
    assert!(!log.to_string().contains("audited-Passw0rd"));
    let (_, all) = parts(
        app.get("/api/v1/audit-events?limit=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(all["next_cursor"].is_string());
    let (st, body) = parts(
        app.get("/api/v1/audit-events?outcome=maybe")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 400, Some(("outcome", "one_of")));
}

#[tokio::test]
async fn groups_page_with_cursor() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        created(&app, "/api/v1/groups", json!({"name": format!("g{i}")})).await;
    }
    let (st, first) = parts(app.get("/api/v1/groups?limit=3").send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = parts(
        app.get(&format!("/api/v1/groups?limit=3&cursor={cursor}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["g3", "g4"]);
    assert!(second["next_cursor"].is_null());
    let (st, body) = parts(app.get("/api/v1/groups?limit=0").send().await.unwrap()).await;
    assert_problem(st, &body, 400, Some(("limit", "range")));
}

#[tokio::test]
async fn containers_rename_move_and_refuse_cycles() {
    let app = TestApp::spawn().await;
    let a = created(&app, "/api/v1/containers", json!({"name": "A"})).await;
    let a1 = created(
        &app,
        "/api/v1/containers",
        json!({"name": "A1", "parent_id": id(&a)}),
    )
    .await;
    let b = created(&app, "/api/v1/containers", json!({"name": "B"})).await;
    let patch = |cid: &str, body: Value| {
        app.client
            .patch(app.url(&format!("/api/v1/containers/{cid}")))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    let (st, body) = parts(
        patch(id(&a1), json!({"name": "A-one", "parent_id": id(&b)}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["name"], "A-one");
    assert_eq!(body["parent_id"], b["id"]);
    assert_eq!(body["version"], 2);
    // Under its own descendant: refused, nothing changes.
    let (st, body) = parts(patch(id(&b), json!({"parent_id": id(&a1)})).await.unwrap()).await;
    assert_problem(st, &body, 409, Some(("id", "in_use")));
    let (st, body) = parts(
        patch(
            "00000000-0000-7000-8000-000000000001",
            json!({"parent_id": id(&a)}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(st, &body, 400, Some(("parent_id", "root")));
    let (st, body) = parts(
        app.client
            .patch(app.url(&format!("/api/v1/containers/{}", id(&a))))
            .bearer_auth(ADMIN_KEY)
            .header("if-match", "\"7\"")
            .json(&json!({"name": "stale"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 412, None);
    let (_, list) = parts(app.get("/api/v1/containers").send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    let (st, body) = parts(
        app.delete("/api/v1/containers/00000000-0000-7000-8000-000000000001")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 409, Some(("id", "root")));
}

/// Containers, roles and groups answer with their version as the `ETag`
/// (on create, read and change), which `If-Match` takes back: a stale one
/// is 412.
#[tokio::test]
async fn containers_roles_and_groups_carry_an_etag_for_if_match() {
    let app = TestApp::spawn().await;
    for (path, create, change) in [
        (
            "/api/v1/containers",
            json!({"name": "Tagged"}),
            json!({"name": "Tagged 2"}),
        ),
        (
            "/api/v1/roles",
            json!({"name": "tagged", "description": "", "privileges": ["users.read"]}),
            json!({"description": "changed"}),
        ),
        (
            "/api/v1/groups",
            json!({"name": "tagged"}),
            json!({"description": "changed"}),
        ),
    ] {
        let r = app.post_json(path, &create).send().await.unwrap();
        let tag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let (s, body) = parts(r).await;
        assert_eq!(s, 201, "{path}: {body}");
        let tag = tag.unwrap_or_else(|| panic!("{path}: no ETag on create"));
        let item = format!("{path}/{}", id(&body));
        let r = app.get(&item).send().await.unwrap();
        assert_eq!(
            r.headers().get("etag").map(|v| v.to_str().unwrap()),
            Some(tag.as_str()),
            "{item}"
        );
        let patch = || {
            app.client
                .patch(app.url(&item))
                .bearer_auth(ADMIN_KEY)
                .json(&change)
        };
        let r = patch().header("if-match", &tag).send().await.unwrap();
        let new_tag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(r.status(), 200, "{item}");
        let new_tag = new_tag.unwrap_or_default();
        assert!(
            !new_tag.is_empty() && new_tag != tag,
            "{item}: the ETag moves"
        );
        let r = patch().header("if-match", &tag).send().await.unwrap();
        assert_eq!(r.status(), 412, "{item}: a stale ETag");
        if path == "/api/v1/groups" {
            // A delete takes If-Match too: stale refused, current applied.
            let delete = |t: &str| app.delete(&item).header("if-match", t.to_string());
            assert_eq!(delete(&tag).send().await.unwrap().status(), 412);
            assert_eq!(app.get(&item).send().await.unwrap().status(), 200);
            assert_eq!(delete(&new_tag).send().await.unwrap().status(), 204);
        }
    }
}

#[tokio::test]
async fn containers_carry_a_description() {
    let app = TestApp::spawn().await;
    let bare = created(&app, "/api/v1/containers", json!({"name": "Bare"})).await;
    assert_eq!(bare["description"], "", "optional; \"\" when absent");
    let c = created(
        &app,
        "/api/v1/containers",
        json!({"name": "North", "description": "Sites north of the river"}),
    )
    .await;
    assert_eq!(c["description"], "Sites north of the river");
    let path = format!("/api/v1/containers/{}", id(&c));
    let (st, got) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(
        (st, got["description"].as_str()),
        (200, Some("Sites north of the river"))
    );
    // A patch naming only the description keeps the name, and the reverse.
    let (st, p) = parts(
        app.client
            .patch(app.url(&path))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"description": "All northern sites"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(
        (p["name"].as_str(), p["description"].as_str()),
        (Some("North"), Some("All northern sites"))
    );
    let (_, p) = parts(
        app.client
            .patch(app.url(&path))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"name": "Nord"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (p["name"].as_str(), p["description"].as_str()),
        (Some("Nord"), Some("All northern sites"))
    );
    let (_, list) = parts(app.get("/api/v1/containers").send().await.unwrap()).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == c["id"])
        .unwrap();
    assert_eq!(listed["description"], "All northern sites");
    // Cleared with "", limited like groups' and roles' descriptions.
    let (_, p) = parts(
        app.client
            .patch(app.url(&path))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"description": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(p["description"], "");
    let long = "x".repeat(4097);
    let (st, body) = parts(
        app.client
            .patch(app.url(&path))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"description": long}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 400, Some(("description", "max_length")));
    let (st, body) = post(
        &app,
        "/api/v1/containers",
        json!({"name": "Long", "description": long}),
    )
    .await;
    assert_problem(st, &body, 400, Some(("description", "max_length")));
    let (st, body) = post(
        &app,
        "/api/v1/containers",
        json!({"name": "Typed", "description": 5}),
    )
    .await;
    assert!(st == 400 || st == 422, "{st} {body}");
}

/// `DELETE /api/v1/users/{id}` is a soft delete: the user is hidden from
/// lists and lookups (`?deleted=true` lists it), cannot authenticate by
/// password, key or token, keeps its username, and comes back with
/// `POST …/restore`; `?purge=true` removes it for good, as the
/// housekeeping does after the purge period. Restoring and purging need
/// what deleting needed.
#[tokio::test]
async fn deleted_users_are_hidden_locked_out_restorable_and_purged() {
    let app = TestApp::spawn().await;
    let s = scoped(&app).await;
    let u = created(
        &app,
        "/api/v1/users",
        json!({"username": "doomed", "password": "doomed-password-1", "container_id": id(&s.b)}),
    )
    .await;
    let path = format!("/api/v1/users/{}", id(&u));
    let token = app.token("doomed", "doomed-password-1").await;
    let (st, key) = parts(
        app.client
            .post(app.url("/api/v1/api-keys"))
            .bearer_auth(&token)
            .json(&json!({"name": "own"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{key}");
    let key = key["secret"].as_str().unwrap().to_string();
    let me = |cred: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/me"))
                .bearer_auth(cred)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!((me(token.clone()).await, me(key.clone()).await), (200, 200));
    let login = || async {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "doomed", "password": "doomed-password-1"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // The manager (scoped to A) cannot delete a user in B.
    let as_mgr = |req: reqwest::RequestBuilder| req.bearer_auth(&s.token);
    let r = as_mgr(app.client.delete(app.url(&path)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.delete(&path).send().await.unwrap().status(), 204);
    // Hidden from reads, lookups and lists.
    let (st, body) = parts(app.get(&path).send().await.unwrap()).await;
    assert_problem(st, &body, 404, None);
    let (_, list) = parts(
        app.get("/api/v1/users?username=doomed")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"], json!([]));
    let (_, list) = parts(
        app.get("/api/v1/users?username=doomed&deleted=true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"][0]["id"], u["id"]);
    assert!(list["items"][0]["deleted_at"].is_string(), "{list}");
    let (st, body) = parts(app.get("/api/v1/users?deleted=maybe").send().await.unwrap()).await;
    assert_problem(st, &body, 400, Some(("deleted", "type")));
    // Locked out everywhere.
    assert_eq!((me(token.clone()).await, me(key.clone()).await), (401, 401));
    assert_eq!(login().await, 401);
    // The username stays taken until the user is purged.
    let (st, body) = post(&app, "/api/v1/users", json!({"username": "Doomed"})).await;
    assert_problem(st, &body, 409, Some(("username", "unique")));
    // A deleted user cannot be deleted again (404); the manager can
    // neither restore nor purge it.
    assert_eq!(app.delete(&path).send().await.unwrap().status(), 404);
    let restore = format!("{path}/restore");
    let r = as_mgr(app.client.post(app.url(&restore)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = as_mgr(app.client.delete(app.url(&format!("{path}?purge=true"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Restored: back, signing in again; tokens from before stay refused.
    let (st, back) = parts(
        app.client
            .post(app.url(&restore))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{back}");
    assert!(back.get("deleted_at").is_none(), "{back}");
    assert_eq!(app.get(&path).send().await.unwrap().status(), 200);
    assert_eq!(login().await, 200);
    assert_eq!((me(token.clone()).await, me(key.clone()).await), (401, 200));
    let (st, body) = parts(
        app.client
            .post(app.url(&restore))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 409, Some(("id", "not_deleted")));
    // The audit trail has both.
    let (_, audit) = parts(
        app.get(&format!(
            "/api/v1/audit-events?target_id={}&limit=100",
            id(&u)
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.delete") && actions.contains(&"user.restore"),
        "{actions:?}"
    );
    // Purged: gone, even from ?deleted=true, and the name is free.
    assert_eq!(
        app.delete(&format!("{path}?purge=true"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (_, list) = parts(
        app.get("/api/v1/users?username=doomed&deleted=true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(me(key).await, 401);
    created(&app, "/api/v1/users", json!({"username": "doomed"})).await;

    // The housekeeping purges users deleted longer ago than the period
    // (30 days by default) and leaves recent ones.
    let old = created(&app, "/api/v1/users", json!({"username": "old-gone"})).await;
    let recent = created(&app, "/api/v1/users", json!({"username": "recent-gone"})).await;
    for u in [&old, &recent] {
        let p = format!("/api/v1/users/{}", id(u));
        assert_eq!(app.delete(&p).send().await.unwrap().status(), 204);
    }
    let hex = id(&old).replace('-', "");
    if crate::helpers::on_postgres() {
        app.sql(&format!(
            "UPDATE users SET deleted_at = now() - interval '31 days' WHERE id = '{}'",
            id(&old)
        ))
        .await;
    } else {
        let past = (time::OffsetDateTime::now_utc() - time::Duration::days(31)).unix_timestamp()
            * 1_000_000;
        app.sql(&format!(
            "UPDATE users SET deleted_at = {past} WHERE id = X'{hex}'"
        ))
        .await;
    }
    app.roster.housekeeping().await.unwrap();
    let (_, list) = parts(
        app.get("/api/v1/users?deleted=true&q=")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert!(!names.contains(&"old-gone"), "{names:?}");
    assert!(names.contains(&"recent-gone"), "{names:?}");
}

/// The vendors' deletes are the same soft delete: the user is gone from
/// their reads and comes back with a native restore.
#[tokio::test]
async fn vendor_deletes_are_soft_deletes() {
    let app = TestApp::spawn().await;
    let bearer = format!("Bearer {ADMIN_KEY}");
    let cases: [(&str, &str, (&str, &str)); 3] = [
        (
            "scim-gone",
            "/scim/v2/Users/{id}",
            ("authorization", &bearer),
        ),
        (
            "aria-gone",
            "/suite-api/api/auth/users/{id}",
            ("authorization", &bearer),
        ),
        (
            "dc-gone",
            "/services/v2/user/{seq}",
            ("X-DC-DEVKEY", ADMIN_KEY),
        ),
    ];
    for (name, template, header) in cases {
        let u = created(&app, "/api/v1/users", json!({"username": name})).await;
        let path = template
            .replace("{id}", id(&u))
            .replace("{seq}", &u["seq"].to_string());
        let (st, body) = app.call(reqwest::Method::GET, &path, header, None).await;
        assert_eq!(st, 200, "{path}: {body}");
        let (st, body) = app.call(reqwest::Method::DELETE, &path, header, None).await;
        assert!(st == 200 || st == 204, "{path}: {st} {body}");
        let (st, body) = app.call(reqwest::Method::GET, &path, header, None).await;
        assert_eq!(st, 404, "{path}: {body}");
        let (_, list) = parts(
            app.get(&format!("/api/v1/users?username={name}&deleted=true"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(list["items"][0]["deleted_at"].is_string(), "{name}: {list}");
        let r = app
            .client
            .post(app.url(&format!("/api/v1/users/{}/restore", id(&u))))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (st, body) = app.call(reqwest::Method::GET, &path, header, None).await;
        assert_eq!(st, 200, "{path} after restore: {body}");
    }
}

/// Further sites grant nothing and follow the home rule: a manager of A
/// may place a new user in A1 as a further site, not in B; a user homed
/// in B with A as a further site stays out of A's manager's reach.
#[tokio::test]
async fn further_sites_need_the_home_rule_and_grant_no_reach() {
    let app = TestApp::spawn().await;
    let s = scoped(&app).await;
    let as_mgr = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&s.token)
    };
    let (st, body) = parts(
        as_mgr(reqwest::Method::POST, "/api/v1/users")
            .json(&json!({"username": "outward", "container_id": id(&s.a), "site_ids": [id(&s.b)]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(st, &body, 403, None);
    let (_, none) = parts(
        app.get("/api/v1/users?username=outward")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");

    let (st, body) = parts(
        as_mgr(reqwest::Method::POST, "/api/v1/users")
            .json(&json!({"username": "inward", "container_id": id(&s.a), "site_ids": [id(&s.a1)]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let (_, listed) = parts(
        app.get(&format!("/api/v1/users?site={}", id(&s.a1)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["items"][0]["username"], "inward", "{listed}");
    let (st, body) = post(
        &app,
        "/api/v1/users",
        json!({"username": "ghost", "site_ids": [uuid::Uuid::now_v7()]}),
    )
    .await;
    assert_problem(st, &body, 400, Some(("site_ids[0]", "exists")));

    // Homed in B, a further site in A: A's manager still cannot read it.
    let b_user = created(
        &app,
        "/api/v1/users",
        json!({"username": "visitor", "container_id": id(&s.b), "site_ids": [id(&s.a)]}),
    )
    .await;
    let (st, _) = parts(
        as_mgr(
            reqwest::Method::GET,
            &format!("/api/v1/users/{}", id(&b_user)),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    let (_, seen) = parts(
        as_mgr(
            reqwest::Method::GET,
            &format!("/api/v1/users?site={}", id(&s.a)),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let names: Vec<&str> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"visitor"), "{seen}");
    assert!(names.contains(&"inward"), "{seen}");
}

/// Container ancestry is cached for authorization, and a move takes
/// effect at the next request: a manager of A loses A1's users the moment
/// A1 moves under B, and gains them back when it returns.
#[tokio::test]
async fn a_move_changes_reach_at_the_next_request() {
    let app = TestApp::spawn().await;
    let s = scoped(&app).await;
    let in_a1 = created(
        &app,
        "/api/v1/users",
        json!({"username": "mover", "container_id": id(&s.a1)}),
    )
    .await;
    let read = || {
        app.client
            .get(app.url(&format!("/api/v1/users/{}", id(&in_a1))))
            .bearer_auth(&s.token)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), 200);
    assert_eq!(read().await.unwrap().status(), 200);
    let move_to = |parent: String| {
        app.client
            .patch(app.url(&format!("/api/v1/containers/{}", id(&s.a1))))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"parent_id": parent}))
            .send()
    };
    assert_eq!(move_to(id(&s.b).to_string()).await.unwrap().status(), 200);
    assert_eq!(read().await.unwrap().status(), 403);
    assert_eq!(move_to(id(&s.a).to_string()).await.unwrap().status(), 200);
    assert_eq!(read().await.unwrap().status(), 200);
}
