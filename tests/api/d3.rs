//! The D3 SOAR dialect, driven with the seed page's own request.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, parts};

async fn catalogue(app: &TestApp) {
    for (name, seq) in [
        ("Security Operations", 100017),
        ("SOC East", 100018),
        ("SOC West", 100019),
    ] {
        let (s, b) = parts(
            app.post_json("/api/v1/containers", &json!({"name": name, "seq": seq}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    for (name, seq) in [("Tier 1", 100013), ("Tier 2", 100011)] {
        let (s, b) = parts(
            app.post_json("/api/v1/groups", &json!({"name": name, "seq": seq}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
}

fn seed_body() -> Value {
    json!({
      "Username": "Admin",
      "Site": "Security Operations",
      "CommandParams": {
        "UserInfo": {
          "username": "newuser",
          "emailAddress": "xxxx@gmail.com",
          "firstName": "newfirst",
          "lastName": "newlast",
          "phoneNumber": "",
          "isActive": true,
          "roleId": "1",
          "groupIds": [100013, 100011],
          "siteIds": [100018, 100019],
          "timezoneId": "5",
          "securityLevel": 1
        }
      }
    })
}

async fn d3(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    parts(
        app.client
            .post(app.url(path))
            .header("d3key", ADMIN_KEY)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn seed_create_user_request_works_and_the_user_is_a_roster_user() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let (s, body) = d3(&app, "/Command/CreateUser", &seed_body()).await;
    assert_eq!(
        (s, &body),
        (200, &json!({"error": "", "returnData": "Successful"}))
    );

    // Visible through the native API with everything the request carried.
    let (_, list) = parts(
        app.get("/api/v1/users?username=newuser")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let u = &list["items"][0];
    assert_eq!(u["email"], "xxxx@gmail.com");
    assert_eq!(u["first_name"], "newfirst");
    assert_eq!(u["phone"], Value::Null);
    assert_eq!(u["security_level"], 1);
    assert_eq!(u["timezone"], "Pacific Standard Time");
    let id = u["id"].as_str().unwrap();
    let (_, groups) = parts(
        app.get(&format!("/api/v1/users/{id}/groups"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tier 2", "Tier 1"]);
    let (_, roles) = parts(
        app.get(&format!("/api/v1/users/{id}/roles"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(roles["items"][0]["role"], "Administrator");
    assert_eq!(
        roles["items"][0]["container_ids"].as_array().unwrap().len(),
        2
    );

    // The same request again: a command failure, 200 with an error.
    let (s, body) = d3(&app, "/api/Command/CreateUser", &seed_body()).await;
    assert_eq!(s, 200);
    assert!(
        body["error"].as_str().unwrap().contains("username"),
        "{body}"
    );
    assert_eq!(body["returnData"], "");
}

#[tokio::test]
async fn numeric_strings_and_numbers_both_work_and_names_are_case_insensitive() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let mut body = seed_body();
    body["CommandParams"]["UserInfo"]["roleId"] = json!(4);
    body["CommandParams"]["UserInfo"]["groupIds"] = json!(["100013"]);
    body["CommandParams"]["UserInfo"]["username"] = json!("numeric");
    let (s, r) = d3(&app, "/api/command/createuser", &body).await;
    assert_eq!((s, r["error"].as_str()), (200, Some("")), "{r}");
}

#[tokio::test]
async fn read_update_and_inactivate_commands() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    d3(&app, "/api/Command/CreateUser", &seed_body()).await;
    let env = |params: Value| json!({"Username": "admin", "Site": "Security Operations", "CommandParams": params});

    let (s, r) = d3(
        &app,
        "/api/Command/GetUserByUsername",
        &env(json!({"User Name": "newuser"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["returnData"], "Succeed");
    let ctx = &r["contextData"];
    assert_eq!(ctx["userName"], "newuser");
    assert_eq!(ctx["fullName"], "newfirst newlast");
    assert_eq!(ctx["timezoneId"], "5");
    assert_eq!(ctx["role"], "Administrator");
    assert!(ctx["userID"].is_string());
    let seq: i64 = ctx["userID"].as_str().unwrap().parse().unwrap();

    let (_, r) = d3(
        &app,
        "/api/Command/GetUsersBySite",
        &env(json!({"Site Name": "SOC East", "Online": "No"})),
    )
    .await;
    let rows = r["returnData"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["userID"], seq);
    assert_eq!(rows[0]["timezone"], "Pacific Standard Time");
    assert_eq!(rows[0]["timezoneId"], 5);
    let (_, r) = d3(
        &app,
        "/api/Command/GetUsersBySite",
        &env(json!({"Site Name": "SOC East", "Online": "Yes"})),
    )
    .await;
    assert_eq!(r["returnData"], json!([]), "nobody has signed in");

    let (_, r) = d3(
        &app,
        "/api/Command/GetUsersByRole",
        &env(json!({"Role Name": "Administrator"})),
    )
    .await;
    let names: Vec<&str> = r["returnData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "newuser"]);
    let (_, r) = d3(
        &app,
        "/api/Command/GetAllUserOfARole",
        &env(json!({"Role Name": "administrator"})),
    )
    .await;
    assert_eq!(r["returnData"], "Succeed");
    assert_eq!(r["contextData"].as_array().unwrap().len(), 2);

    let (s, r) = d3(
        &app,
        "/api/Command/UpdateUser",
        &env(json!({"User ID": seq, "User Information": {"emailAddress": "new@example.com", "isActive": 1, "timezoneId": 30}})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["returnData"]["Status"], "Successful");
    assert_eq!(
        r["returnData"]["Data"][0],
        json!({"FieldName": "Email", "UpdateValue": "new@example.com"})
    );
    let (_, list) = parts(
        app.get("/api/v1/users?username=newuser")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"][0]["email"], "new@example.com");
    assert_eq!(list["items"][0]["timezone"], "W. Europe Standard Time");

    let (_, r) = d3(
        &app,
        "/api/Command/InActiveUser",
        &env(json!({"User Name": "newuser"})),
    )
    .await;
    assert_eq!(r, json!({"error": "", "returnData": "Successful"}));
    let (_, list) = parts(
        app.get("/api/v1/users?username=newuser")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"][0]["active"], false);

    // Natively created users are visible through the dialect.
    app.create_user(json!({"username": "native-made", "first_name": "Nat"}))
        .await;
    let (_, r) = d3(
        &app,
        "/api/Command/GetUserByUsername",
        &env(json!({"User Name": "native-made"})),
    )
    .await;
    assert_eq!(r["contextData"]["firstName"], "Nat");
    let (_, r) = d3(
        &app,
        "/api/Command/GetUserByUsername",
        &env(json!({"User Name": "ghost"})),
    )
    .await;
    assert_eq!(r["returnData"], "");
    assert!(!r["error"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn transport_errors_use_the_seed_envelope() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    // 401: no key, wrong key.
    let r = app
        .client
        .post(app.url("/api/Command/CreateUser"))
        .json(&seed_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        parts(r).await,
        (401, json!({"Error": "Invalid authentication key."}))
    );
    let r = app
        .client
        .post(app.url("/api/Command/CreateUser"))
        .header("d3key", "not-a-key")
        .json(&seed_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        parts(r).await,
        (401, json!({"Error": "Invalid authentication key."}))
    );
    // 400: not a JSON object.
    for raw in ["{not json", "[1,2]", ""] {
        let r = app
            .client
            .post(app.url("/api/Command/CreateUser"))
            .header("d3key", ADMIN_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(
            parts(r).await,
            (
                400,
                json!({"Error": "The body of the request must be a valid JSON object"})
            )
        );
    }
    // Acting for a user the key may not act for is a permission failure: 401.
    let mut body = seed_body();
    body["Username"] = json!("someone-else");
    let (s, r) = d3(&app, "/api/Command/CreateUser", &body).await;
    assert_eq!(
        (s, r),
        (401, json!({"Error": "Invalid authentication key."}))
    );
    // A roster token works in d3jwt too.
    let resp = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client
        .post(app.url("/api/Command/GetUserByUsername"))
        .header("d3jwt", token)
        .json(&json!({"Username": "Admin", "Site": "Security Operations", "CommandParams": {"User Name": "admin"}}))
        .send()
        .await
        .unwrap();
    let (s, r) = parts(r).await;
    assert_eq!((s, &r["returnData"]), (200, &json!("Succeed")));
    // Unknown site or command: a command failure.
    let (s, r) = d3(
        &app,
        "/api/Command/CreateUser",
        &json!({"Username": "admin", "Site": "Nowhere", "CommandParams": {}}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["error"], "Site 'Nowhere' was not found.");
    let (s, r) = d3(
        &app,
        "/api/Command/LaunchMissiles",
        &json!({"Username": "admin", "Site": "Security Operations"}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["error"].as_str().unwrap().contains("LaunchMissiles"));
}

#[tokio::test]
async fn rate_limit_uses_the_d3_envelope() {
    let app = TestApp::with(crate::helpers::Options {
        http: roster_server::HttpConfig {
            rate_limit_per_second: 1,
            rate_limit_burst: 2,
            ..roster_server::HttpConfig::default()
        },
        ..crate::helpers::Options::default()
    })
    .await;
    let mut last = (0, Value::Null);
    for _ in 0..5 {
        let r = app
            .client
            .post(app.url("/api/Command/GetUserByUsername"))
            .header("d3key", ADMIN_KEY)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        last = parts(r).await;
        if last.0 == 429 {
            break;
        }
    }
    assert_eq!(
        last,
        (
            429,
            json!({"Error": "The request exceeds rate limits or is otherwise blocked by rate limiting policies."})
        )
    );
}

/// GetOnlineUsers (`{}` params, as D3's command page) lists who signed in
/// lately, with D3's session fields and the HTML `result`;
/// SyncAllUserGroupRole with the page's parameters succeeds (one tenant:
/// nothing to copy) and checks its flag.
#[tokio::test]
async fn online_users_and_sync_all_user_group_role() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let (s, b) = d3(&app, "/api/Command/CreateUser", &seed_body()).await;
    assert_eq!((s, b["error"].as_str()), (200, Some("")), "{b}");
    let envelope = |params: Value| json!({"Username": "Admin", "Site": "Security Operations", "CommandParams": params});
    let (s, b) = d3(&app, "/api/Command/GetOnlineUsers", &envelope(json!({}))).await;
    assert_eq!(s, 200);
    assert_eq!(b["returnData"], "Succeed", "{b}");
    assert_eq!(b["contextData"], json!([]), "nobody has signed in yet");
    app.token("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (_, b) = d3(&app, "/api/Command/GetOnlineUsers", &envelope(json!({}))).await;
    let rows = b["contextData"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{b}");
    assert_eq!(rows[0]["userName"], "admin");
    for key in [
        "loginLogID",
        "SourceIP",
        "factoryDeviceID",
        "activeVSOCUsers",
        "activeMobileUsers",
    ] {
        assert!(rows[0].get(key).is_some(), "{key}");
    }
    assert!(
        b["result"].as_str().unwrap().contains("<td>admin</td>"),
        "{b}"
    );
    let (s, b) = d3(
        &app,
        "/api/Command/SyncAllUserGroupRole",
        &envelope(json!({"allTenant": "True", "Region": "AMER", "TenantName": "Acme"})),
    )
    .await;
    assert_eq!(
        (s, b),
        (200, json!({"error": "", "returnData": "Successful"}))
    );
    let (s, b) = d3(
        &app,
        "/api/Command/SyncAllUserGroupRole",
        &envelope(json!({"allTenant": "maybe"})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(!b["error"].as_str().unwrap().is_empty());
}

/// GetUsersBySite for one site, as the user names.
/// `key` is the credential header; with `d3jwt` the envelope's `Username`
/// must be the token's user.
async fn site_users(app: &TestApp, key: (&str, &str), user: &str, site: &str) -> Vec<String> {
    let (s, body) = app
        .call(
            reqwest::Method::POST,
            "/api/Command/GetUsersBySite",
            key,
            Some(json!({"Username": user, "Site": site, "CommandParams": {"Site Name": site}})),
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (200, Some("")), "{body}");
    body["returnData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect()
}

async fn container_id(app: &TestApp, name: &str) -> String {
    let (_, list) = parts(app.get("/api/v1/containers").send().await.unwrap()).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// D3's two refusals: no permission (401, its authentication envelope), or
/// a site the caller cannot see (a failed command naming it).
fn assert_refused(status: u16, body: &Value) {
    let no_permission = status == 401 && body == &json!({"Error": "Invalid authentication key."});
    let unseen = status == 200
        && body["returnData"] == ""
        && body["error"].as_str().is_some_and(|e| e.contains("100018"));
    assert!(no_permission || unseen, "{status} {body}");
}

/// `siteIds` beyond the first are kept: a user in several sites is listed
/// by GetUsersBySite for each, UpdateUser replaces the list, a site with
/// members cannot be deleted, and a manager scoped to one site cannot add
/// a user to a site outside its reach.
#[tokio::test]
async fn a_user_in_several_sites_is_listed_by_each() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let admin = ("d3key", ADMIN_KEY);
    // No roleId: the sites are membership alone.
    let mut body = seed_body();
    body["CommandParams"]["UserInfo"]
        .as_object_mut()
        .unwrap()
        .remove("roleId");
    let (s, r) = d3(&app, "/api/Command/CreateUser", &body).await;
    assert_eq!((s, r["error"].as_str()), (200, Some("")), "{r}");
    assert_eq!(
        site_users(&app, admin, "Admin", "SOC East").await,
        ["newuser"]
    );
    assert_eq!(
        site_users(&app, admin, "Admin", "SOC West").await,
        ["newuser"]
    );
    assert!(
        site_users(&app, admin, "Admin", "Security Operations")
            .await
            .is_empty()
    );

    // The native API filters by home (`container`) or by any site (`site`).
    let west = container_id(&app, "SOC West").await;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, by_site) = parts(
        app.get(&format!("/api/v1/users?site={west}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(names(&by_site), ["newuser"]);
    let (_, by_home) = parts(
        app.get(&format!("/api/v1/users?container={west}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(names(&by_home).is_empty(), "{by_home}");
    let (s, bad) = parts(app.get("/api/v1/users?site=nope").send().await.unwrap()).await;
    assert_eq!(s, 400, "{bad}");

    // A site with members is in use.
    let (s, b) = parts(
        app.delete(&format!("/api/v1/containers/{west}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 409, "{b}");

    // UpdateUser's siteIds is the whole list: the home (SOC East) is not
    // in it, so the first listed site becomes the home.
    let (_, got) = d3(
        &app,
        "/api/Command/GetUserByUsername",
        &json!({"Username": "Admin", "Site": "SOC East", "CommandParams": {"User Name": "newuser"}}),
    )
    .await;
    let seq: i64 = got["contextData"]["userID"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let update = |user: &str, sites: Value| {
        json!({"Username": user, "Site": "SOC West",
               "CommandParams": {"User ID": seq, "User Information": {"siteIds": sites}}})
    };
    let (s, r) = d3(
        &app,
        "/api/Command/UpdateUser",
        &update("Admin", json!([100019, 100017])),
    )
    .await;
    assert_eq!((s, r["error"].as_str()), (200, Some("")), "{r}");
    assert!(
        r["returnData"]["Data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["FieldName"] == "SiteIds"),
        "{r}"
    );
    assert!(
        site_users(&app, admin, "Admin", "SOC East")
            .await
            .is_empty()
    );
    assert_eq!(
        site_users(&app, admin, "Admin", "SOC West").await,
        ["newuser"]
    );
    assert_eq!(
        site_users(&app, admin, "Admin", "Security Operations").await,
        ["newuser"]
    );
    let (_, by_home) = parts(
        app.get(&format!("/api/v1/users?container={west}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(names(&by_home), ["newuser"]);
    // An unknown site is a command failure that changes nothing.
    let (s, r) = d3(
        &app,
        "/api/Command/UpdateUser",
        &update("Admin", json!([100019, 999])),
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["error"].as_str().unwrap().contains("999"), "{r}");
    assert_eq!(
        site_users(&app, admin, "Admin", "Security Operations").await,
        ["newuser"]
    );

    // A manager of SOC West alone: may list its site, may not add its
    // user to Security Operations' sibling SOC East, nor create a user
    // there; nothing changes.
    let mgr = app
        .create_user(
            json!({"username": "westmgr", "password": "west-manager-pw-1", "container_id": west}),
        )
        .await;
    let (s, b) = parts(
        app.post_json(
            &format!("/api/v1/users/{}/roles", mgr["id"].as_str().unwrap()),
            &json!({"role": "Manager", "container_ids": [west]}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let token = app.token("westmgr", "west-manager-pw-1").await;
    let limited = ("d3jwt", token.as_str());
    let mut listed = site_users(&app, limited, "westmgr", "SOC West").await;
    listed.sort();
    assert_eq!(listed, ["newuser", "westmgr"]);
    let (s, r) = app
        .call(
            reqwest::Method::POST,
            "/api/Command/UpdateUser",
            limited,
            Some(update("westmgr", json!([100019, 100018]))),
        )
        .await;
    assert_refused(s, &r);
    let mut created = seed_body();
    created["Username"] = json!("westmgr");
    created["Site"] = json!("SOC West");
    created["CommandParams"]["UserInfo"]["username"] = json!("sneaky");
    created["CommandParams"]["UserInfo"]
        .as_object_mut()
        .unwrap()
        .remove("roleId");
    created["CommandParams"]["UserInfo"]["groupIds"] = json!([]);
    created["CommandParams"]["UserInfo"]["siteIds"] = json!([100019, 100018]);
    let (s, r) = app
        .call(
            reqwest::Method::POST,
            "/api/Command/CreateUser",
            limited,
            Some(created),
        )
        .await;
    assert_refused(s, &r);
    assert!(
        site_users(&app, admin, "Admin", "SOC East")
            .await
            .is_empty()
    );
    let (_, all) = parts(
        app.get("/api/v1/users?username=sneaky")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(all["items"].as_array().unwrap().is_empty());
}
