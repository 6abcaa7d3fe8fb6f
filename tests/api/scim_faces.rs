//! One user, every face: a user provisioned over SCIM is the same user on
//! the native API and on all four vendor dialects, and a user made through
//! another face is the same user over SCIM.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp};

fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {ADMIN_KEY}"))
}

async fn scim(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (h, v) = bearer();
    app.call(method, &format!("/scim/v2{path}"), (h, &v), body)
        .await
}

/// Reads the user `username` (id `id`, integer id `seq`) through every
/// other face and checks each shows the same person.
async fn same_user_everywhere(app: &TestApp, id: &str, username: &str, email: &str, given: &str) {
    let (h, v) = bearer();
    let (s, native) = app
        .call(Method::GET, &format!("/api/v1/users/{id}"), (h, &v), None)
        .await;
    assert_eq!(s, 200, "{native}");
    assert_eq!(native["username"], username);
    assert_eq!(native["email"], email);
    assert_eq!(native["first_name"], given);
    let seq = native["seq"].as_i64().unwrap();

    let (s, d3) = app
        .call(
            Method::POST,
            "/api/Command/GetUserByUsername",
            ("d3key", ADMIN_KEY),
            Some(json!({
                "Username": "admin",
                "Site": "HQ",
                "CommandParams": {"User Name": username}
            })),
        )
        .await;
    assert_eq!(s, 200, "{d3}");
    assert_eq!(d3["contextData"]["userName"], username, "{d3}");
    assert_eq!(d3["contextData"]["userID"], seq.to_string(), "{d3}");
    assert_eq!(d3["contextData"]["firstName"], given, "{d3}");

    let (s, af) = app
        .call(
            Method::GET,
            &format!("/api/ss/users/username/{username}"),
            ("x-ssapi-key", ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(s, 200, "{af}");
    assert_eq!(af["user"]["id"], id, "{af}");
    assert_eq!(af["user"]["email_address"], email, "{af}");
    assert_eq!(af["user"]["first_name"], given, "{af}");

    let (s, dc) = app
        .call(
            Method::GET,
            &format!("/services/v2/user/{seq}"),
            ("x-dc-devkey", ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(s, 200, "{dc}");
    assert_eq!(dc["username"], username, "{dc}");
    assert_eq!(dc["email"], email, "{dc}");
    assert_eq!(dc["first_name"], given, "{dc}");

    let (s, aria) = app
        .call(
            Method::GET,
            &format!("/suite-api/api/auth/users/{id}"),
            (h, &v),
            None,
        )
        .await;
    assert_eq!(s, 200, "{aria}");
    assert_eq!(aria["username"], username, "{aria}");
    assert_eq!(aria["firstName"], given, "{aria}");
    assert_eq!(aria["emailAddress"], email, "{aria}");
}

#[tokio::test]
async fn a_scim_user_is_the_same_user_on_every_face_and_back() {
    let app = TestApp::spawn().await;
    let (h, v) = bearer();
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/containers",
            (h, &v),
            Some(json!({"name": "HQ"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    // SCIM → every face.
    let (s, created) = scim(
        &app,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada.lovelace",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            "active": true
        })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    same_user_everywhere(&app, &id, "ada.lovelace", "ada@example.com", "Ada").await;

    // A change over SCIM shows everywhere too.
    let (s, patched) = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "name.givenName", "value": "Augusta"}]
        })),
    )
    .await;
    assert_eq!(s, 200, "{patched}");
    same_user_everywhere(&app, &id, "ada.lovelace", "ada@example.com", "Augusta").await;

    // Another face → SCIM: a user made by AttackForge is found by a SCIM
    // filter, with the same id and fields.
    let (s, af) = app
        .call(
            Method::POST,
            "/api/ss/user",
            ("x-ssapi-key", ADMIN_KEY),
            Some(json!({
                "first_name": "Grace",
                "last_name": "Hopper",
                "username": "grace.hopper",
                "email": "grace@example.com",
                "role": "consultant",
                "password": "a cobol compiler in 1959",
                "mfa": "No"
            })),
        )
        .await;
    assert_eq!(s, 200, "{af}");
    let (s, found) = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22GRACE.HOPPER%22",
        None,
    )
    .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");
    let grace = &found["Resources"][0];
    let grace_id = grace["id"].as_str().unwrap().to_string();
    assert_eq!(grace["userName"], "grace.hopper");
    assert_eq!(grace["name"]["givenName"], "Grace");
    assert_eq!(grace["name"]["familyName"], "Hopper");
    assert_eq!(grace["emails"][0]["value"], "grace@example.com");
    assert_eq!(grace["active"], true);
    same_user_everywhere(
        &app,
        &grace_id,
        "grace.hopper",
        "grace@example.com",
        "Grace",
    )
    .await;

    // Deactivated through the native API, seen inactive over SCIM.
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{grace_id}"),
            (h, &v),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, grace) = scim(&app, Method::GET, &format!("/Users/{grace_id}"), None).await;
    assert_eq!(s, 200, "{grace}");
    assert_eq!(grace["active"], false);
}

/// SCIM gives a caller no power the native API does not: a user without
/// privileges cannot rewrite its own account through `/Me` or
/// `/Users/{own id}` (rename, raise its security level), nor touch anyone
/// else, nor create users in Bulk.
#[tokio::test]
async fn scim_gives_a_plain_user_nothing_the_native_api_refuses() {
    let app = TestApp::spawn().await;
    let me = app
        .create_user(json!({
            "username": "plain",
            "password": "a long enough passphrase 42",
            "security_level": 1
        }))
        .await;
    let id = me["id"].as_str().unwrap().to_string();
    let admin_id = {
        let (_, me) = scim(&app, Method::GET, "/Me", None).await;
        me["id"].as_str().unwrap().to_string()
    };
    let token = app.token("plain", "a long enough passphrase 42").await;
    let auth = format!("Bearer {token}");
    let call = |method: Method, path: String, body: Option<Value>| {
        let auth = auth.clone();
        let app = &app;
        async move {
            app.call(
                method,
                &format!("/scim/v2{path}"),
                ("authorization", &auth),
                body,
            )
            .await
        }
    };
    let lift = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "userName", "value": "root"},
            {"op": "replace", "path": "urn:roster:params:scim:schemas:extension:roster:2.0:User:securityLevel", "value": 99}
        ]
    });
    for path in ["/Me".to_string(), format!("/Users/{id}")] {
        let (s, b) = call(Method::PATCH, path.clone(), Some(lift.clone())).await;
        assert_eq!(s, 403, "{path}: {b}");
        assert_eq!(
            b["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
    let (s, b) = call(
        Method::PATCH,
        format!("/Users/{admin_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        })),
    )
    .await;
    assert!(s == 403 || s == 404, "{s}: {b}");
    let (s, b) = call(
        Method::POST,
        "/Bulk".into(),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": "x",
                            "data": {"userName": "smuggled"}}]
        })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["Operations"][0]["status"], "403", "{b}");
    // Nothing changed.
    let (h, v) = bearer();
    let (_, native) = app
        .call(Method::GET, &format!("/api/v1/users/{id}"), (h, &v), None)
        .await;
    assert_eq!(native["username"], "plain", "{native}");
    assert_eq!(native["security_level"], 1, "{native}");
    let (_, admin) = app
        .call(
            Method::GET,
            &format!("/api/v1/users/{admin_id}"),
            (h, &v),
            None,
        )
        .await;
    assert_eq!(admin["active"], true, "{admin}");
    let (_, found) = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22smuggled%22",
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 0, "{found}");
}
