//! Change events: webhooks delivered to a receiver started here on
//! loopback (so the tests allow private addresses, except where the
//! address rule itself is tested), signatures checked with HMAC, retries,
//! per-user order, no loss across `kill -9`, and the pull feed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use roster_core::webhook::WebhookSettings;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{ADMIN_KEY, Binary, Options, TestApp, on_postgres, parts};

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// An HTTP receiver on loopback: answers from `script` first, then
/// `default`, and keeps every request.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    default: Arc<Mutex<u16>>,
    /// How long it takes to answer.
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    async fn start() -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: tokio::net::TcpListener) -> Self {
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            script: Arc::default(),
            default: Arc::new(Mutex::new(200)),
            delay: Arc::default(),
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let delay = *state.delay.lock();
                    tokio::time::sleep(delay).await;
                    let answered = state
                        .script
                        .lock()
                        .pop_front()
                        .unwrap_or(*state.default.lock());
                    state.got.lock().push(Received {
                        headers,
                        body: body.to_vec(),
                        answered,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The requests it answered with a 2xx, in arrival order.
    fn delivered(&self) -> Vec<Received> {
        self.got
            .lock()
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
            .cloned()
            .collect()
    }
}

fn settings(allow_private: bool) -> WebhookSettings {
    WebhookSettings {
        allow_private,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        max_attempts: 5,
        timeout: Duration::from_secs(5),
    }
}

async fn app_with(settings: WebhookSettings) -> TestApp {
    let mut opts = Options::default();
    opts.core.webhooks = settings;
    let app = TestApp::with(opts).await;
    app.start_webhooks();
    app
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks `Roster-Signature` as a receiver would; returns its `t`.
fn verify(secret: &str, header: &str, body: &[u8]) -> i64 {
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("malformed signature {header:?}"));
    let expected: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).expect("the signature verifies");
    t.parse().unwrap()
}

/// The receiver's recipe in the README (its Python block under "Webhooks
/// and events") accepts what roster sends.
fn readme_recipe_verifies(secret: &str, header: &str, body: &[u8]) {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("## Webhooks and events").unwrap()..];
    let start = section.find("```python\n").unwrap() + "```python\n".len();
    let recipe = &section[start..start + section[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    std::fs::write(&body_path, body).unwrap();
    let script = format!(
        "{recipe}\nimport sys\nprint(verify(sys.argv[1].encode(), sys.argv[2], open(sys.argv[3], 'rb').read()))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret, header])
        .arg(&body_path)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "True",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn create_hook(app: &TestApp, body: Value) -> Value {
    let (st, hook) = parts(
        app.post_json("/api/v1/webhooks", &body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{hook}");
    hook
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test]
async fn a_created_user_is_delivered_signed() {
    let app = app_with(settings(true)).await;
    let rx = Receiver::start().await;
    let hook = create_hook(
        &app,
        json!({"url": rx.url(), "event_types": ["user.created"]}),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32, "a generated secret: {hook}");
    let user = app
        .create_user(json!({"username": "hooked", "password": "hooked-password-1"}))
        .await;
    wait_until("the delivery", async || !rx.delivered().is_empty()).await;
    let got = rx.delivered().remove(0);
    let t = verify(&secret, got.header("roster-signature"), &got.body);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - t).abs() <= 300, "t={t} now={now}");
    readme_recipe_verifies(&secret, got.header("roster-signature"), &got.body);
    let event = got.json();
    assert_eq!(event["type"], "user.created");
    assert_eq!(got.header("roster-event-type"), "user.created");
    assert_eq!(got.header("roster-event-id"), event["id"].as_str().unwrap());
    assert_eq!(event["target"]["id"], user["id"]);
    assert_eq!(event["target"]["kind"], "user");
    assert_eq!(event["actor"]["name"], "admin");
    assert!(event["occurred_at"].is_string() && event["container"].is_string());
    assert_eq!(event["data"]["username"], "hooked");
    let text = String::from_utf8(got.body.clone()).unwrap();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    // Only subscribed types: a later update is not delivered.
    let resp = app
        .patch(
            &format!("/api/v1/users/{}", id(&user)),
            &json!({"display_name": "H"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.got.lock().len(), 1);

    // The secret is never read back, and the webhook's changes are audited.
    let (_, one) = parts(
        app.get(&format!("/api/v1/webhooks/{}", id(&hook)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, all) = parts(app.get("/api/v1/webhooks").send().await.unwrap()).await;
    for v in [&one, &all] {
        assert!(!v.to_string().contains(&secret), "{v}");
        assert!(!v.to_string().contains("secret"), "{v}");
    }
    let (_, audit) = parts(
        app.get("/api/v1/audit-events?action=webhook.create")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(audit["items"][0]["target_id"], hook["id"], "{audit}");
    assert!(!audit.to_string().contains(&secret));
}

#[tokio::test]
async fn a_failing_receiver_gets_it_on_the_third_attempt() {
    let app = app_with(settings(true)).await;
    let rx = Receiver::start().await;
    rx.script.lock().extend([500, 500]);
    let hook = create_hook(&app, json!({"url": rx.url(), "event_types": ["*"]})).await;
    app.create_user(json!({"username": "retried"})).await;
    wait_until("the delivery", async || !rx.delivered().is_empty()).await;
    assert_eq!(rx.got.lock().len(), 3);
    let ids: Vec<String> = rx
        .got
        .lock()
        .iter()
        .map(|r| r.header("roster-event-id").to_string())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event, three attempts"
    );
    let path = format!("/api/v1/webhooks/{}/deliveries", id(&hook));
    wait_until("the log to show it", async || {
        let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
        log["items"][0]["status"] == "delivered"
    })
    .await;
    let (st, log) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(st, 200, "{log}");
    let d = &log["items"][0];
    assert_eq!(d["attempts"], 3, "{log}");
    assert_eq!(d["last_status_code"], 200);
    assert_eq!(d["event_id"], ids[0].as_str());
    assert_eq!(d["event_type"], "user.created");
    assert!(d["delivered_at"].is_string() && d["created_at"].is_string());

    // Re-delivery sends the same event again.
    let (st, again) = parts(
        app.post_json(
            &format!("{path}/{}/redeliver", d["id"].as_str().unwrap()),
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 202, "{again}");
    assert_eq!(again["status"], "pending");
    wait_until("the re-delivery", async || rx.delivered().len() == 2).await;
    assert_eq!(rx.delivered()[1].header("roster-event-id"), ids[0]);
    let (st, body) = parts(
        app.post_json(
            &format!("{path}/{}/redeliver", uuid::Uuid::now_v7()),
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 404, "{body}");

    // Housekeeping keeps recent deliveries and drops finished old ones.
    wait_until("the re-delivery in the log", async || {
        let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
        log["items"][0]["status"] == "delivered"
    })
    .await;
    app.roster.housekeeping().await.unwrap();
    let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    app.sql(if on_postgres() {
        "UPDATE webhook_deliveries SET updated_at = '2000-01-01T00:00:00Z'"
    } else {
        "UPDATE webhook_deliveries SET updated_at = 0"
    })
    .await;
    app.roster.housekeeping().await.unwrap();
    let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(log["items"], json!([]), "{log}");
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_another() {
    let app = app_with(WebhookSettings {
        timeout: Duration::from_secs(15),
        ..settings(true)
    })
    .await;
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    *slow.delay.lock() = Duration::from_secs(6);
    create_hook(&app, json!({"url": slow.url(), "event_types": ["*"]})).await;
    create_hook(&app, json!({"url": quick.url(), "event_types": ["*"]})).await;
    app.create_user(json!({"username": "first"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    app.create_user(json!({"username": "second"})).await;
    wait_until("both at the quick receiver", async || {
        quick.delivered().len() == 2
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?} behind the slow one",
        started.elapsed()
    );
    wait_until("the slow receiver's first", async || {
        !slow.delivered().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_users_events_arrive_in_order_through_failures() {
    let app = app_with(settings(true)).await;
    let rx = Receiver::start().await;
    // Every other answer fails: each event needs a retry, and the next
    // event of the same user must wait for it.
    rx.script
        .lock()
        .extend([500, 200, 503, 200, 500, 200, 500, 200, 500, 200, 500, 200]);
    create_hook(&app, json!({"url": rx.url(), "event_types": ["*"]})).await;
    let user = app.create_user(json!({"username": "ordered"})).await;
    let path = format!("/api/v1/users/{}", id(&user));
    for n in 0..4 {
        let resp = app
            .patch(&path, &json!({"display_name": format!("name {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = app
        .patch(&path, &json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_until("six deliveries", async || rx.delivered().len() >= 6).await;
    let types: Vec<String> = rx
        .delivered()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.updated",
            "user.updated",
            "user.updated",
            "user.updated",
            "user.disabled"
        ]
    );
    // The feed has the same events in the same order.
    let (_, feed) = parts(app.get("/api/v1/events?limit=100").send().await.unwrap()).await;
    let feed_ids: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"]["id"] == user["id"])
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let got_ids: Vec<String> = rx
        .delivered()
        .iter()
        .map(|r| r.header("roster-event-id").to_string())
        .collect();
    assert_eq!(feed_ids, got_ids);
}

#[tokio::test]
async fn no_event_is_lost_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let pg = if on_postgres() {
        let base = roster_store::testing::postgres_url().expect("ROSTER_TEST_POSTGRES_URL");
        Some(roster_store::testing::TempDatabase::create(&base).await)
    } else {
        None
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("roster.db").display()),
    };
    let env = [
        ("ROSTER_ADMIN_API_KEY", ADMIN_KEY),
        ("ROSTER_RATE_LIMIT_PER_SECOND", "0"),
        ("ROSTER_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("ROSTER_WEBHOOK_RETRY_BASE_MS", "50"),
        ("ROSTER_WEBHOOK_MAX_ATTEMPTS", "1000"),
    ];
    let rx = Receiver::start().await;
    // Down: every attempt fails until the node is killed.
    *rx.default.lock() = 503;
    let client = reqwest::Client::new();
    let bin = Binary::start_url(dir.path(), &url, &env);
    let (st, hook) = parts(
        client
            .post(bin.url("/api/v1/webhooks"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"url": rx.url(), "event_types": ["*"], "secret": "a-secret-of-the-test"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{hook}");
    let mut users = Vec::new();
    for n in 0..6 {
        let (st, u) = parts(
            client
                .post(bin.url("/api/v1/users"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"username": format!("survivor{n}")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 201, "{u}");
        users.push(u["id"].as_str().unwrap().to_string());
    }
    let (st, _) = parts(
        client
            .delete(bin.url(&format!("/api/v1/users/{}", users[0])))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 204);
    // Acknowledged; the receiver has answered nothing but failures.
    bin.signal(libc::SIGKILL);
    drop(bin);
    assert!(rx.delivered().is_empty());

    *rx.default.lock() = 200;
    let bin = Binary::start_url(dir.path(), &url, &env);
    let (_, feed) = parts(
        client
            .get(bin.url("/api/v1/events?limit=1000"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let expected: Vec<String> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| users.iter().any(|u| e["target"]["id"] == u.as_str()))
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 7, "{feed}");
    wait_until("every event", async || {
        let got: std::collections::HashSet<String> = rx
            .delivered()
            .iter()
            .map(|r| r.header("roster-event-id").to_string())
            .collect();
        expected.iter().all(|e| got.contains(e))
    })
    .await;
    let got = rx.delivered();
    assert!(got.iter().any(|r| r.json()["type"] == "user.deleted"));
    for r in &got {
        verify(
            "a-secret-of-the-test",
            r.header("roster-signature"),
            &r.body,
        );
    }
    bin.stop();
    drop(pg);
}

#[tokio::test]
async fn private_targets_are_refused() {
    let app = app_with(settings(false)).await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
        "https://user:pw@example.com/hook",
        "not a url",
    ] {
        let (st, body) = parts(
            app.post_json(
                "/api/v1/webhooks",
                &json!({"url": url, "event_types": ["*"]}),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(st, 400, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    for (body, field) in [
        (
            json!({"url": "https://example.com/", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["user.exploded"]}),
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["*"], "secret": "short"}),
            "secret",
        ),
    ] {
        let (st, resp) = parts(
            app.post_json("/api/v1/webhooks", &body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 400, "{resp}");
        assert_eq!(resp["errors"][0]["field"], field, "{resp}");
    }
    // A name is judged by what it resolves to, at delivery.
    let rx = Receiver::start().await;
    let hook = create_hook(
        &app,
        json!({"url": format!("https://localhost:{}/hook", rx.addr.port()), "event_types": ["*"]}),
    )
    .await;
    app.create_user(json!({"username": "unsent"})).await;
    let path = format!("/api/v1/webhooks/{}/deliveries", id(&hook));
    wait_until("the refusal in the log", async || {
        let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
        log["items"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused") && e.contains("loopback"))
    })
    .await;
    // Given up after the last attempt (5 here).
    wait_until("the delivery to be given up", async || {
        let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
        log["items"][0]["status"] == "failed"
    })
    .await;
    let (_, log) = parts(app.get(&path).send().await.unwrap()).await;
    assert_eq!(log["items"][0]["attempts"], 5, "{log}");
    assert!(log["items"][0]["next_attempt_at"].is_null(), "{log}");
    assert!(rx.got.lock().is_empty(), "nothing reached the receiver");
    // Updates are held to the same rule.
    let (st, body) = parts(
        app.client
            .patch(app.url(&format!("/api/v1/webhooks/{}", id(&hook))))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"url": "https://192.168.1.1/"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "url");
}

#[tokio::test]
async fn a_caller_without_webhooks_manage_is_refused() {
    let app = app_with(settings(true)).await;
    let viewer = app
        .create_user(json!({"username": "viewer", "password": "viewer-password-1"}))
        .await;
    let (st, body) = parts(
        app.post_json(
            &format!("/api/v1/users/{}/roles", id(&viewer)),
            &json!({"role": "ReadOnly", "all_objects": true}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let token = app.token("viewer", "viewer-password-1").await;
    let hook = create_hook(
        &app,
        json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "secret": "a-secret-of-the-test"}),
    )
    .await;
    let hook_path = format!("/api/v1/webhooks/{}", id(&hook));
    let c = &app.client;
    let refused = [
        c.get(app.url("/api/v1/webhooks")),
        c.post(app.url("/api/v1/webhooks"))
            .json(&json!({"url": "http://127.0.0.1:9/", "event_types": ["*"]})),
        c.get(app.url(&hook_path)),
        c.patch(app.url(&hook_path)).json(&json!({"active": false})),
        c.delete(app.url(&hook_path)),
        c.get(app.url(&format!("{hook_path}/deliveries"))),
        c.get(app.url("/api/v1/events")),
    ];
    for req in refused {
        let (st, body) = parts(req.bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(st, 403, "{body}");
        assert!(!body.to_string().contains("a-secret-of-the-test"));
    }
    // The administrator sees the webhook, never its secret.
    let (st, got) = parts(app.get(&hook_path).send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert!(got.get("secret").is_none(), "{got}");
}

#[tokio::test]
async fn the_event_feed_pages_in_order() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let u = app
            .create_user(json!({"username": format!("paged{n}")}))
            .await;
        ids.push(u["id"].clone());
    }
    // A failed login is audited but no event.
    let resp = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "paged0", "password": "wrong-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let mut seen = Vec::new();
    let mut after = "0".to_string();
    let mut pages = 0;
    loop {
        let (st, page) = parts(
            app.get(&format!("/api/v1/events?after={after}&limit=2"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        if items.is_empty() {
            assert_eq!(page["next"], after.as_str(), "an empty page stays put");
            break;
        }
        for e in items {
            assert!(e["type"].as_str().unwrap().contains('.'), "{e}");
            if e["type"] == "user.created"
                && e["data"]["username"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("paged"))
            {
                seen.push(e["target"]["id"].clone());
            }
        }
        after = page["next"].as_str().unwrap().to_string();
        pages += 1;
        assert!(pages < 20);
    }
    assert_eq!(seen, ids);
    assert!(pages >= 3);
    for bad in ["after=-1", "after=x", "limit=0", "limit=1001"] {
        let (st, body) = parts(
            app.get(&format!("/api/v1/events?{bad}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 400, "{bad}: {body}");
    }
}

/// Two nodes on one PostgreSQL database deliver every event once: a
/// delivery is claimed (leased) by one node, and a webhook's cursor moves
/// from the value one node read, so the other neither sends nor queues it
/// again.
#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let Some(base) = roster_store::testing::postgres_url() else {
        eprintln!("ROSTER_TEST_POSTGRES_URL not set: the two-node test needs PostgreSQL");
        return;
    };
    let db = roster_store::testing::TempDatabase::create(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROSTER_ADMIN_API_KEY", ADMIN_KEY),
        ("ROSTER_RATE_LIMIT_PER_SECOND", "0"),
        ("ROSTER_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("ROSTER_WEBHOOK_RETRY_BASE_MS", "50"),
    ];
    let rx = Receiver::start().await;
    let a = Binary::start_url(dir.path(), &db.url, &env);
    let b = Binary::start_url(dir.path(), &db.url, &env);
    let client = reqwest::Client::new();
    let (st, hook) = parts(
        client
            .post(a.url("/api/v1/webhooks"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"url": rx.url(), "event_types": ["user.created"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{hook}");
    let n = 30;
    for i in 0..n {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, u) = parts(
            client
                .post(node.url("/api/v1/users"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"username": format!("twice{i}")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 201, "{u}");
    }
    wait_until("every creation", async || rx.delivered().len() >= n).await;
    // Time for a second copy to arrive, were one sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ids: Vec<String> = rx
        .got
        .lock()
        .iter()
        .map(|r| r.header("roster-event-id").to_string())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        n,
        "{} deliveries of {} events",
        ids.len(),
        unique.len()
    );
    assert_eq!(unique.len(), n);
    a.stop();
    b.stop();
}
