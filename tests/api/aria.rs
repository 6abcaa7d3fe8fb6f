//! VMware Aria Operations `/suite-api/api/auth` — the parts built so far.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, parts};

fn seed() -> Value {
    json!({
        "username": "test",
        "firstName": "test",
        "lastName": "test",
        "password": "Test@123",
        "enabled": true,
        "role-permissions": [{"roleName": "PowerUser", "allowAllObjects": true}],
        "lastLoginTime": 0
    })
}

/// An Aria request; `auth` is the whole Authorization header value.
pub(crate) async fn aria(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(
        method,
        &format!("/suite-api/api/auth{path}"),
        ("authorization", auth),
        body,
    )
    .await
}

#[tokio::test]
async fn seed_create_then_acquire_a_token_with_that_password() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (s, u) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(seed())).await;
    assert_eq!(s, 201, "{u}");
    assert_eq!(u["username"], "test");
    assert_eq!(u["enabled"], true);
    assert_eq!(
        u["role-permissions"],
        json!([{"roleName": "PowerUser", "allowAllObjects": true}])
    );
    assert_eq!(u["lastLoginTime"], 0);
    assert!(
        u.get("password").is_none(),
        "never echoed, unlike the vendor's sample"
    );
    assert_eq!(u["links"][0]["rel"], "SELF");
    let id = u["id"].as_str().unwrap().to_string();

    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .json(&json!({"username": "test", "password": "Test@123", "authSource": "LOCAL"}))
        .send()
        .await
        .unwrap();
    let (s, t) = parts(r).await;
    assert_eq!(s, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert!(t["validity"].as_i64().unwrap() > 0);
    assert!(t["expiresAt"].as_str().unwrap().ends_with(" UTC"));

    for scheme in ["OpsToken", "vRealizeOpsToken"] {
        let (s, me) = aria(
            &app,
            reqwest::Method::GET,
            "/currentuser?_no_links=true",
            &format!("{scheme} {token}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["id"], id.as_str());
        assert!(me.get("links").is_none());
        assert!(me["lastLoginTime"].as_i64().unwrap() > 0);
    }
    let (s, _) = aria(
        &app,
        reqwest::Method::POST,
        "/token/release",
        &format!("OpsToken {token}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, e) = aria(
        &app,
        reqwest::Method::GET,
        "/currentuser",
        &format!("OpsToken {token}"),
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(e["httpStatusCode"], 401);
    assert!(e["message"].is_string());
}

#[tokio::test]
async fn errors_use_the_vendor_envelope() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let mut bad = seed();
    bad["username"] = json!("bad name");
    let (s, e) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(bad)).await;
    assert_eq!(s, 400);
    assert_eq!(e["httpStatusCode"], 400);
    assert_eq!(e["validationFailures"][0]["violationPath"], "username");
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .json(&json!({"username": "admin", "password": "nope-nope-nope"}))
        .send()
        .await
        .unwrap();
    let (s, e) = parts(r).await;
    assert_eq!((s, &e["message"]), (401, &json!("Authentication failed")));
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .json(&json!({"username": "admin", "password": "x", "authSource": "Corp AD"}))
        .send()
        .await
        .unwrap();
    let (s, e) = parts(r).await;
    assert_eq!(s, 400);
    assert!(e["message"].as_str().unwrap().contains("not supported"));
    let (s, e) = aria(
        &app,
        reqwest::Method::GET,
        "/users/not-a-uuid",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, e["httpStatusCode"].as_i64()), (404, Some(404)));
}

#[tokio::test]
async fn users_list_modify_permissions_and_delete() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (_, u) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(seed())).await;
    let id = u["id"].as_str().unwrap().to_string();
    let (_, list) = aria(
        &app,
        reqwest::Method::GET,
        "/users?username=tes&_no_links=true",
        &admin,
        None,
    )
    .await;
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    let (_, list) = aria(
        &app,
        reqwest::Method::GET,
        "/users?roleName=PowerUser",
        &admin,
        None,
    )
    .await;
    assert_eq!(list["users"][0]["id"], id.as_str());
    let (s, m) = aria(
        &app,
        reqwest::Method::PUT,
        "/users",
        &admin,
        Some(json!({"id": id, "firstName": "Tess", "enabled": false})),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(
        (m["firstName"].as_str(), m["enabled"].as_bool()),
        (Some("Tess"), Some(false))
    );
    let (s, p) = aria(
        &app,
        reqwest::Method::PUT,
        &format!("/users/{id}/permissions"),
        &admin,
        Some(json!({"roleName": "ReadOnly", "allowAllObjects": true})),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["permissions"].as_array().unwrap().len(), 2);
    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/users/{id}/permissions/PowerUser"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (_, p) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/users/{id}/permissions"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        p["permissions"],
        json!([{"roleName": "ReadOnly", "allowAllObjects": true}])
    );
    let (_, types) = aria(&app, reqwest::Method::GET, "/sourcetypes", &admin, None).await;
    assert_eq!(types["sourceTypes"][0]["id"], "LOCAL");
    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/users?id={id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/users/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn groups_roles_privileges_and_scopes() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (_, u) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(seed())).await;
    let uid = u["id"].as_str().unwrap().to_string();

    // Scopes are containers.
    let (s, scope) = aria(
        &app,
        reqwest::Method::POST,
        "/scopes",
        &admin,
        Some(json!({"name": "Prod"})),
    )
    .await;
    assert_eq!(s, 201, "{scope}");
    let sid = scope["id"].as_str().unwrap().to_string();
    let (_, all) = aria(&app, reqwest::Method::GET, "/scopes", &admin, None).await;
    assert!(
        all["scopesDetails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == sid.as_str())
    );
    let (s, renamed) = aria(
        &app,
        reqwest::Method::PUT,
        "/scopes",
        &admin,
        Some(json!({"id": sid, "name": "Production"})),
    )
    .await;
    assert_eq!((s, renamed["name"].as_str()), (200, Some("Production")));

    // Groups with members and a scoped role permission.
    let (s, g) = aria(
        &app,
        reqwest::Method::POST,
        "/usergroups",
        &admin,
        Some(json!({
            "name": "ops-admins", "description": "admins", "userIds": [uid],
            "role-permissions": [{"roleName": "ReadOnly", "scopeId": sid, "allowAllObjects": false}]
        })),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["userIds"], json!([uid]));
    assert_eq!(g["role-permissions"][0]["scopeId"], sid.as_str());
    let gid = g["id"].as_str().unwrap().to_string();
    let (_, found) = aria(
        &app,
        reqwest::Method::GET,
        "/usergroups?name=admin",
        &admin,
        None,
    )
    .await;
    assert_eq!(found["userGroups"][0]["id"], gid.as_str());
    let (s, body) = aria(
        &app,
        reqwest::Method::PUT,
        "/usergroups",
        &admin,
        Some(json!({"id": gid, "name": "ops-admins", "userIds": []})),
    )
    .await;
    assert_eq!((s, body), (200, Value::Null));
    let (_, g) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/usergroups/{gid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(g["userIds"], json!([]));
    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/usergroups/{gid}/permissions/ReadOnly"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/usergroups?id={gid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);

    // Roles, by name, with roster's privilege keys.
    let (_, roles) = aria(
        &app,
        reqwest::Method::GET,
        "/roles?roleName=PowerUser",
        &admin,
        None,
    )
    .await;
    assert_eq!(roles["userRoles"][0]["system-created"], true);
    let (s, r) = aria(&app, reqwest::Method::POST, "/roles", &admin, Some(json!({
        "name": "API Administrator", "description": "api", "privilege-keys": ["users.read"], "system-created": false
    }))).await;
    assert_eq!(s, 201, "{r}");
    let (_, keys) = aria(
        &app,
        reqwest::Method::POST,
        "/roles/API%20Administrator/privileges",
        &admin,
        Some(json!({"privilege-key": ["users.write"]})),
    )
    .await;
    assert_eq!(keys["privilege-key"], json!(["users.read", "users.write"]));
    let (_, keys) = aria(
        &app,
        reqwest::Method::DELETE,
        "/roles/API%20Administrator/privileges",
        &admin,
        Some(json!({"privilege-key": ["users.read"]})),
    )
    .await;
    assert_eq!(keys["privilege-key"], json!(["users.write"]));
    let (_, privs) = aria(
        &app,
        reqwest::Method::GET,
        "/roles/API%20Administrator/privileges",
        &admin,
        None,
    )
    .await;
    assert_eq!(privs["privileges"][0]["key"], "users.write");
    let (s, e) = aria(
        &app,
        reqwest::Method::POST,
        "/roles",
        &admin,
        Some(json!({"name": "Bad", "privilege-keys": ["ManageAlerts"]})),
    )
    .await;
    assert_eq!((s, e["httpStatusCode"].as_i64()), (400, Some(400)));
    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        "/roles/API%20Administrator",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, e) = aria(
        &app,
        reqwest::Method::DELETE,
        "/roles/Administrator",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, e["httpStatusCode"].as_i64()), (409, Some(409)));
    let (_, p) = aria(
        &app,
        reqwest::Method::GET,
        "/privileges?key=audit.read",
        &admin,
        None,
    )
    .await;
    assert_eq!(p["privileges"].as_array().unwrap().len(), 1);
    let (_, pg) = aria(&app, reqwest::Method::GET, "/privilegegroups", &admin, None).await;
    assert!(
        pg["privilegeGroups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["key"] == "users")
    );
    let (s, mine) = aria(
        &app,
        reqwest::Method::GET,
        "/currentuser/roles/Administrator/privileges",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        mine["privileges"].as_array().unwrap().len(),
        roster_core::authz::Privilege::ALL.len()
    );

    let (s, _) = aria(
        &app,
        reqwest::Method::DELETE,
        "/scopes",
        &admin,
        Some(json!({"uuids": [sid]})),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn local_source_searches_imports_and_unsupported_sources() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    // Listing sources needs no credential, as in Aria.
    let r = app
        .client
        .get(app.url("/suite-api/api/auth/sources"))
        .send()
        .await
        .unwrap();
    let (s, sources) = parts(r).await;
    assert_eq!(s, 200);
    let local = sources["sources"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(sources["sources"][0]["sourceType"]["id"], "LOCAL");
    let (s, imported) = aria(&app, reqwest::Method::POST, &format!("/sources/{local}/users"), &admin, Some(json!({"users": [
        {"username": "vcadmin1", "firstName": "Vc", "enabled": true, "role-permissions": [{"roleName": "ReadOnly", "allowAllObjects": true}]}
    ]}))).await;
    assert_eq!(s, 201, "{imported}");
    assert_eq!(imported["users"][0]["username"], "vcadmin1");
    let (_, hits) = aria(
        &app,
        reqwest::Method::POST,
        &format!("/sources/{local}/users/search"),
        &admin,
        Some(json!({"name": "vcadmin*"})),
    )
    .await;
    assert_eq!(hits["user-search-response"][0]["name"], "vcadmin1");
    // Patterns narrow in the store, then match exactly: `*` anywhere,
    // without case; pieces in order and without overlap.
    for (pattern, found) in [
        ("*ADMIN1", true),
        ("vc*min*", true),
        ("v*c*1", true),
        ("vcadmin", false),
        ("*1*vc", false),
        ("vcadmin1*1", false),
    ] {
        let (_, hits) = aria(
            &app,
            reqwest::Method::POST,
            &format!("/sources/{local}/users/search"),
            &admin,
            Some(json!({ "name": pattern })),
        )
        .await;
        let names: Vec<&str> = hits["user-search-response"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["name"].as_str())
            .collect();
        assert_eq!(names.contains(&"vcadmin1"), found, "{pattern}: {names:?}");
    }
    let (_, hits) = aria(
        &app,
        reqwest::Method::POST,
        &format!("/sources/{local}/usergroups/search"),
        &admin,
        Some(json!({"name": "*"})),
    )
    .await;
    assert_eq!(hits["usergroup-search-response"], json!([]));
    let (s, e) = aria(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(json!({"name": "Corp", "sourceType": {"id": "ACTIVE_DIRECTORY"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("ACTIVE_DIRECTORY is not supported"),
        "{e}"
    );
    let (s, _) = aria(
        &app,
        reqwest::Method::GET,
        "/sources/01a20840-05e0-7392-8faa-cad28771b460",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (_, t) = aria(
        &app,
        reqwest::Method::GET,
        "/sourcetypes/active_directory",
        &admin,
        None,
    )
    .await;
    assert_eq!(t["id"], "ACTIVE_DIRECTORY");
    let (_, specs) = aria(&app, reqwest::Method::GET, "/traversalspecs", &admin, None).await;
    assert_eq!(specs, json!({"specs": []}));
}

/// Every operation of VMware's spec, once, validated against its schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_vendor_spec_validates() {
    let app = TestApp::spawn().await;
    let site = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyclients");
    crate::helpers::ensure_python_package(&site, "jsonschema", "jsonschema==4.26.0");
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/specs/aria-operations-auth-openapi.json"
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/aria_operations.py"
    );
    let base = format!("http://{}", app.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(spec)
            .arg(base)
            .arg(ADMIN_KEY)
            .arg(crate::helpers::ADMIN_PASSWORD)
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
    assert!(stdout.contains("all 59 operations driven"), "{stdout}");
}

#[tokio::test]
async fn tokens_slide_with_use_and_lapse_when_idle() {
    let app = TestApp::with(crate::helpers::Options {
        http: roster_server::HttpConfig {
            rate_limit_per_second: 0,
            aria_token_idle_secs: 2,
            ..roster_server::HttpConfig::default()
        },
        ..crate::helpers::Options::default()
    })
    .await;
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("OpsToken {token}");
    let pause = |ms| tokio::time::sleep(std::time::Duration::from_millis(ms));
    pause(1200).await;
    assert_eq!(
        aria(&app, reqwest::Method::GET, "/currentuser", &auth, None)
            .await
            .0,
        200
    );
    pause(1200).await;
    // 2.4 s after acquiring, past the first 2 s: alive because it was used.
    assert_eq!(
        aria(&app, reqwest::Method::GET, "/currentuser", &auth, None)
            .await
            .0,
        200
    );
    pause(2300).await;
    let (s, e) = aria(&app, reqwest::Method::GET, "/currentuser", &auth, None).await;
    assert_eq!(
        (s, e["httpStatusCode"].as_i64()),
        (401, Some(401)),
        "idle too long"
    );
}

/// What VMware's PowerValidatedSolutions module sends (Add-vROPSUserGroup,
/// Add-vROPSUserAccount, Get-vROPSUserAccount).
#[tokio::test]
async fn power_validated_solutions_requests() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/suite-api/api/auth/token/acquire"))
        .header("accept", "application/json")
        .json(&json!({"username": "admin", "authSource": "LOCAL", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("vRealizeOpsToken {token}");
    let (_, sources) = aria(&app, reqwest::Method::GET, "/sources", &auth, None).await;
    let local = sources["sources"][0]["id"].as_str().unwrap().to_string();
    let (s, g) = aria(&app, reqwest::Method::POST, "/usergroups", &auth, Some(json!({
        "authSourceId": local, "name": "sddc-admins", "role-permissions": [{"roleName": "Administrator", "allowAllObjects": true}]
    }))).await;
    assert_eq!(s, 201, "{g}");
    let (s, added) = aria(&app, reqwest::Method::POST, &format!("/sources/{local}/users"), &auth, Some(json!({"users": [{
        "username": "svc-vrops", "firstName": "svc", "lastName": "vrops", "distinguishedName": "CN=svc-vrops",
        "emailAddress": "svc@example.com", "enabled": true, "role-permissions": [{"roleName": "ReadOnly", "allowAllObjects": true}]
    }]}))).await;
    assert_eq!(s, 201, "{added}");
    let id = added["users"][0]["id"].as_str().unwrap();
    let (_, by_id) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/users?id={id}&_no_links=true"),
        &auth,
        None,
    )
    .await;
    assert_eq!(by_id["users"][0]["distinguishedName"], "CN=svc-vrops");
    let (_, by_role) = aria(
        &app,
        reqwest::Method::GET,
        "/users?roleName=ReadOnly&_no_links=true",
        &auth,
        None,
    )
    .await;
    assert_eq!(by_role["users"].as_array().unwrap().len(), 1);
    let (_, groups) = aria(
        &app,
        reqwest::Method::GET,
        "/usergroups?name=sddc-admins&_no_links=true",
        &auth,
        None,
    )
    .await;
    assert_eq!(
        groups["userGroups"][0]["role-permissions"][0]["roleName"],
        "Administrator"
    );
    let (s, _) = aria(
        &app,
        reqwest::Method::POST,
        "/usergroups",
        &auth,
        Some(json!({
            "authSourceId": "01a20840-05e0-7392-8faa-cad28771b460", "name": "from-ad"
        })),
    )
    .await;
    assert_eq!(s, 400);
}

/// Concurrent additions to one role's privileges all land: each change is
/// made on the version it read, and made again if another came first.
#[tokio::test]
async fn concurrent_privilege_additions_are_not_lost() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let auth = format!("Bearer {ADMIN_KEY}");
    let (st, body) = aria(
        &app,
        reqwest::Method::POST,
        "/roles",
        &auth,
        Some(json!({ "name": "Racy", "description": "", "privilege-keys": [] })),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let keys = [
        "users.read",
        "users.write",
        "groups.read",
        "groups.write",
        "roles.read",
        "containers.read",
        "audit.read",
        "keys.manage",
    ];
    let mut tasks = Vec::new();
    for key in keys {
        let (app, auth) = (app.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            aria(
                &app,
                reqwest::Method::POST,
                "/roles/Racy/privileges",
                &auth,
                Some(json!({ "privilege-key": [key] })),
            )
            .await
        }));
    }
    for t in tasks {
        let (st, body) = t.await.unwrap();
        assert_eq!(st, 200, "{body}");
    }
    let (st, body) = aria(
        &app,
        reqwest::Method::GET,
        "/roles/Racy/privileges",
        &auth,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let mut held: Vec<String> = body["privileges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    held.sort();
    let mut wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    wanted.sort();
    assert_eq!(held, wanted);
}

/// VMware's PowerValidatedSolutions `Update-vROPSUserAccount` sends
/// `PATCH /users/{id}` with no body: nothing changes and the user is
/// answered. Fields of the `user` schema that are given change alone.
#[tokio::test]
async fn patch_user_as_power_validated_solutions_sends_it() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (_, u) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(seed())).await;
    let id = u["id"].as_str().unwrap().to_string();
    let r = app
        .client
        .patch(app.url(&format!("/suite-api/api/auth/users/{id}")))
        .header("authorization", &admin)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let (s, same) = parts(r).await;
    assert_eq!(s, 200, "{same}");
    assert_eq!(same["username"], "test");
    assert_eq!(same["enabled"], true);
    let (s, changed) = aria(
        &app,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        &admin,
        Some(json!({"enabled": false, "emailAddress": "test@example.com"})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["emailAddress"], "test@example.com");
    assert_eq!(changed["firstName"], "test", "absent fields stay");
    assert_eq!(changed["role-permissions"][0]["roleName"], "PowerUser");
    // Another user's id in the body is refused in Aria's envelope.
    let (s, body) = aria(
        &app,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        &admin,
        Some(json!({"id": "01a20840-05e0-7392-8faa-cad28771b460", "enabled": true})),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["httpStatusCode"], 400);
    let (s, body) = aria(
        &app,
        reqwest::Method::PATCH,
        "/users/01a20840-05e0-7392-8faa-cad28771b460",
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!((s, body["httpStatusCode"].as_i64()), (404, Some(404)));
}

/// Broadcom's `vcf-operations` sample (`user_management.py`) changes a
/// group's name and description and sends the group back with
/// `PUT /usergroups`, expecting success. VMware's spec says the name
/// cannot change: roster keeps the name and applies the rest.
#[tokio::test]
async fn usergroup_put_with_a_new_name_keeps_the_name_applies_the_rest() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (_, u) = aria(&app, reqwest::Method::POST, "/users", &admin, Some(seed())).await;
    let uid = u["id"].as_str().unwrap().to_string();
    let (s, g) = aria(
        &app,
        reqwest::Method::POST,
        "/usergroups",
        &admin,
        Some(json!({"name": "Group name", "description": "Group Description", "userIds": []})),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let (s, body) = aria(
        &app,
        reqwest::Method::PUT,
        "/usergroups",
        &admin,
        Some(json!({
            "id": gid, "name": "New-Group-Name", "description": "New-Group-Description",
            "userIds": [uid], "role-permissions": [], "roleNames": []
        })),
    )
    .await;
    assert_eq!((s, &body), (200, &Value::Null), "{body}");
    let (_, g) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/usergroups/{gid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(g["name"], "Group name");
    assert_eq!(g["description"], "New-Group-Description");
    assert_eq!(g["userIds"], json!([uid]));
    let (s, _) = aria(
        &app,
        reqwest::Method::PUT,
        "/usergroups",
        &admin,
        Some(json!({"id": gid, "name": 7})),
    )
    .await;
    assert_eq!(s, 400);
}

/// Aria's `token/acquire` has no second factor. An account with TOTP gets
/// a 401 in Aria's envelope that says what to do: send the code as
/// `totpCode` (roster's extension) or use an API key with `Bearer`.
#[tokio::test]
async fn totp_accounts_are_told_how_to_acquire_a_token() {
    let app = TestApp::spawn().await;
    app.create_user(json!({"username": "otp", "password": "otp-user-Passw0rd"}))
        .await;
    let token = app.token("otp", "otp-user-Passw0rd").await;
    let secret = crate::mfa::enroll(&app, &token).await;
    let acquire = |body: Value| {
        let app = &app;
        async move {
            parts(
                app.client
                    .post(app.url("/suite-api/api/auth/token/acquire"))
                    .header("accept", "application/json")
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    // What VMware's clients send.
    let (s, body) =
        acquire(json!({"username": "otp", "password": "otp-user-Passw0rd", "authSource": "LOCAL"}))
            .await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["httpStatusCode"], 401);
    assert_eq!(body["validationFailures"][0]["violationPath"], "totpCode");
    assert!(
        body["validationFailures"][0]["failureMessage"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );
    // A wrong password says nothing about a second factor.
    let (s, body) = acquire(json!({"username": "otp", "password": "wrong-Passw0rd-x"})).await;
    assert_eq!(s, 401);
    assert!(
        body.get("validationFailures")
            .is_none_or(|f| f.as_array().is_none_or(|a| a.is_empty())),
        "{body}"
    );
    let (s, _) =
        acquire(json!({"username": "otp", "password": "otp-user-Passw0rd", "totpCode": 123456}))
            .await;
    assert_eq!(s, 400);
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let (s, body) = acquire(json!({"username": "otp", "password": "otp-user-Passw0rd", "authSource": "LOCAL", "totpCode": code})).await;
    assert_eq!(s, 200, "{body}");
    let ops = format!("OpsToken {}", body["token"].as_str().unwrap());
    let (s, me) = aria(&app, reqwest::Method::GET, "/currentuser", &ops, None).await;
    assert_eq!((s, me["username"].as_str()), (200, Some("otp")));
}
/// Runs a lifecycle script from tests/clients against a fresh server with
/// the given PyPI package installed; every step must pass.
async fn python_lifecycle(module: &str, requirement: &str, script: &str, tally: &str) {
    let app = TestApp::spawn().await;
    // A directory per package: tests running at once do not install into
    // one directory together.
    let site =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pyclients-{module}"));
    let (m, r) = (module.to_string(), requirement.to_string());
    let site2 = site.clone();
    tokio::task::spawn_blocking(move || crate::helpers::ensure_python_package(&site2, &m, &r))
        .await
        .unwrap();
    let script = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let base = format!("http://{}", app.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(base)
            .arg("admin")
            .arg(crate::helpers::ADMIN_PASSWORD)
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
    assert!(stdout.contains(tally), "{stdout}");
}

/// Broadcom's `vcf-operations` SDK, as its user-management sample uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vcf_operations_sdk_runs_a_user_lifecycle() {
    python_lifecycle(
        "vcf.operations",
        "vcf-operations==9.1.1.0",
        "vcf_operations_lifecycle.py",
        "vcf-operations lifecycle: 35 of 35 steps passed",
    )
    .await;
}

/// VMware's `SuiteApiClient` (vmware-aria-operations-integration-sdk-lib).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_api_client_runs_a_user_lifecycle() {
    python_lifecycle(
        "aria.ops.suite_api_client",
        "vmware-aria-operations-integration-sdk-lib==1.1.0",
        "aria_suite_api_lifecycle.py",
        "SuiteApiClient lifecycle: 18 of 18 steps passed",
    )
    .await;
}

/// VMware's `scope` as its spec shows it: name, description and (empty)
/// traversal specs on create; the same with `id` on PUT.
#[tokio::test]
async fn scopes_keep_their_description() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let (s, scope) = aria(
        &app,
        reqwest::Method::POST,
        "/scopes",
        &admin,
        Some(json!({
            "name": "Prod",
            "description": "Production clusters",
            "traversalSpecInstances": []
        })),
    )
    .await;
    assert_eq!(s, 201, "{scope}");
    assert_eq!(scope["description"], "Production clusters");
    let sid = scope["id"].as_str().unwrap().to_string();
    let (s, got) = aria(
        &app,
        reqwest::Method::GET,
        &format!("/scopes/{sid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, got["description"].as_str()),
        (200, Some("Production clusters"))
    );
    let (s, put) = aria(
        &app,
        reqwest::Method::PUT,
        "/scopes",
        &admin,
        Some(json!({
            "id": sid,
            "name": "Production",
            "description": "All production clusters",
            "traversalSpecInstances": []
        })),
    )
    .await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["description"], "All production clusters");
    // A PUT without a description keeps it, as one without a name would.
    let (_, put) = aria(
        &app,
        reqwest::Method::PUT,
        "/scopes",
        &admin,
        Some(json!({"id": sid, "name": "Prod-1"})),
    )
    .await;
    assert_eq!(
        (put["name"].as_str(), put["description"].as_str()),
        (Some("Prod-1"), Some("All production clusters"))
    );
    let (_, all) = aria(&app, reqwest::Method::GET, "/scopes", &admin, None).await;
    let listed = all["scopesDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["description"], "All production clusters");
    let (s, e) = aria(
        &app,
        reqwest::Method::POST,
        "/scopes",
        &admin,
        Some(json!({"name": "Long", "description": "d".repeat(4097)})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
}

/// `DELETE /usergroups?id=…&id=…` deletes all of them or none: one group
/// that cannot be deleted leaves the others in place.
#[tokio::test]
async fn deleting_several_groups_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let mut ids = Vec::new();
    for name in ["g-one", "g-two"] {
        let (s, g) = aria(
            &app,
            reqwest::Method::POST,
            "/usergroups",
            &admin,
            Some(json!({"name": name, "description": "", "userIds": []})),
        )
        .await;
        assert_eq!(s, 201, "{g}");
        ids.push(g["id"].as_str().unwrap().to_string());
    }
    let missing = "0190a5f0-0000-7000-8000-000000000000";
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/usergroups?id={}&id={missing}", ids[0]),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404, "{body}");
    for id in &ids {
        let (s, _) = aria(
            &app,
            reqwest::Method::GET,
            &format!("/usergroups/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 200, "{id} must survive a refused bulk delete");
    }
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/usergroups?id={}&id={}", ids[0], ids[1]),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    for id in &ids {
        let (s, _) = aria(
            &app,
            reqwest::Method::GET,
            &format!("/usergroups/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 404);
    }
}

/// `DELETE /scopes` with several uuids deletes all of them or none.
#[tokio::test]
async fn deleting_several_scopes_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let mut ids = Vec::new();
    for name in ["scope-a", "scope-b"] {
        let (s, scope) = aria(
            &app,
            reqwest::Method::POST,
            "/scopes",
            &admin,
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(s, 201, "{scope}");
        ids.push(scope["id"].as_str().unwrap().to_string());
    }
    let missing = "0190a5f0-0000-7000-8000-000000000000";
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        "/scopes",
        &admin,
        Some(json!({ "uuids": [ids[0], missing] })),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    let listed = |all: &Value, id: &str| {
        all["scopesDetails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id)
    };
    let (_, all) = aria(&app, reqwest::Method::GET, "/scopes", &admin, None).await;
    assert!(ids.iter().all(|id| listed(&all, id)), "{all}");
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        "/scopes",
        &admin,
        Some(json!({ "uuids": ids })),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, all) = aria(&app, reqwest::Method::GET, "/scopes", &admin, None).await;
    assert!(!ids.iter().any(|id| listed(&all, id)), "{all}");
}

/// `DELETE /users?id=…&id=…` deletes all of them or none.
#[tokio::test]
async fn deleting_several_users_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let mut ids = Vec::new();
    for name in ["bulk-one", "bulk-two"] {
        let u = app.create_user(json!({ "username": name })).await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let missing = "0190a5f0-0000-7000-8000-000000000000";
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/users?id={}&id={missing}", ids[0]),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404, "{body}");
    for id in &ids {
        let (s, _) = aria(
            &app,
            reqwest::Method::GET,
            &format!("/users/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 200, "{id} must survive a refused bulk delete");
    }
    let (s, body) = aria(
        &app,
        reqwest::Method::DELETE,
        &format!("/users?id={}&id={}", ids[0], ids[1]),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    for id in &ids {
        let (s, _) = aria(
            &app,
            reqwest::Method::GET,
            &format!("/users/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 404);
    }
}
