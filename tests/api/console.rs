//! The admin console (`/console`) over HTTP, as a browser would speak to
//! it (a cookie store, form posts), and once in a real headless Chromium
//! through chromedriver's W3C WebDriver API.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, free_port, parts};

/// A browser-like client: keeps cookies, follows redirects.
fn browser() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A client that shows redirects instead of following them, and keeps no cookies.
fn raw() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in as a browser does: the form first (its token and cookie),
/// then the post.
async fn sign_in(
    app: &TestApp,
    c: &Client,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let form = c
        .get(app.url("/console/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = login_token(&form);
    let r = c
        .post(app.url("/console/login"))
        .form(&[
            ("username", username),
            ("password", password),
            ("login_token", &token),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The sign-in form's hidden token.
fn login_token(html: &str) -> String {
    between(html, "name=\"login_token\" value=\"", "\"").expect("a login_token field")
}

/// The `name=value` of cookie `name` among a response's `Set-Cookie`s.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// Signs in without a cookie store, holding the form's cookie by hand;
/// the sign-in response (a 303 with the session cookie when it worked).
async fn raw_sign_in(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let r = raw().get(app.url("/console/login")).send().await.unwrap();
    let pre = set_cookie(&r, "roster_console_login").expect("a sign-in form cookie");
    let pre = pre.split(';').next().unwrap().to_string();
    let token = login_token(&r.text().await.unwrap());
    let mut req = raw()
        .post(app.url("/console/login"))
        .header("cookie", pre)
        .form(&[
            ("username", username),
            ("password", password),
            ("login_token", &token),
        ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    c: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = c.post(app.url(path)).form(form).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The value of the form token in a page.
fn csrf(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"").expect("a csrf field")
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(s[i..i + j].to_string())
}

/// Creates a user with a password through the native API; its body.
async fn api_user(app: &TestApp, username: &str, password: &str) -> Value {
    app.create_user(json!({"username": username, "password": password, "first_name": "Dora", "last_name": "Explorer"}))
        .await
}

/// Grants a role by name over all objects through the native API.
async fn grant_all(app: &TestApp, user: &Value, role: &str) {
    let r = app
        .post_json(
            &format!("/api/v1/users/{}/roles", user["id"].as_str().unwrap()),
            &json!({"role": role, "all_objects": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn console_signs_in_creates_finds_disables_audits_and_signs_out() {
    let app = TestApp::spawn().await;
    let c = browser();
    let (st, html) = sign_in(&app, &c, "admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("<h1>Users</h1>"), "{html}");
    assert!(html.contains("Signed in as <strong id=\"me\">admin</strong>"));
    let token = csrf(&html);

    // Create a user: lands on their page.
    let (st, html) = post(
        &app,
        &c,
        "/console/users",
        &[
            ("csrf", &token),
            ("username", "carol.k"),
            ("email", "carol@example.com"),
            ("first_name", "Carol"),
            ("last_name", "King"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("<h1>carol.k</h1>"), "{html}");
    let id = between(&html, "<dt>Id</dt><dd><code>", "</code>").unwrap();

    // Found by search (a prefix of a name), not by an unrelated one.
    let (st, html) = page(&app, &c, "/console/users?q=Car").await;
    assert_eq!(st, 200);
    assert!(
        html.contains(&format!("href=\"/console/users/{id}\"")),
        "{html}"
    );
    let (_, html) = page(&app, &c, "/console/users?q=zzz").await;
    assert!(html.contains("No user matches"), "{html}");

    // Her page explains her permissions: none, then a direct grant.
    let (_, html) = page(&app, &c, &format!("/console/users/{id}")).await;
    assert!(html.contains("id=\"no-permissions\""), "{html}");
    let carol = json!({"id": id});
    grant_all(&app, &carol, "ReadOnly").await;
    let (st, html) = page(&app, &c, &format!("/console/users/{id}")).await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"permissions\""), "{html}");
    assert!(html.contains("<code>users.read</code>"), "{html}");
    assert!(
        html.contains("<strong>ReadOnly</strong> — assigned directly, over all objects"),
        "{html}"
    );

    // Disable, on the version shown.
    let version = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/active"),
        &[("csrf", &token), ("active", "false"), ("version", &version)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("<dd id=\"status\">disabled"), "{html}");
    // The same stale version again: 412 with a reload hint.
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/active"),
        &[("csrf", &token), ("active", "true"), ("version", &version)],
    )
    .await;
    assert_eq!(st, 412, "{html}");
    assert!(html.contains("Reload the page"), "{html}");

    // The audit page lists both, newest first, and the chain is intact.
    let (st, html) = page(&app, &c, "/console/audit").await;
    assert_eq!(st, 200);
    assert!(html.contains("Chain verified"), "{html}");
    let update = html.find("<code>user.update</code>").expect("user.update");
    let create = html.find("<code>user.create</code>").expect("user.create");
    assert!(update < create, "newest first");
    let (_, html) = page(&app, &c, "/console/audit?action=user.create&actor=admin").await;
    assert!(
        html.contains("<code>user.create</code>") && !html.contains("<code>user.update</code>")
    );

    // Delete asks first, then deletes.
    let (st, html) = page(&app, &c, &format!("/console/users/{id}/delete")).await;
    assert_eq!(st, 200);
    assert!(html.contains("Delete carol.k?"));
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/delete"),
        &[("csrf", &token), ("version", &v)],
    )
    .await;
    assert_eq!(st, 200);
    assert!(html.contains("User carol.k was deleted."), "{html}");
    let (st, _) = page(&app, &c, &format!("/console/users/{id}")).await;
    assert_eq!(st, 404);

    // Sign out: the token is revoked, the cookie gone.
    let cookie = {
        // Sign in on a raw client to hold the cookie by hand.
        let r = raw_sign_in(&app, "admin", ADMIN_PASSWORD, &[]).await;
        assert_eq!(r.status(), 303);
        let set = set_cookie(&r, "roster_console").expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(set.contains(attr), "{set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP: {set}");
        set.split(';').next().unwrap().to_string()
    };
    let (st, html) = {
        let r = raw()
            .get(app.url("/console/users"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(st, 200);
    let held = csrf(&html);
    let r = raw()
        .post(app.url("/console/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", held.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/login?signed_out=1");
    assert!(
        set_cookie(&r, "roster_console")
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = raw()
        .get(app.url("/console/users"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a revoked session goes to sign-in");
    assert_eq!(r.headers()["location"], "/console/login");

    // And the browser's own session signs out through the page.
    let (_, html) = page(&app, &c, "/console/users").await;
    let (st, html) = post(&app, &c, "/console/logout", &[("csrf", &csrf(&html))]).await;
    assert_eq!(st, 200);
    assert!(html.contains("You have signed out."), "{html}");
    let (_, html) = page(&app, &c, "/console/users").await;
    assert!(html.contains("Sign in to roster"), "{html}");
}

#[tokio::test]
async fn console_refuses_a_post_without_its_csrf_token() {
    let app = TestApp::spawn().await;
    let c = browser();
    let (st, html) = sign_in(&app, &c, "admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 200);
    let good = csrf(&html);
    for form in [
        vec![("username", "mallory")],
        vec![("username", "mallory"), ("csrf", "0000")],
        vec![("username", "mallory"), ("csrf", "")],
    ] {
        let (st, html) = post(&app, &c, "/console/users", &form).await;
        assert_eq!(st, 403, "{html}");
        assert!(html.contains("Form refused"), "{html}");
    }
    let (_, html) = page(&app, &c, "/console/users?q=mallory").await;
    assert!(
        html.contains("No user matches"),
        "nothing was created: {html}"
    );
    // Sign-out without the token does not sign out either.
    let (st, _) = post(&app, &c, "/console/logout", &[]).await;
    assert_eq!(st, 403);
    let (st, html) = page(&app, &c, "/console/users").await;
    assert_eq!(st, 200);
    assert_eq!(csrf(&html), good);
}

#[tokio::test]
async fn console_wrong_password_shows_an_error_and_sets_no_cookie() {
    let app = TestApp::spawn().await;
    let r = raw_sign_in(&app, "admin", "not-the-password", &[]).await;
    assert_eq!(r.status(), 401);
    assert!(set_cookie(&r, "roster_console").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("Wrong username or password"), "{html}");
    assert!(html.contains("value=\"admin\""), "the username is kept");
    // Signed out, every page leads to sign-in.
    let r = raw().get(app.url("/console/audit")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/login");
}

#[tokio::test]
async fn console_shows_field_errors_next_to_their_fields() {
    let app = TestApp::spawn().await;
    let c = browser();
    let (_, html) = sign_in(&app, &c, "admin", ADMIN_PASSWORD).await;
    let token = csrf(&html);
    let (st, html) = post(
        &app,
        &c,
        "/console/users",
        &[
            ("csrf", &token),
            ("username", "erin"),
            ("email", "not-an-email"),
        ],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"new-email-error\""), "{html}");
    assert!(html.contains("value=\"not-an-email\""), "the input is kept");
    // A taken username: 409, next to the username.
    let (st, html) = post(
        &app,
        &c,
        "/console/users",
        &[("csrf", &token), ("username", "admin")],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("id=\"new-username-error\""), "{html}");
}

#[tokio::test]
async fn console_refuses_a_user_without_privileges_clearly() {
    let app = TestApp::spawn().await;
    api_user(&app, "nobody", "nobody-password-1").await;
    let c = browser();
    let (st, html) = sign_in(&app, &c, "nobody", "nobody-password-1").await;
    assert_eq!(st, 403, "{html}");
    assert!(html.contains("You may not list users."), "{html}");
    let (st, html) = page(&app, &c, "/console/audit").await;
    assert_eq!(st, 403);
    assert!(html.contains("You may not read the audit log."), "{html}");
}

#[tokio::test]
async fn console_responses_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let c = browser();
    sign_in(&app, &c, "admin", ADMIN_PASSWORD).await;
    for path in [
        "/console/login",
        "/console/users",
        "/console/audit",
        "/console/static/console.css",
        "/console/no-such-page",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'none'",
            "style-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    let r = c
        .get(app.url("/console/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("There is no such page."));
    // Behind a TLS proxy the cookie is Secure.
    let r = raw_sign_in(
        &app,
        "admin",
        ADMIN_PASSWORD,
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(
        set_cookie(&r, "roster_console")
            .unwrap()
            .contains("; Secure")
    );
}

// ---- access pages

/// Signs in as admin on a browser-like client; it and the form token.
async fn admin(app: &TestApp) -> (Client, String) {
    let c = browser();
    let (st, html) = sign_in(app, &c, "admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 200, "{html}");
    let token = csrf(&html);
    (c, token)
}

/// The 36-character id that follows the last `prefix` before `marker`.
fn id_before(html: &str, marker: &str, prefix: &str) -> String {
    let end = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    let start = html[..end]
        .rfind(prefix)
        .unwrap_or_else(|| panic!("no {prefix} before {marker}"))
        + prefix.len();
    html[start..start + 36].to_string()
}

/// Creates a container through the native API; its id.
async fn api_container(app: &TestApp, name: &str, parent: Option<&str>) -> String {
    let r = app
        .post_json(
            "/api/v1/containers",
            &json!({"name": name, "parent_id": parent}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn console_sign_in_needs_the_forms_own_token() {
    let app = TestApp::spawn().await;
    let creds = [("username", "admin"), ("password", ADMIN_PASSWORD)];
    // A form posted from elsewhere: neither token nor cookie.
    let r = raw()
        .post(app.url("/console/login"))
        .form(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "roster_console").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This sign-in form has expired or did not come from this console")
    );
    // The attacker's own token, without the victim's matching cookie.
    let theirs = raw().get(app.url("/console/login")).send().await.unwrap();
    let their_token = login_token(&theirs.text().await.unwrap());
    let ours = raw().get(app.url("/console/login")).send().await.unwrap();
    let our_cookie = set_cookie(&ours, "roster_console_login").unwrap();
    assert!(our_cookie.contains("SameSite=Strict") && our_cookie.contains("HttpOnly"));
    let our_cookie = our_cookie.split(';').next().unwrap().to_string();
    for (cookie, token) in [
        (None, their_token.as_str()),
        (Some(&our_cookie), their_token.as_str()),
    ] {
        let mut req = raw().post(app.url("/console/login"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let r = req
            .form(&[creds[0], creds[1], ("login_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(set_cookie(&r, "roster_console").is_none());
    }
    // The pair of one form signs in, and the form cookie is spent.
    let r = raw_sign_in(&app, "admin", ADMIN_PASSWORD, &[]).await;
    assert_eq!(r.status(), 303);
    assert!(
        set_cookie(&r, "roster_console_login")
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn console_grants_a_role_over_a_container_and_revokes_it() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let (st, html) = post(
        &app,
        &c,
        "/console/containers",
        &[("csrf", &token), ("name", "Sales"), ("parent_id", "")],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("<h1>Sales</h1>"), "{html}");
    let sales = between(&html, "<dt>Id</dt><dd><code>", "</code>").unwrap();
    let (st, html) = post(
        &app,
        &c,
        "/console/users",
        &[
            ("csrf", &token),
            ("username", "gina"),
            ("container_id", &sales),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    let id = between(&html, "<dt>Id</dt><dd><code>", "</code>").unwrap();
    assert!(
        html.contains("<dt>Home container</dt><dd>Sales</dd>"),
        "{html}"
    );
    let read_only = id_before(&html, "\">ReadOnly</option>", "<option value=\"");
    assert!(
        html.contains(&format!("<option value=\"{sales}\">")),
        "the container is offered: {html}"
    );

    // Who is in the container: on its page, and as a filter of the list.
    let (_, html) = page(&app, &c, &format!("/console/containers/{sales}")).await;
    assert!(
        html.contains(&format!(
            "<li><a href=\"/console/users/{id}\">gina</a></li>"
        )),
        "{html}"
    );
    let (st, html) = page(&app, &c, &format!("/console/users?container={sales}")).await;
    assert_eq!(st, 200);
    assert!(
        html.contains(">gina</a>") && !html.contains(">admin</a>"),
        "{html}"
    );
    assert!(html.contains("in Sales and below"), "{html}");
    let (st, _) = page(&app, &c, "/console/users?container=nope").await;
    assert_eq!(st, 400);

    // No role chosen: said next to the role picker.
    let grant_path = format!("/console/users/{id}/roles");
    let (st, html) = post(
        &app,
        &c,
        &grant_path,
        &[("csrf", &token), ("role_id", ""), ("scope", &sales)],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"grant-role-error\""), "{html}");

    let (st, html) = post(
        &app,
        &c,
        &grant_path,
        &[("csrf", &token), ("role_id", &read_only), ("scope", &sales)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Role granted."), "{html}");
    assert!(
        html.contains("<strong>ReadOnly</strong> — assigned directly, over Sales"),
        "{html}"
    );
    assert!(html.contains("<td>users.read</td>") || html.contains("<code>users.read</code>"));
    let assignment = between(&html, &format!("/console/users/{id}/roles/"), "/revoke").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/roles/{assignment}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Role assignment revoked."), "{html}");
    assert!(!html.contains("<strong>ReadOnly</strong>"), "{html}");
    assert!(html.contains("id=\"no-permissions\""), "{html}");
    assert!(html.contains("id=\"no-assignments\""), "{html}");

    let (_, html) = page(&app, &c, "/console/audit").await;
    let unassign = html
        .find("<code>role.unassign</code>")
        .expect("role.unassign");
    let assign = html.find("<code>role.assign</code>").expect("role.assign");
    assert!(unassign < assign, "newest first");
}

#[tokio::test]
async fn console_refuses_every_form_without_its_csrf_token() {
    let app = TestApp::spawn().await;
    let (c, _) = admin(&app).await;
    let user = api_user(&app, "target", "target-password-1").await;
    let u = user["id"].as_str().unwrap();
    let x = "0190c0de-0000-7000-8000-000000000001";
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/console/containers".into(), vec![("name", "evil")]),
        (format!("/console/containers/{x}"), vec![("name", "evil")]),
        (format!("/console/containers/{x}/delete"), vec![]),
        ("/console/groups".into(), vec![("name", "evil")]),
        (
            format!("/console/groups/{x}/members"),
            vec![("username", "target")],
        ),
        (format!("/console/groups/{x}/members/{u}/remove"), vec![]),
        (format!("/console/groups/{x}/delete"), vec![]),
        (
            format!("/console/groups/{x}/roles"),
            vec![("role_id", x), ("scope", "all")],
        ),
        (format!("/console/groups/{x}/roles/{x}/revoke"), vec![]),
        (
            "/console/roles".into(),
            vec![("name", "evil"), ("privileges", "users.read")],
        ),
        (
            format!("/console/roles/{x}"),
            vec![("name", "evil"), ("privileges", "users.read")],
        ),
        (format!("/console/roles/{x}/delete"), vec![]),
        (
            format!("/console/users/{u}/roles"),
            vec![("role_id", x), ("scope", "all")],
        ),
        (format!("/console/users/{u}/roles/{x}/revoke"), vec![]),
        (format!("/console/users/{u}/keys"), vec![("name", "evil")]),
        (format!("/console/users/{u}/keys/{x}/revoke"), vec![]),
        (
            format!("/console/users/{u}/profile"),
            vec![("email", "evil@example.com"), ("version", "1")],
        ),
        (
            format!("/console/users/{u}/password"),
            vec![
                ("password", "Evil-password-123"),
                ("confirm", "Evil-password-123"),
            ],
        ),
        (format!("/console/users/{u}/mfa/reset"), vec![]),
    ];
    for (path, form) in &forms {
        for bad in [None, Some("0000")] {
            let mut form = form.clone();
            if let Some(b) = bad {
                form.push(("csrf", b));
            }
            let (st, html) = post(&app, &c, path, &form).await;
            assert_eq!(st, 403, "{path}: {html}");
            assert!(html.contains("Form refused"), "{path}: {html}");
        }
    }
    let (_, html) = page(&app, &c, "/console/containers").await;
    assert!(!html.contains("evil"), "{html}");
    let (_, html) = page(&app, &c, "/console/groups").await;
    assert!(!html.contains("evil"), "{html}");
    let (_, html) = page(&app, &c, &format!("/console/users/{u}")).await;
    assert!(
        !html.contains("evil@example.com") && html.contains("id=\"no-keys\""),
        "{html}"
    );
}

#[tokio::test]
async fn console_roles_builtins_are_read_only_and_stale_edits_say_reload() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let (st, html) = page(&app, &c, "/console/roles").await;
    assert_eq!(st, 200);
    assert!(html.contains("<code>audit.read</code>"), "{html}");
    let read_only = id_before(
        &html,
        "\" class=\"role-link\">ReadOnly<",
        "href=\"/console/roles/",
    );
    let (st, html) = page(&app, &c, &format!("/console/roles/{read_only}")).await;
    assert_eq!(st, 200);
    assert!(!html.contains("id=\"delete-role\""), "{html}");
    assert!(html.contains("id=\"builtin-note\""), "{html}");
    assert!(
        !html.contains("id=\"edit-role\"") && !html.contains("type=\"checkbox\""),
        "{html}"
    );
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/roles/{read_only}"),
        &[
            ("csrf", &token),
            ("name", "ReadOnly"),
            ("privileges", "users.delete"),
            ("version", "1"),
        ],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("Built-in roles cannot be changed"), "{html}");

    // A custom role: bad input next to its field, then created.
    let (st, html) = post(
        &app,
        &c,
        "/console/roles",
        &[("csrf", &token), ("name", ""), ("privileges", "audit.read")],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"new-name-error\""), "{html}");
    assert!(
        html.contains("value=\"audit.read\" checked"),
        "the boxes are kept: {html}"
    );
    let (st, html) = post(
        &app,
        &c,
        "/console/roles",
        &[
            ("csrf", &token),
            ("name", "Auditor"),
            ("privileges", "audit.read"),
            ("privileges", "users.read"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("<h1>Auditor</h1>") && html.contains("id=\"edit-role\""),
        "{html}"
    );
    assert!(
        html.contains("value=\"audit.read\" checked")
            && html.contains("value=\"users.read\" checked")
    );
    assert!(!html.contains("value=\"roles.read\" checked"));
    let path = format!(
        "/console/roles/{}",
        between(&html, "action=\"/console/roles/", "\"").unwrap()
    );
    let version = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let edit = |v: &str| {
        vec![
            ("csrf", token.clone()),
            ("name", "Auditor".into()),
            ("privileges", "audit.read".into()),
            ("privileges", "roles.read".into()),
            ("version", v.to_string()),
        ]
    };
    let r = c
        .post(app.url(&path))
        .form(&edit(&version))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Saved.") && html.contains("value=\"roles.read\" checked"),
        "{html}"
    );
    assert!(!html.contains("value=\"users.read\" checked"), "{html}");
    // Someone else's change landed meanwhile: 412 and a reload hint.
    let r = c
        .post(app.url(&path))
        .form(&edit(&version))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert!(r.text().await.unwrap().contains("Reload the page"));
    // A custom role can be deleted; a built-in one has no button and the
    // core refuses it anyway.
    let (st, html) = post(&app, &c, &format!("{path}/delete"), &[("csrf", &token)]).await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("The role was deleted.") && !html.contains(">Auditor<"),
        "{html}"
    );
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/roles/{read_only}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("built-in roles cannot be deleted"), "{html}");
}

#[tokio::test]
async fn console_shows_an_api_key_secret_exactly_once() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let kim = api_user(&app, "kim", "kim-password-123").await;
    let id = kim["id"].as_str().unwrap();
    let keys = format!("/console/users/{id}/keys");
    let (st, html) = post(
        &app,
        &c,
        &keys,
        &[("csrf", &token), ("name", "ci"), ("expires_days", "soon")],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"key-expires-error\""), "{html}");
    let (st, html) = post(
        &app,
        &c,
        &keys,
        &[("csrf", &token), ("name", "ci"), ("expires_days", "30")],
    )
    .await;
    assert_eq!(st, 201, "{html}");
    let secret = between(
        &html,
        "id=\"secret\" class=\"secret\" readonly value=\"",
        "\"",
    )
    .unwrap();
    assert!(secret.starts_with("rst_"), "{secret}");
    assert_eq!(html.matches(&secret).count(), 1, "shown once on the page");
    // It works, and is never shown again.
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, html) = page(&app, &c, &format!("/console/users/{id}")).await;
    assert!(!html.contains(&secret), "{html}");
    assert!(html.contains("<td>ci</td>"), "{html}");
    let key = between(&html, &format!("/console/users/{id}/keys/"), "/revoke").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/keys/{key}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("API key revoked.") && html.contains("revoked 20"),
        "{html}"
    );
    assert!(!html.contains("class=\"revoke-key\""), "{html}");
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn console_containers_tree_rename_move_with_the_cycle_check_and_delete() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let a = api_container(&app, "Alpha", None).await;
    let b = api_container(&app, "Beta", Some(&a)).await;
    let (st, html) = page(&app, &c, "/console/containers").await;
    assert_eq!(st, 200);
    let alpha = html.find(">Alpha</a>").unwrap();
    let beta = html.find(">Beta</a>").unwrap();
    assert!(alpha < beta, "parents first");
    assert!(
        html.contains(&format!(
            "<li class=\"d2\" data-depth=\"2\"><a href=\"/console/containers/{b}\""
        )),
        "{html}"
    );
    // Bad input stays on the page, next to its field.
    let (st, html) = post(
        &app,
        &c,
        "/console/containers",
        &[("csrf", &token), ("name", " "), ("parent_id", &a)],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"new-name-error\""), "{html}");

    let (_, html) = page(&app, &c, &format!("/console/containers/{b}")).await;
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{b}"),
        &[
            ("csrf", &token),
            ("version", &v),
            ("name", "Beta two"),
            ("description", ""),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("<h1>Beta two</h1>") && html.contains("Saved."),
        "{html}"
    );
    // The same form again, on the version it showed: someone else's change.
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{b}"),
        &[
            ("csrf", &token),
            ("version", &v),
            ("name", "Beta three"),
            ("description", ""),
        ],
    )
    .await;
    assert_eq!(st, 412, "{html}");
    assert!(html.contains("Reload the page"), "{html}");

    // Alpha under its own child: the core's refusal, next to the picker.
    let (_, html) = page(&app, &c, &format!("/console/containers/{a}")).await;
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{a}"),
        &[("csrf", &token), ("version", &v), ("parent_id", &b)],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(
        html.contains("id=\"parent_id-error\">a container cannot move under itself"),
        "{html}"
    );

    // Alpha still holds Beta: not deleted, and the page says why.
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{a}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("id=\"delete-error\""), "{html}");

    // Beta moves to the root's level beside Alpha, then is deleted.
    let root = between(&html, "<option value=\"", "\"").unwrap();
    let (_, html) = page(&app, &c, &format!("/console/containers/{b}")).await;
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{b}"),
        &[("csrf", &token), ("version", &v), ("parent_id", &root)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(!html.contains("<dd id=\"parent\">Alpha"), "{html}");
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/containers/{b}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        !html.contains("Beta two") && html.contains(">Alpha</a>"),
        "{html}"
    );
}

#[tokio::test]
async fn console_groups_members_and_delete() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    api_user(&app, "dora", "dora-password-12").await;
    let (st, html) = post(
        &app,
        &c,
        "/console/groups",
        &[
            ("csrf", &token),
            ("name", "ops"),
            ("description", "on call"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("<h1>ops</h1>") && html.contains("id=\"no-members\""),
        "{html}"
    );
    let g = between(&html, "action=\"/console/groups/", "/members\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        "/console/groups",
        &[("csrf", &token), ("name", "ops")],
    )
    .await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("id=\"new-name-error\""), "{html}");
    let members = format!("/console/groups/{g}/members");
    let (st, html) = post(
        &app,
        &c,
        &members,
        &[("csrf", &token), ("username", "nobody-here")],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"member-username-error\""), "{html}");
    let (st, html) = post(
        &app,
        &c,
        &members,
        &[("csrf", &token), ("username", "dora")],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains(">dora</a>"), "{html}");
    let dora = between(&html, &format!("/console/groups/{g}/members/"), "/remove").unwrap();
    // A role granted to the group reaches its member, explained as such.
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/groups/{g}/roles"),
        &[
            ("csrf", &token),
            ("role_id", "00000000-0000-7000-8000-00000000010d"),
            ("scope", "all"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Role granted to the group."), "{html}");
    let assignment = between(&html, &format!("/console/groups/{g}/roles/"), "/revoke").unwrap();
    let (_, html) = page(&app, &c, &format!("/console/users/{dora}")).await;
    assert!(
        html.contains("<ul id=\"groups\"><li>ops</li></ul>"),
        "{html}"
    );
    assert!(
        html.contains("<strong>ReadOnly</strong> — through group ops, over all objects"),
        "{html}"
    );
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/groups/{g}/roles/{assignment}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"no-assignments\""), "{html}");
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/groups/{g}/members/{dora}/remove"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"no-members\""), "{html}");
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/groups/{g}/delete"),
        &[("csrf", &token), ("version", &v)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("Group ops was deleted.") && html.contains("id=\"no-groups\""),
        "{html}"
    );
}

#[tokio::test]
async fn console_edits_a_profile_sets_a_password_and_resets_mfa() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let lee = api_user(&app, "lee", "lee-password-123").await;
    let id = lee["id"].as_str().unwrap();
    let (_, html) = page(&app, &c, &format!("/console/users/{id}")).await;
    let v = between(&html, "name=\"version\" value=\"", "\"").unwrap();
    let profile = format!("/console/users/{id}/profile");
    let (st, html) = post(
        &app,
        &c,
        &profile,
        &[
            ("csrf", &token),
            ("version", &v),
            ("email", "no-at-sign"),
            ("first_name", "Lee"),
            ("last_name", ""),
        ],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(
        html.contains("id=\"edit-email-error\"") && html.contains("value=\"no-at-sign\""),
        "{html}"
    );
    let (st, html) = post(
        &app,
        &c,
        &profile,
        &[
            ("csrf", &token),
            ("version", &v),
            ("email", "lee@example.com"),
            ("first_name", "Lee"),
            ("last_name", ""),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("Profile saved.") && html.contains("<dt>Email</dt><dd>lee@example.com</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<dt>Name</dt><dd>Lee</dd>"),
        "the last name is cleared: {html}"
    );
    let (st, html) = post(
        &app,
        &c,
        &profile,
        &[
            ("csrf", &token),
            ("version", &v),
            ("email", "lee2@example.com"),
        ],
    )
    .await;
    assert_eq!(st, 412, "{html}");
    assert!(html.contains("Reload the page"), "{html}");

    let password = format!("/console/users/{id}/password");
    let (st, html) = post(
        &app,
        &c,
        &password,
        &[
            ("csrf", &token),
            ("password", "New-password-456"),
            ("confirm", "New-password-457"),
        ],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"confirm-password-error\""), "{html}");
    assert!(!html.contains("New-password-45"), "never echoed: {html}");
    let (st, html) = post(
        &app,
        &c,
        &password,
        &[
            ("csrf", &token),
            ("password", "short"),
            ("confirm", "short"),
        ],
    )
    .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("id=\"new-password-error\""), "{html}");
    let (st, html) = post(
        &app,
        &c,
        &password,
        &[
            ("csrf", &token),
            ("password", "New-password-456"),
            ("confirm", "New-password-456"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Password set."), "{html}");
    app.token("lee", "New-password-456").await;

    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{id}/mfa/reset"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("Second factor removed."), "{html}");
    let (_, html) = page(&app, &c, "/console/audit").await;
    for action in ["user.password.set", "mfa.totp.reset", "user.update"] {
        assert!(
            html.contains(&format!("<code>{action}</code>")),
            "{action}: {html}"
        );
    }
}

/// A scoped manager: the built-in Manager role over one container subtree.
/// Returns the ids of (the subtree's top, a user inside, a user outside).
async fn scoped_manager(app: &TestApp) -> (String, String, String) {
    let east = api_container(app, "East", None).await;
    let team = api_container(app, "East Team", Some(&east)).await;
    let west = api_container(app, "West", None).await;
    let eve = app
        .create_user(json!({"username": "eve", "container_id": team}))
        .await;
    let walt = app
        .create_user(json!({"username": "walt", "container_id": west}))
        .await;
    let mona = app
        .create_user(
            json!({"username": "mona", "password": "mona-password-12", "container_id": east}),
        )
        .await;
    let r = app
        .post_json(
            &format!("/api/v1/users/{}/roles", mona["id"].as_str().unwrap()),
            &json!({"role": "Manager", "container_ids": [east]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (
        east,
        eve["id"].as_str().unwrap().to_string(),
        walt["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn console_scoped_manager_sees_only_their_subtree() {
    let app = TestApp::spawn().await;
    let (_, eve, walt) = scoped_manager(&app).await;
    let c = browser();
    let (st, html) = sign_in(&app, &c, "mona", "mona-password-12").await;
    assert_eq!(st, 200, "{html}");
    let token = csrf(&html);
    assert!(
        html.contains(">eve</a>") && !html.contains(">walt</a>") && !html.contains(">admin</a>"),
        "{html}"
    );
    let (st, html) = page(&app, &c, "/console/containers").await;
    assert_eq!(st, 200);
    assert!(
        html.contains(">East</a>") && html.contains(">East Team</a>"),
        "{html}"
    );
    assert!(
        !html.contains(">West</a>") && !html.contains(">Root</a>"),
        "{html}"
    );
    let (st, _) = page(&app, &c, &format!("/console/users/{eve}")).await;
    assert_eq!(st, 200);
    let (st, html) = page(&app, &c, &format!("/console/users/{walt}")).await;
    assert_eq!(st, 403, "{html}");
    assert!(html.contains("You may not see this user."), "{html}");
    // Granting outside (or at all: Manager has no roles.assign) is refused.
    let (st, html) = post(
        &app,
        &c,
        &format!("/console/users/{walt}/roles"),
        &[
            ("csrf", &token),
            ("role_id", "00000000-0000-7000-8000-00000000010d"),
            ("scope", "all"),
        ],
    )
    .await;
    assert_eq!(st, 403, "{html}");
    assert!(
        html.contains("You may not grant this role to this user there."),
        "{html}"
    );
    let (st, html) = page(&app, &c, "/console/audit").await;
    assert_eq!(st, 403, "{html}");
}

#[tokio::test]
async fn console_audit_checks_new_events_on_every_view() {
    let app = TestApp::spawn().await;
    let (c, _) = admin(&app).await;
    let (st, html) = page(&app, &c, "/console/audit").await;
    assert_eq!(st, 200);
    assert!(html.contains("Chain verified"), "{html}");
    assert!(html.contains("Whole chain last walked"), "{html}");
    // Events appended after the checkpoint are verified on the next view.
    api_user(&app, "newcomer", "newcomer-password-1").await;
    app.sql(
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = (SELECT max(seq) FROM audit_events)",
    )
    .await;
    let (st, html) = page(&app, &c, "/console/audit").await;
    assert_eq!(st, 200);
    assert!(html.contains("Chain broken at event #"), "{html}");
}

#[tokio::test]
async fn console_signs_in_with_totp_and_an_admin_resets_it() {
    let app = TestApp::spawn().await;
    let tina = api_user(&app, "tina", "tina-password-12").await;
    grant_all(&app, &tina, "ReadOnly").await;
    let api_token = app.token("tina", "tina-password-12").await;
    let secret = crate::mfa::enroll(&app, &api_token).await;

    // The password first, then the code, each on the form it was given.
    let c = browser();
    let (st, html) = sign_in(&app, &c, "tina", "tina-password-12").await;
    assert_eq!(st, 401, "{html}");
    assert!(html.contains("id=\"totp\""), "{html}");
    let code = roster_core::mfa::current_code(&secret).unwrap();
    let r = c
        .post(app.url("/console/login"))
        .form(&[
            ("username", "tina"),
            ("password", "tina-password-12"),
            ("totp", code.as_str()),
            ("login_token", login_token(&html).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Signed in as <strong id=\"me\">tina</strong>"),
        "{html}"
    );

    // An administrator resets the lost device: the page says so.
    let (admin_c, token) = admin(&app).await;
    let id = tina["id"].as_str().unwrap();
    let (_, html) = page(&app, &admin_c, &format!("/console/users/{id}")).await;
    assert!(
        html.contains("<dt>Second factor</dt><dd>enrolled</dd>"),
        "{html}"
    );
    assert!(html.contains("id=\"reset-mfa\""), "{html}");
    let (st, html) = post(
        &app,
        &admin_c,
        &format!("/console/users/{id}/mfa/reset"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("<dt>Second factor</dt><dd>none</dd>"),
        "{html}"
    );
    assert!(!html.contains("id=\"reset-mfa\""), "{html}");
    let (st, _) = sign_in(&app, &browser(), "tina", "tina-password-12").await;
    assert_eq!(st, 200, "no code asked any more");
}

#[tokio::test]
async fn console_bad_input_is_a_page_never_a_500() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let user = api_user(&app, "odd", "odd-password-123").await;
    let u = user["id"].as_str().unwrap();
    let box_ = api_container(&app, "Box", None).await;
    let long = "x".repeat(5000);
    let nul = "a\u{0}b";
    let x = "0190c0de-0000-7000-8000-000000000001";
    let t = token.as_str();
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/console/users/{u}/active"),
            vec![("csrf", t), ("active", "maybe")],
        ),
        (
            format!("/console/users/{u}/profile"),
            vec![("csrf", t), ("version", "x")],
        ),
        (
            format!("/console/users/{u}/profile"),
            vec![("csrf", t), ("version", "1"), ("first_name", &long)],
        ),
        (
            format!("/console/users/{u}/profile"),
            vec![("csrf", t), ("version", "1"), ("first_name", nul)],
        ),
        (
            format!("/console/users/{u}/roles"),
            vec![("csrf", t), ("role_id", "nope"), ("scope", "nope")],
        ),
        (
            format!("/console/users/{u}/roles"),
            vec![("csrf", t), ("role_id", x), ("scope", x)],
        ),
        (
            format!("/console/users/{u}/roles/{x}/revoke"),
            vec![("csrf", t)],
        ),
        (
            format!("/console/users/{u}/keys"),
            vec![("csrf", t), ("name", &long)],
        ),
        (
            format!("/console/users/{u}/keys"),
            vec![("csrf", t), ("name", "k"), ("role_id", x)],
        ),
        (
            format!("/console/users/{u}/keys/{x}/revoke"),
            vec![("csrf", t)],
        ),
        (
            format!("/console/users/{x}/password"),
            vec![
                ("csrf", t),
                ("password", "Aa1-long-enough"),
                ("confirm", "Aa1-long-enough"),
            ],
        ),
        (
            "/console/containers".into(),
            vec![("csrf", t), ("name", nul), ("parent_id", "nope")],
        ),
        (
            "/console/containers".into(),
            vec![("csrf", t), ("name", "n"), ("parent_id", x)],
        ),
        (
            format!("/console/containers/{box_}"),
            vec![("csrf", t), ("version", "1"), ("parent_id", "")],
        ),
        (
            format!("/console/containers/{box_}"),
            vec![("csrf", t), ("version", "x"), ("name", "y")],
        ),
        (format!("/console/containers/{x}/delete"), vec![("csrf", t)]),
        ("/console/groups".into(), vec![("csrf", t), ("name", &long)]),
        (
            format!("/console/groups/{x}/members"),
            vec![("csrf", t), ("username", "odd")],
        ),
        (
            format!("/console/groups/{x}/delete"),
            vec![("csrf", t), ("version", "1")],
        ),
        (
            "/console/roles".into(),
            vec![("csrf", t), ("name", "r"), ("privileges", "no.such")],
        ),
        (
            format!("/console/roles/{x}"),
            vec![("csrf", t), ("name", "r"), ("version", "x")],
        ),
        (
            format!("/console/roles/{x}"),
            vec![("csrf", t), ("name", "r"), ("version", "1")],
        ),
    ];
    for (path, form) in &cases {
        let (st, html) = post(&app, &c, path, form).await;
        assert!(
            st.is_client_error(),
            "{path} {form:?}: {st} {}",
            &html[..html.len().min(3000)]
        );
        assert!(
            html.contains("Signed in as"),
            "{path}: a console page: {html}"
        );
    }
    for path in [
        "/console/users/not-a-uuid",
        "/console/containers/not-a-uuid",
        "/console/groups/not-a-uuid",
        "/console/roles/not-a-uuid",
        "/console/users?after=x",
    ] {
        let (st, _) = page(&app, &c, path).await;
        assert!(st.is_client_error(), "{path}: {st}");
    }
}

/// The cached verification goes on from its checkpoint: an edit of a
/// record it already verified is found by the next full walk (due after
/// `full_every`), not by every look.
#[tokio::test]
async fn audit_verification_goes_on_from_its_checkpoint_and_walks_all_when_due() {
    use roster_core::service::{Ctx, Verification};
    let app = TestApp::spawn().await;
    let ctx = Ctx::operator();
    let later = time::Duration::minutes(10);
    let v = app.roster.verify_audit_cached(&ctx, later).await.unwrap();
    let Verification::Intact { events } = v.outcome else {
        panic!("intact at first")
    };
    assert!(events > 0);
    let first_walk = v.full_walk_at;
    app.sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
        .await;
    let v = app.roster.verify_audit_cached(&ctx, later).await.unwrap();
    assert!(matches!(v.outcome, Verification::Intact { .. }));
    assert_eq!(v.full_walk_at, first_walk, "no full walk yet");
    let v = app
        .roster
        .verify_audit_cached(&ctx, time::Duration::ZERO)
        .await
        .unwrap();
    let Verification::Broken(b) = v.outcome else {
        panic!("the full walk finds the edit")
    };
    assert_eq!(b.seq, 1);
    // Without audit.read, no status at all.
    let nobody = api_user(&app, "nobody", "nobody-password-1").await;
    let token = app.token("nobody", "nobody-password-1").await;
    let who = app.roster.authenticate(&token).await.unwrap();
    assert_eq!(who.user_id.to_string(), nobody["id"].as_str().unwrap());
    let theirs = Ctx {
        who,
        origin: ctx.origin.clone(),
    };
    assert!(matches!(
        app.roster.verify_audit_cached(&theirs, later).await,
        Err(roster_core::CoreError::Forbidden)
    ));
}

/// Every visible `<input>` and `<select>` of a page has an id that a
/// `<label for>` names.
fn assert_labelled(path: &str, html: &str) {
    let mut rest = html;
    let mut count = 0;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let is_field = tag.starts_with("input ") || tag.starts_with("select ");
        if !is_field || tag.contains("type=\"hidden\"") {
            continue;
        }
        count += 1;
        let id = between(tag, "id=\"", "\"")
            .unwrap_or_else(|| panic!("{path}: a field without an id: <{tag}>"));
        assert!(
            html.contains(&format!("<label for=\"{id}\"")),
            "{path}: no label for #{id}"
        );
    }
    assert!(count > 0, "{path}: no fields at all");
}

#[tokio::test]
async fn console_every_field_has_a_label() {
    let app = TestApp::spawn().await;
    let (c, token) = admin(&app).await;
    let dora = api_user(&app, "dora", "dora-password-12").await;
    let container = api_container(&app, "Labs", None).await;
    let (_, html) = post(
        &app,
        &c,
        "/console/groups",
        &[("csrf", &token), ("name", "g")],
    )
    .await;
    let group = between(&html, "action=\"/console/groups/", "/members\"").unwrap();
    let (_, html) = post(
        &app,
        &c,
        "/console/roles",
        &[
            ("csrf", &token),
            ("name", "Custom"),
            ("privileges", "users.read"),
        ],
    )
    .await;
    let role = between(&html, "action=\"/console/roles/", "\"").unwrap();
    let login = raw().get(app.url("/console/login")).send().await.unwrap();
    assert_labelled("/console/login", &login.text().await.unwrap());
    for path in [
        "/console/users".to_string(),
        format!("/console/users/{}", dora["id"].as_str().unwrap()),
        "/console/containers".to_string(),
        format!("/console/containers/{container}"),
        "/console/groups".to_string(),
        format!("/console/groups/{group}"),
        "/console/roles".to_string(),
        format!("/console/roles/{role}"),
        "/console/audit".to_string(),
    ] {
        let (st, html) = page(&app, &c, &path).await;
        assert_eq!(st, 200, "{path}");
        assert_labelled(&path, &html);
    }
}

// ---- a real browser

/// A W3C WebDriver session on a chromedriver this test started.
struct Driver {
    child: std::process::Child,
    http: Client,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start(chromium: &str, profile: &std::path::Path) -> Driver {
        let port = free_port();
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut driver = Driver {
            child,
            http,
            base,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1200,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }}}});
        let v = driver.call("POST", "/session", Some(caps)).await;
        driver.session = v["sessionId"].as_str().expect("a session").to_string();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {v}");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url}))).await;
    }

    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .post(format!("{}/session/{}/element", self.base, self.session))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap();
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap();
                return v["value"]["element-6066-11e4-a52e-4f735466cecf"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no element id for {css}: {v}"))
                    .to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css}: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/element/{e}/clear"), None)
            .await;
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/element/{e}/click"), None)
            .await;
    }

    async fn source(&self) -> String {
        self.call("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(path, png).unwrap();
    }
}

/// The program of `names` that runs, if any.
fn installed(names: &[&'static str]) -> Option<&'static str> {
    names.iter().copied().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The acceptance run in headless Chromium with every host but loopback
/// unreachable: as admin, create a user, find them by search, grant a role
/// over a container with the pickers, see it explained, revoke it, see both
/// events in the audit log, sign out; then as a manager scoped to one
/// subtree, see only it and be refused a user outside. Screenshots of the
/// main pages (also at phone width) go to `target/console-screenshots/`.
/// Needs Debian's `chromium` and `chromium-driver`; in CI (`CI` set) their
/// absence fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_headless_chromium() {
    let chromium = installed(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = installed(&["chromedriver"]);
    let Some(chromium) = chromium.filter(|_| driver.is_some()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are required in CI (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIPPED: console_in_headless_chromium (no chromium or chromedriver)");
        return;
    };
    let chromium = which(chromium);
    let app = TestApp::spawn().await;
    let dora = api_user(&app, "dora", "dora-password-12").await;
    grant_all(&app, &dora, "ReadOnly").await;
    let (east, _, walt) = scoped_manager(&app).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let profile = tempfile::tempdir().unwrap();
    let d = Driver::start(&chromium, profile.path()).await;
    d.go(&app.url("/console/login")).await;
    d.type_into("#username", "admin").await;
    d.type_into("#password", ADMIN_PASSWORD).await;
    d.click("#sign-in").await;
    d.find("#create-form").await;
    assert!(d.source().await.contains("Signed in as"));
    d.screenshot(&shots.join("users.png")).await;

    // Create a user, then find them by search.
    d.type_into("#new-username", "frank").await;
    d.type_into("#new-email", "frank@example.com").await;
    d.type_into("#new-first_name", "Frank").await;
    d.click("#create").await;
    d.find("#grant-form").await;
    assert!(d.source().await.contains("<h1>frank</h1>"));
    d.click("nav a[href='/console/users']").await;
    d.type_into("#q", "fra").await;
    d.click("#search").await;
    d.find("caption").await;
    d.click("a.user-link").await;
    d.find("#grant-form").await;
    let html = d.source().await;
    assert!(html.contains("<h1>frank</h1>"), "{html}");
    assert!(html.contains("id=\"no-permissions\""), "{html}");
    let frank = between(&html, "<dt>Id</dt><dd><code>", "</code>").unwrap();

    // Grant ReadOnly over East with the pickers: the explanation shows it.
    d.click("#grant-role option[value='00000000-0000-7000-8000-00000000010d']")
        .await;
    d.click(&format!("#grant-scope option[value='{east}']"))
        .await;
    d.click("#grant").await;
    d.find("#assignments").await;
    let html = d.source().await;
    assert!(
        html.contains("<strong>ReadOnly</strong> — assigned directly, over East"),
        "{html}"
    );
    assert!(html.contains("id=\"permissions\""), "{html}");
    d.go(&app.url(&format!("/console/users/{frank}#roles-heading")))
        .await;
    d.find("#permissions").await;
    d.screenshot(&shots.join("user-permissions.png")).await;

    // Revoke it: gone from the explanation.
    d.click("button.revoke").await;
    d.find("#no-assignments").await;
    let html = d.source().await;
    assert!(!html.contains("<strong>ReadOnly</strong>"), "{html}");
    assert!(html.contains("id=\"no-permissions\""), "{html}");

    // Both events in the audit log.
    d.click("nav a[href='/console/audit']").await;
    d.find("#chain").await;
    let html = d.source().await;
    assert!(html.contains("Chain verified"), "{html}");
    assert!(html.contains("<code>role.assign</code>"), "{html}");
    assert!(html.contains("<code>role.unassign</code>"), "{html}");
    d.screenshot(&shots.join("audit.png")).await;

    d.click("nav a[href='/console/containers']").await;
    d.find("#containers").await;
    assert!(d.source().await.contains(">East Team</a>"));
    d.screenshot(&shots.join("containers.png")).await;
    d.click("nav a[href='/console/roles']").await;
    d.find("#roles").await;
    d.screenshot(&shots.join("roles.png")).await;

    // The same pages on a phone-sized screen.
    d.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 400, "height": 900})),
    )
    .await;
    d.click("nav a[href='/console/users']").await;
    d.find("#create-form").await;
    d.screenshot(&shots.join("users-narrow.png")).await;
    d.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 1200, "height": 1000})),
    )
    .await;

    d.click("#sign-out").await;
    d.find("#login-form").await;
    assert!(d.source().await.contains("You have signed out."));

    // A scoped manager sees their subtree only, and is refused elsewhere.
    d.type_into("#username", "mona").await;
    d.type_into("#password", "mona-password-12").await;
    d.click("#sign-in").await;
    d.find("#create-form").await;
    let html = d.source().await;
    assert!(html.contains(">eve</a>"), "{html}");
    assert!(
        !html.contains(">walt</a>") && !html.contains(">dora</a>"),
        "{html}"
    );
    d.click("nav a[href='/console/containers']").await;
    d.find("#containers").await;
    let html = d.source().await;
    assert!(html.contains(">East Team</a>"), "{html}");
    assert!(!html.contains(">West</a>"), "{html}");
    d.screenshot(&shots.join("containers-scoped.png")).await;
    d.go(&app.url(&format!("/console/users/{walt}"))).await;
    d.find("#problem").await;
    let html = d.source().await;
    assert!(html.contains("data-status=\"403\""), "{html}");
    assert!(html.contains("You may not see this user."), "{html}");
    d.screenshot(&shots.join("refused.png")).await;
    d.click("#sign-out").await;
    d.find("#login-form").await;

    d.call("DELETE", "", None).await;
    for f in [
        "users.png",
        "user-permissions.png",
        "audit.png",
        "containers.png",
        "roles.png",
        "users-narrow.png",
        "containers-scoped.png",
        "refused.png",
    ] {
        assert!(shots.join(f).metadata().unwrap().len() > 1000, "{f}");
    }
}

/// The absolute path of a program on `PATH`.
fn which(program: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| program.to_string())
}

#[tokio::test]
async fn console_pages_users_by_keyset() {
    let app = TestApp::spawn().await;
    for i in 0..30 {
        app.create_user(json!({"username": format!("pager{i:02}")}))
            .await;
    }
    let c = browser();
    let (_, html) = sign_in(&app, &c, "admin", ADMIN_PASSWORD).await;
    assert_eq!(html.matches("class=\"user-link\"").count(), 25);
    let next = between(&html, "id=\"next\" rel=\"next\" href=\"", "\"").expect("a next link");
    assert!(next.starts_with("/console/users?after="), "{next}");
    let (st, html) = page(&app, &c, &next).await;
    assert_eq!(st, 200);
    // 31 users (admin too): 6 on the second page, no further link.
    assert_eq!(html.matches("class=\"user-link\"").count(), 6, "{html}");
    assert!(html.contains(">pager29<") && !html.contains(">pager00<"));
    assert!(!html.contains("id=\"next\""));
    // A search keeps its words across pages.
    let (_, html) = page(&app, &c, "/console/users?q=pager").await;
    let next = between(&html, "id=\"next\" rel=\"next\" href=\"", "\"")
        .unwrap_or_else(|| panic!("{html}"));
    assert!(
        next.starts_with("/console/users?q=pager&amp;after="),
        "{next}"
    );
}

/// An account that must have a second factor and has none is led through
/// enrolment in the console: its sign-in opens only the enrolment page,
/// a wrong code or a CSRF-less post enrols nothing, the right code enrols
/// and ends that session, and the next sign-in asks for a code.
#[tokio::test]
async fn console_enrols_a_required_second_factor() {
    let app = TestApp::spawn().await;
    let nora = app
        .create_user(
            json!({"username": "nora", "password": "nora-password-12", "mfa_required": true}),
        )
        .await;
    grant_all(&app, &nora, "ReadOnly").await;
    let c = browser();
    let (st, html) = sign_in(&app, &c, "nora", "nora-password-12").await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"enrol-form\""), "{html}");
    // The enrolment session opens nothing else.
    let r = c.get(app.url("/console/users")).send().await.unwrap();
    assert!(r.url().path().ends_with("/console/login"), "{}", r.url());
    let (st, html) = sign_in(&app, &c, "nora", "nora-password-12").await;
    assert_eq!(st, 200, "{html}");
    let secret = between(&html, "<code id=\"totp-secret\">", "</code>").unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").unwrap();
    assert!(
        !html.contains("<dd>nora-password-12"),
        "no secret of the user's own echoed"
    );

    let r = c
        .post(app.url("/console/enrol"))
        .form(&[("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no enrolment");
    let r = c
        .post(app.url("/console/enrol"))
        .form(&[("code", "12"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("That code is not valid"));

    // A wrong code ended nothing: start again, then enrol for real.
    let (st, html) = page(&app, &c, "/console/enrol").await;
    assert_eq!(st, 200, "{html}");
    let secret2 = between(&html, "<code id=\"totp-secret\">", "</code>").unwrap();
    assert_ne!(secret, secret2, "a new key each time");
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").unwrap();
    let code = roster_core::mfa::current_code(&secret2).unwrap();
    let r = c
        .post(app.url("/console/enrol"))
        .form(&[("code", code.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.url().path().ends_with("/console/login"), "{}", r.url());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your second factor is enrolled")
    );
    let (_, user) = parts(
        app.get(&format!("/api/v1/users/{}", nora["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(user["mfa_enrolled"], true, "{user}");
    let (st, html) = sign_in(&app, &c, "nora", "nora-password-12").await;
    assert_eq!(st, 401, "{html}");
    assert!(html.contains("id=\"totp\""), "{html}");
}
