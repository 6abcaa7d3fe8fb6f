//! Mail: invitations, password reset and email verification, followed end
//! to end through a real SMTP conversation with a sink started here on
//! loopback (no network service), the links read from the messages.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use roster_server::mail::MailConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

use crate::helpers::{ADMIN_KEY, Options, TestApp};

const PUBLIC_URL: &str = "https://roster.test";
const FROM: &str = "roster <roster@roster.test>";

/// One message as the SMTP server received it.
#[derive(Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

impl Mail {
    /// The body with quoted-printable soft breaks and `=3D` undone (enough
    /// for ASCII messages), for reading links.
    fn decoded(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }

    fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The token of the link to `path` (`/invite`, `/reset`, `/verify-email`).
    fn token(&self, path: &str) -> String {
        let body = self.decoded();
        let prefix = format!("{PUBLIC_URL}{path}?token=");
        let start = body
            .find(&prefix)
            .unwrap_or_else(|| panic!("no {prefix} link in:\n{body}"))
            + prefix.len();
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// A minimal SMTP server: greets, accepts every sender and recipient,
/// takes the data, and hands each message over.
struct SmtpSink {
    addr: SocketAddr,
    rx: Mutex<mpsc::UnboundedReceiver<Mail>>,
}

impl SmtpSink {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = session(stream, tx).await;
                });
            }
        });
        Self {
            addr,
            rx: Mutex::new(rx),
        }
    }

    fn config(&self) -> MailConfig {
        MailConfig {
            smtp_url: format!("smtp://{}", self.addr),
            from: FROM.into(),
            public_url: format!("{PUBLIC_URL}/"),
            templates: None,
        }
    }

    /// The next message, waiting up to ten seconds.
    async fn next(&self) -> Mail {
        tokio::time::timeout(Duration::from_secs(10), self.rx.lock().await.recv())
            .await
            .expect("no mail within 10 s")
            .expect("sink closed")
    }

    /// Asserts no message arrives within `wait`.
    async fn none_within(&self, wait: Duration) {
        if let Ok(Some(m)) = tokio::time::timeout(wait, self.rx.lock().await.recv()).await {
            panic!("unexpected mail to {:?}: {}", m.to, m.subject());
        }
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Mail>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_string();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_string());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let _ = tx.send(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
}

async fn app_with_mail(opts: Options) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::with_mail(opts, Some(sink.config())).await;
    (app, sink)
}

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_user(app: &TestApp, body: Value) -> Value {
    let (status, user) = json_of(app.post_json("/api/v1/users", &body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    json_of(
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Sends the password form of a link page; the status and the HTML back.
async fn set_password(
    app: &TestApp,
    path: &str,
    token: &str,
    password: &str,
    confirm: &str,
) -> (StatusCode, String) {
    let resp = app
        .client
        .post(app.url(path))
        .form(&[
            ("token", token),
            ("password", password),
            ("confirm", confirm),
        ])
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn reset_request(app: &TestApp, body: Value) -> (StatusCode, Value) {
    json_of(
        app.client
            .post(app.url("/api/v1/auth/password-reset"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn mail_flows_say_clearly_when_mail_is_not_configured() {
    let app = TestApp::spawn().await;
    let (status, body) = reset_request(&app, json!({ "username": "admin" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["type"], "urn:roster:problem:not-configured");
    assert!(
        body["detail"].as_str().unwrap().contains("ROSTER_SMTP_URL"),
        "{body}"
    );
    let (status, body) = json_of(
        app.post_json(
            "/api/v1/users",
            &json!({ "username": "ivy", "email": "ivy@example.com", "invite": true }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // Nothing was created.
    let (_, list) = json_of(app.get("/api/v1/users?username=ivy").send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
}

#[tokio::test]
async fn an_invited_user_sets_its_password_by_the_mailed_link_and_signs_in() {
    let (app, sink) = app_with_mail(Options::default()).await;
    // An invitation needs an address, and no password of its own.
    let (status, body) = json_of(
        app.post_json(
            "/api/v1/users",
            &json!({ "username": "ivy", "invite": true }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "email", "{body}");
    assert_eq!(body["errors"][0]["rule"], "required", "{body}");

    let user = create_user(
        &app,
        json!({ "username": "ivy", "email": "Ivy@Example.com", "display_name": "Ivy Valentine", "invite": true }),
    )
    .await;
    assert_eq!(user["has_password"], false);
    assert_eq!(user["email_verified"], false);
    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["<Ivy@Example.com>".to_string()]);
    assert_eq!(mail.from, "<roster@roster.test>");
    assert_eq!(mail.subject(), "Your roster account ivy");
    assert!(
        mail.data.contains("text/plain") && mail.data.contains("text/html"),
        "{}",
        mail.data
    );
    assert!(mail.decoded().contains("Hello Ivy Valentine"));
    let token = mail.token("/invite");
    assert_eq!(token.len(), 43);

    // The page shows whose account it is, under the console's strict CSP.
    let page = app
        .client
        .get(app.url(&format!("/invite?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("ivy") && html.contains("<form"), "{html}");
    assert!(!html.contains("<script"));

    // Two different passwords, then one the policy refuses: the link stays good.
    let (status, html) =
        set_password(&app, "/invite", &token, "Correct-Horse-9-Battery", "other").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("The two passwords differ"), "{html}");
    let (status, html) = set_password(&app, "/invite", &token, "short", "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("password-error"), "{html}");

    let (status, html) = set_password(
        &app,
        "/invite",
        &token,
        "Correct-Horse-9-Battery",
        "Correct-Horse-9-Battery",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Your password is set"), "{html}");
    let (status, body) = sign_in(&app, "ivy", "Correct-Horse-9-Battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());

    // The link worked once.
    let (status, html) = set_password(
        &app,
        "/invite",
        &token,
        "Another-Horse-9-Battery",
        "Another-Horse-9-Battery",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid, expired or already used"), "{html}");
    let (status, _) = sign_in(&app, "ivy", "Another-Horse-9-Battery").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Following the mailed link proved the address.
    let id = user["id"].as_str().unwrap();
    let (_, user) = json_of(
        app.get(&format!("/api/v1/users/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(user["email_verified"], true, "{user}");
    assert_eq!(user["has_password"], true);
}

#[tokio::test]
async fn invitations_are_resent_and_revoked() {
    let (app, sink) = app_with_mail(Options::default()).await;
    let user = create_user(
        &app,
        json!({ "username": "rex", "email": "rex@example.com", "invite": true }),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    let first = sink.next().await.token("/invite");
    let resp = app
        .post_json(&format!("/api/v1/users/{id}/invitation"), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let second = sink.next().await.token("/invite");
    assert_ne!(first, second);
    // The re-sent invitation replaced the first link.
    let page = app
        .client
        .get(app.url(&format!("/invite?token={first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let page = app
        .client
        .get(app.url(&format!("/invite?token={second}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/users/{id}/invitation")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = set_password(
        &app,
        "/invite",
        &second,
        "Correct-Horse-9-Battery",
        "Correct-Horse-9-Battery",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = json_of(
        app.client
            .delete(app.url(&format!("/api/v1/users/{id}/invitation")))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Only the owner of credentials may invite: an unauthenticated call is refused.
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/users/{id}/invitation")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_the_new_password_signs_in() {
    let (app, sink) = app_with_mail(Options::default()).await;
    create_user(
        &app,
        json!({ "username": "jill", "email": "jill@example.com", "password": "Old-Password-9-Jill" }),
    )
    .await;
    let (_, body) = sign_in(&app, "jill", "Old-Password-9-Jill").await;
    let old_token = body["access_token"].as_str().unwrap().to_string();
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let (status, body) = reset_request(&app, json!({ "username": "JILL" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["<jill@example.com>".to_string()]);
    assert_eq!(mail.subject(), "Reset your roster password");
    let token = mail.token("/reset");
    assert!(!mail.decoded().contains("Old-Password"));

    let page = app
        .client
        .get(app.url(&format!("/reset?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (status, html) = set_password(
        &app,
        "/reset",
        &token,
        "New-Password-9-Jill",
        "New-Password-9-Jill",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");

    // The token from before the reset is over; the old password too.
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = sign_in(&app, "jill", "Old-Password-9-Jill").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = sign_in(&app, "jill", "New-Password-9-Jill").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Used once.
    let (status, html) = set_password(
        &app,
        "/reset",
        &token,
        "Third-Password-9-Jill",
        "Third-Password-9-Jill",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid, expired or already used"), "{html}");

    // The audit trail tells the story (and never the token).
    let (_, audit) = json_of(
        app.get("/api/v1/audit-events?limit=100")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let text = audit.to_string();
    assert!(text.contains("user.password.reset.request"), "{text}");
    assert!(text.contains("\"user.password.reset\""), "{text}");
    assert!(!text.contains(&token));
}

#[tokio::test]
async fn a_reset_for_an_unknown_account_answers_the_same_and_sends_nothing() {
    let (app, sink) = app_with_mail(Options::default()).await;
    create_user(&app, json!({ "username": "carlos", "email": "carlos@example.com", "password": "Carlos-Password-9" })).await;
    create_user(
        &app,
        json!({ "username": "nomail", "password": "Nomail-Password-9" }),
    )
    .await;
    create_user(
        &app,
        json!({ "username": "off", "email": "off@example.com", "password": "Off-Password-9-x", "active": false }),
    )
    .await;
    for body in [
        json!({ "username": "nobody" }),
        json!({ "email": "nobody@example.com" }),
        json!({ "username": "nomail" }),
        json!({ "username": "off" }),
    ] {
        let (status, answer) = reset_request(&app, body.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}: {answer}");
    }
    sink.none_within(Duration::from_millis(1500)).await;

    // By address, an existing account gets its link.
    let (status, _) = reset_request(&app, json!({ "email": "CARLOS@example.com" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["<carlos@example.com>".to_string()]);
    // Asked again at once: no second mail (per-account pacing), same answer.
    let (status, _) = reset_request(&app, json!({ "username": "carlos" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    sink.none_within(Duration::from_millis(800)).await;

    // Exactly one of username and email.
    let (status, body) =
        reset_request(&app, json!({ "username": "a", "email": "a@example.com" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["rule"], "one_of", "{body}");
    let (status, _) = reset_request(&app, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn expired_and_outdated_links_are_refused() {
    let mut opts = Options::default();
    opts.core.links.reset_ttl_secs = 1;
    opts.core.links.reset_interval_secs = 0;
    let (app, sink) = app_with_mail(opts).await;
    let user = create_user(
        &app,
        json!({ "username": "leon", "email": "leon@example.com", "password": "Leon-Password-9-x" }),
    )
    .await;
    let (status, _) = reset_request(&app, json!({ "username": "leon" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = sink.next().await.token("/reset");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = app
        .client
        .get(app.url(&format!("/reset?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let (status, html) = set_password(
        &app,
        "/reset",
        &token,
        "Leon-Password-9-new",
        "Leon-Password-9-new",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid, expired or already used"), "{html}");

    // A link minted before a password change is dead, though unexpired.
    let mut opts = Options::default();
    opts.core.links.reset_interval_secs = 0;
    let (app, sink) = app_with_mail(opts).await;
    let user2 = create_user(
        &app,
        json!({ "username": "leon", "email": "leon@example.com", "password": "Leon-Password-9-x" }),
    )
    .await;
    let (status, _) = reset_request(&app, json!({ "username": "leon" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = sink.next().await.token("/reset");
    let id = user2["id"].as_str().unwrap();
    let resp = app
        .post_json(
            &format!("/api/v1/users/{id}/password"),
            &json!({ "password": "Admin-Set-9-Password" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = set_password(
        &app,
        "/reset",
        &token,
        "Leon-Password-9-new",
        "Leon-Password-9-new",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sign_in(&app, "leon", "Admin-Set-9-Password").await;
    assert_eq!(status, StatusCode::OK);

    // A made-up token is refused the same way.
    let page = app
        .client
        .get(app.url(&format!("/reset?token={}", "A".repeat(43))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let _ = user;
}

#[tokio::test]
async fn a_changed_address_is_verified_by_the_mailed_link() {
    let (app, sink) = app_with_mail(Options::default()).await;
    let user = create_user(
        &app,
        json!({ "username": "ada", "email": "ada@example.com" }),
    )
    .await;
    assert_eq!(user["email_verified"], false);
    let id = user["id"].as_str().unwrap().to_string();
    let resp = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &json!({ "email": "ada@new.example.com" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["<ada@new.example.com>".to_string()]);
    assert_eq!(mail.subject(), "Verify your email address for roster");
    let token = mail.token("/verify-email");

    // Following the link (as a mail scanner would) changes nothing: the
    // page asks for a click.
    let page = app
        .client
        .get(app.url(&format!("/verify-email?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().await.unwrap();
    assert!(text.contains("id=\"verify-email\""), "{text}");
    assert!(!text.contains("is verified"), "{text}");
    let (_, got) = json_of(
        app.get(&format!("/api/v1/users/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["email_verified"], false, "{got}");
    let verify = |token: String| {
        app.client
            .post(app.url("/verify-email"))
            .form(&[("token", token)])
            .send()
    };
    let page = verify(token.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("is verified"));
    let (_, got) = json_of(
        app.get(&format!("/api/v1/users/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["email_verified"], true, "{got}");
    // SCIM shows it in roster's extension, and filters on it.
    let ext = "urn:roster:params:scim:schemas:extension:roster:2.0:User";
    let (_, scim_user) = json_of(
        app.get(&format!(
            "/scim/v2/Users/{id}?attributes={ext}:emailVerified"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(scim_user[ext]["emailVerified"], true, "{scim_user}");
    let (_, found) = json_of(
        app.get(&format!(
            "/scim/v2/Users?filter={ext}:emailVerified%20eq%20true"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.to_string(), "{found}");
    // Once only.
    let page = verify(token.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);

    // Another change of address: unverified again, and a new link is sent.
    let (status, got) = json_of(
        app.patch(
            &format!("/api/v1/users/{id}"),
            &json!({ "email": "ada@third.example.com" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["email_verified"], false, "{got}");
    let stale = sink.next().await.token("/verify-email");
    // A link sent to an address the user no longer has verifies nothing.
    let resp = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &json!({ "email": "ada@fourth.example.com" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let _fresh = sink.next().await;
    let page = verify(stale.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let (_, got) = json_of(
        app.get(&format!("/api/v1/users/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["email_verified"], false, "{got}");
    // A change that keeps the address (other fields) sends nothing.
    let resp = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &json!({ "first_name": "Ada" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    sink.none_within(Duration::from_millis(800)).await;
}

#[tokio::test]
async fn digicert_add_user_invites_by_mail_when_mail_is_configured() {
    let (app, sink) = app_with_mail(Options::default()).await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/services/v2/user",
            ("X-DC-DEVKEY", ADMIN_KEY),
            Some(json!({
                "first_name": "Jill",
                "last_name": "Valentine",
                "email": "jill.valentine@pd.racoon-city.gov",
                "username": "jill.valentine",
                "access_roles": [{"id": 5}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mail = sink.next().await;
    assert_eq!(
        mail.to,
        vec!["<jill.valentine@pd.racoon-city.gov>".to_string()]
    );
    assert!(
        mail.decoded().contains("Hello Jill Valentine")
            || mail.decoded().contains("Hello jill.valentine")
    );
    let token = mail.token("/invite");
    let (status, html) = set_password(
        &app,
        "/invite",
        &token,
        "Stars-Alpha-9-Team",
        "Stars-Alpha-9-Team",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, body) = sign_in(&app, "jill.valentine", "Stars-Alpha-9-Team").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An invitation sets a password, so it takes what setting one takes: a
/// manager of container A cannot invite (or revoke the invitation of) a
/// user who holds more than it does, a user outside A, nor anyone at all
/// without `users.credentials`; and cannot create an invited user in B.
#[tokio::test]
async fn a_limited_caller_cannot_invite_its_way_into_an_account() {
    let (app, _sink) = app_with_mail(Options::default()).await;
    let container = |name: &str| {
        let app = &app;
        let name = name.to_string();
        async move {
            let (st, c) = json_of(
                app.post_json("/api/v1/containers", &json!({ "name": name }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(st, StatusCode::CREATED, "{c}");
            c["id"].as_str().unwrap().to_string()
        }
    };
    let (a, b) = (container("A").await, container("B").await);
    let grant = |user: &Value, role: &str, over: &str| {
        let app = &app;
        let path = format!("/api/v1/users/{}/roles", user["id"].as_str().unwrap());
        let body = json!({ "role": role, "container_ids": [over] });
        async move {
            let r = app.post_json(&path, &body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    };
    let mgr = create_user(
        &app,
        json!({ "username": "mgr", "password": "manager-password-1", "container_id": a }),
    )
    .await;
    grant(&mgr, "Manager", &a).await;
    let reader = create_user(
        &app,
        json!({ "username": "reader", "password": "reader-password-1", "container_id": a }),
    )
    .await;
    grant(&reader, "ReadOnly", &a).await;
    let boss = create_user(
        &app,
        json!({ "username": "boss", "email": "boss@example.com", "container_id": a }),
    )
    .await;
    grant(&boss, "Administrator", &a).await;
    let in_a = create_user(
        &app,
        json!({ "username": "plain", "email": "plain@example.com", "container_id": a }),
    )
    .await;
    let in_b = create_user(
        &app,
        json!({ "username": "far", "email": "far@example.com", "container_id": b }),
    )
    .await;
    let token = |name: &'static str, pw: &'static str| {
        let app = &app;
        async move {
            let (st, t) = sign_in(app, name, pw).await;
            assert_eq!(st, StatusCode::OK, "{t}");
            t["access_token"].as_str().unwrap().to_string()
        }
    };
    let mgr_token = token("mgr", "manager-password-1").await;
    let reader_token = token("reader", "reader-password-1").await;
    let as_ = |t: &str, method: reqwest::Method, user: &Value| {
        app.client
            .request(
                method,
                app.url(&format!(
                    "/api/v1/users/{}/invitation",
                    user["id"].as_str().unwrap()
                )),
            )
            .bearer_auth(t.to_string())
            .json(&json!({}))
            .send()
    };
    for (who, user) in [
        (&mgr_token, &boss),
        (&mgr_token, &in_b),
        (&reader_token, &in_a),
    ] {
        for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
            let status = as_(who, method.clone(), user).await.unwrap().status();
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                "{method} invitation of {}: {status}",
                user["username"]
            );
        }
    }
    // The manager may invite a plain user of its own container.
    let status = as_(&mgr_token, reqwest::Method::POST, &in_a)
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::ACCEPTED);
    let (st, body) = json_of(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&mgr_token)
            .json(&json!({ "username": "sneaky", "email": "s@example.com", "invite": true, "container_id": b }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
}
