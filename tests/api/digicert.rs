//! The DigiCert CertCentral dialect.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, parts};

async fn dc(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(
        method,
        &format!("/services/v2{path}"),
        ("X-DC-DEVKEY", ADMIN_KEY),
        body,
    )
    .await
}

fn seed() -> Value {
    json!({
        "first_name": "Jill",
        "last_name": "Valentine",
        "email": "jill.valentine@pd.racoon-city.gov",
        "telephone": "555-555-5555",
        "job_title": "S.T.A.R.S. Alpha Team",
        "username": "jill.valentine",
        "access_roles": [{"id": 5}]
    })
}

#[tokio::test]
async fn seed_add_user_request_returns_201_with_an_integer_id() {
    let app = TestApp::spawn().await;
    let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(seed())).await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_i64().expect("integer id");
    assert_eq!(body.as_object().unwrap().len(), 1);
    // Through the dialect and through the native API.
    let (s, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(u["username"], "jill.valentine");
    assert_eq!(u["telephone"], "555-555-5555");
    assert_eq!(u["status"], "active");
    assert_eq!(
        u["access_roles"],
        json!([{"id": 5, "name": "Standard User"}])
    );
    assert_eq!(
        u["container"]["id"], 1,
        "created in the key owner's container"
    );
    let (_, native) = parts(
        app.get("/api/v1/users?username=jill.valentine")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(native["items"][0]["seq"], id);
    assert_eq!(native["items"][0]["job_title"], "S.T.A.R.S. Alpha Team");
}

#[tokio::test]
async fn digicert_rules_are_applied_by_the_core() {
    let app = TestApp::spawn().await;
    for (field, value, code) in [
        ("username", json!("jill valentine"), "invalid_username"),
        ("first_name", json!("x".repeat(129)), "invalid_first_name"),
        ("email", json!("not-an-email"), "invalid_email"),
        ("job_title", json!("x".repeat(65)), "invalid_job_title"),
    ] {
        let mut b = seed();
        b[field] = value;
        let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
        assert_eq!(s, 400, "{field}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    let mut b = seed();
    b.as_object_mut().unwrap().remove("access_roles");
    let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["code"], "bad_request_format");
    dc(&app, reqwest::Method::POST, "/user", Some(seed())).await;
    let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(seed())).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (400, Some("duplicate_username"))
    );
}

#[tokio::test]
async fn bad_key_is_403_and_unknown_route_404() {
    let app = TestApp::spawn().await;
    for req in [
        app.client.get(app.url("/services/v2/user")),
        app.client
            .get(app.url("/services/v2/user"))
            .header("X-DC-DEVKEY", "wrong"),
    ] {
        let (s, body) = parts(req.send().await.unwrap()).await;
        assert_eq!(
            (s, body),
            (
                403,
                json!({"errors": [{"code": "access_denied|access_denied_invalid_key", "message": "Access denied due to access_denied_invalid_key."}]})
            )
        );
    }
    let (s, body) = dc(&app, reqwest::Method::GET, "/nothing", None).await;
    assert_eq!(
        (s, body),
        (
            404,
            json!({"errors": [{"code": "not_found|route", "message": "The specified route was not found."}]})
        )
    );
    let (s, body) = dc(&app, reqwest::Method::GET, "/user/999999", None).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn list_pages_with_exact_total_filters_and_sort() {
    let app = TestApp::spawn().await;
    for (u, f, active) in [
        ("ann", "Ann", true),
        ("bob", "Bob", true),
        ("cat", "Cat", false),
        ("dan", "Dan", true),
    ] {
        let mut b = seed();
        b["username"] = json!(u);
        b["first_name"] = json!(f);
        b["email"] = json!(format!("{u}@gmail.com"));
        let (s, created) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
        assert_eq!(s, 201, "{created}");
        if !active {
            let (_, list) = parts(
                app.get(&format!("/api/v1/users?username={u}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            let id = list["items"][0]["id"].as_str().unwrap();
            app.patch(&format!("/api/v1/users/{id}"), &json!({"active": false}))
                .send()
                .await
                .unwrap();
        }
    }
    // JupiterOne's loop: offset += users.len() until offset == page.total.
    let mut offset = 0;
    let mut seen = Vec::new();
    loop {
        let (s, page) = dc(
            &app,
            reqwest::Method::GET,
            &format!("/user?offset={offset}&limit=2"),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let users = page["users"].as_array().unwrap();
        seen.extend(
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        offset += users.len();
        assert_eq!(page["page"]["total"], 5);
        if offset as u64 == page["page"]["total"].as_u64().unwrap() {
            break;
        }
    }
    assert_eq!(seen, ["admin", "ann", "bob", "cat", "dan"]);
    let (_, page) = dc(
        &app,
        reqwest::Method::GET,
        "/user?filters[status]=inactive",
        None,
    )
    .await;
    assert_eq!(page["page"]["total"], 1);
    assert_eq!(page["users"][0]["status"], "inactive");
    let (_, page) = dc(
        &app,
        reqwest::Method::GET,
        "/user?filters[search]=%25gmail&sort=-username",
        None,
    )
    .await;
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dan", "cat", "bob", "ann"]);
    let (s, body) = dc(&app, reqwest::Method::GET, "/user?sort=shoe_size", None).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (400, Some("invalid_sort"))
    );
}

#[tokio::test]
async fn edit_role_divisions_service_users_and_keys() {
    let app = TestApp::spawn().await;
    for (name, seq) in [("Division A", 577532), ("Division B", 577533)] {
        let r = app
            .post_json("/api/v1/containers", &json!({"name": name, "seq": seq}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let mut b = seed();
    b["container_id_assignments"] = json!(["577532"]);
    b["access_roles"] = json!([{"id": 4}]);
    let (_, created) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
    let id = created["id"].as_i64().unwrap();
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(u["has_container_assignments"], true);
    assert_eq!(u["container_assignments"][0]["id"], 577532);

    // PUT edit: omitted job_title and telephone are cleared.
    let (s, body) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}"),
        Some(json!({"email": "jill@example.com"})),
    )
    .await;
    assert_eq!((s, body), (204, Value::Null));
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(u["email"], "jill@example.com");
    assert_eq!(u["job_title"], "");
    assert_eq!(u["telephone"], "");
    assert_eq!(u["first_name"], "Jill");
    let (s, _) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}"),
        Some(json!({"first_name": "J"})),
    )
    .await;
    assert_eq!(s, 400, "email is required on edit");

    let (s, _) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}/role"),
        Some(json!({"access_roles": [{"id": 2}]})),
    )
    .await;
    assert_eq!(s, 204);
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(
        u["access_roles"],
        json!([{"id": 2, "name": "Limited User"}])
    );
    assert_eq!(
        u["container_assignments"][0]["id"], 577532,
        "the role keeps its divisions"
    );

    let (s, _) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}/container-assignments"),
        Some(json!({"container_id_assignments": ["577533"]})),
    )
    .await;
    assert_eq!(s, 204);
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(u["container_assignments"][0]["id"], 577533);

    let (s, _) = dc(
        &app,
        reqwest::Method::PUT,
        "/container/577532/user-assignments",
        Some(json!({"user_id_assignments": [id]})),
    )
    .await;
    assert_eq!(s, 204);
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    let mut divisions: Vec<i64> = u["container_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    divisions.sort();
    assert_eq!(divisions, [577532, 577533]);

    let (_, roles) = dc(&app, reqwest::Method::GET, "/container/577532/role", None).await;
    assert_eq!(roles["access_roles"].as_array().unwrap().len(), 5);
    assert_eq!(
        roles["access_roles"][0],
        json!({"id": 1, "name": "Administrator"})
    );
    let (_, containers) = dc(&app, reqwest::Method::GET, "/container", None).await;
    assert_eq!(containers["containers"][1]["parent_id"], 1);
    let (_, c) = dc(&app, reqwest::Method::GET, "/container/577533", None).await;
    assert_eq!(c["name"], "Division B");

    // A service user: 201 with its key, once; the key works and is restricted.
    let (s, svc) = dc(&app, reqwest::Method::POST, "/user", Some(json!({
        "is_api_only": true, "email": "bot@example.com", "api_name": "CI bot", "restricted_to_role_id": 102
    }))).await;
    assert_eq!(s, 201, "{svc}");
    let key = svc["api_key"].as_str().unwrap().to_string();
    let r = app
        .client
        .get(app.url("/services/v2/user/me"))
        .header("X-DC-DEVKEY", &key)
        .send()
        .await
        .unwrap();
    let (s, me) = parts(r).await;
    assert_eq!((s, &me["type"]), (200, &json!("api_only")));
    let r = app
        .client
        .post(app.url("/services/v2/user"))
        .header("X-DC-DEVKEY", &key)
        .json(&seed())
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (403, Some("access_denied|missing_permission"))
    );
    let (_, keys) = dc(
        &app,
        reqwest::Method::GET,
        &format!("/key?user_id={}", svc["id"]),
        None,
    )
    .await;
    assert_eq!(keys["api_keys"][0]["name"], "CI bot");
    assert_eq!(keys["api_keys"][0]["restricted_to_role_id"], 102);
    assert!(!keys.to_string().contains(&key));
    let (_, roles) = dc(&app, reqwest::Method::GET, "/key/api-roles", None).await;
    assert_eq!(
        roles["access_roles"][2],
        json!({"id": 102, "name": "View Only"})
    );

    // JSON by default with no Accept header, and /account answers a valid key.
    let r = app
        .client
        .get(app.url("/services/v2/account"))
        .header("X-DC-DEVKEY", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let (s, _) = dc(&app, reqwest::Method::DELETE, &format!("/user/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(s, 404);
}

/// Clients send `"is_api_only": false` on every create, and fields from
/// newer DigiCert docs: documented fields are read and checked, others are
/// ignored. A documented field of the wrong type is still refused.
#[tokio::test]
async fn documented_and_unknown_fields_are_accepted_known_ones_checked() {
    let app = TestApp::spawn().await;
    let mut b = seed();
    b["is_api_only"] = json!(false);
    b["is_saml_sso_only"] = json!(false);
    b["container_id_assignments"] = json!([]);
    // Stands for a field a newer version of DigiCert's docs adds.
    b["user_preference_language"] = json!("en");
    let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let mut bad = seed();
    bad["username"] = json!("jill.other");
    bad["is_saml_sso_only"] = json!("no");
    let (s, body) = dc(&app, reqwest::Method::POST, "/user", Some(bad)).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], "bad_request_format");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is_saml_sso_only"),
        "{body}"
    );
    let mut bad = seed();
    bad["username"] = json!("jill.other");
    bad["is_api_only"] = json!("false");
    let (s, _) = dc(&app, reqwest::Method::POST, "/user", Some(bad)).await;
    assert_eq!(s, 400);
    // Edit user: an extra field is ignored, the change applies.
    let (s, body) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}"),
        Some(json!({"email": "jill@example.com", "first_name": "Jill", "user_preference_language": "en"})),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let (_, u) = dc(&app, reqwest::Method::GET, &format!("/user/{id}"), None).await;
    assert_eq!(u["email"], "jill@example.com");
    let (s, _) = dc(
        &app,
        reqwest::Method::PUT,
        &format!("/user/{id}/role"),
        Some(json!({"access_roles": [{"id": 4}], "note": "x"})),
    )
    .await;
    assert_eq!(s, 204);
}

/// "List service users" (`GET /user/api-only`, newer docs `GET
/// /service-user`) lists the API-only users in the list's shape, and
/// `is_saml_sso_only` is shown on every user.
#[tokio::test]
async fn service_users_are_listed_and_saml_sso_only_shown() {
    let app = TestApp::spawn().await;
    let mut b = seed();
    b["is_saml_sso_only"] = json!(true);
    let (s, _) = dc(&app, reqwest::Method::POST, "/user", Some(b)).await;
    assert_eq!(s, 201);
    let (s, bot) = dc(
        &app,
        reqwest::Method::POST,
        "/user",
        Some(json!({"is_api_only": true, "email": "bot@example.com", "api_name": "CI bot", "restricted_to_role_id": 102})),
    )
    .await;
    assert_eq!(s, 201, "{bot}");
    for path in [
        "/user/api-only",
        "/service-user",
        "/user/api-only?offset=0&limit=10",
    ] {
        let (s, list) = dc(&app, reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {list}");
        let users = list["users"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{path}: {list}");
        assert_eq!(users[0]["id"], bot["id"]);
        assert_eq!(users[0]["email"], "bot@example.com");
        assert_eq!(users[0]["is_saml_sso_only"], false);
        assert_eq!(list["page"]["total"], 1);
    }
    let (_, all) = dc(
        &app,
        reqwest::Method::GET,
        "/user?filters[search]=jill.valentine",
        None,
    )
    .await;
    assert_eq!(all["users"][0]["is_saml_sso_only"], true, "{all}");
}
