//! `GET /docs` (the interactive API reference, embedded in the binary) and
//! `GET /` (the index naming the faces).

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn index_names_the_faces_and_links_the_docs() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "public");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["links"]["docs"], "/docs/");
    assert_eq!(body["links"]["openapi"], "/openapi.json");
    let faces: Vec<&str> = body["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        faces.contains(&"native") && faces.contains(&"d3"),
        "{faces:?}"
    );

    let r = app
        .client
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("href=\"/docs/\""));
}

#[tokio::test]
async fn docs_are_served_from_the_binary_under_a_content_security_policy() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "public, like /openapi.json");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let page = r.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing loaded from elsewhere: {page}"
    );
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
}

/// The page renders in a real browser with every host but loopback
/// unreachable, and shows the users operations. Needs Debian's `chromium`;
/// in CI (`CI` set) its absence fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_render_in_headless_chromium_without_network() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED: docs_render_in_headless_chromium_without_network (no chromium)");
        return;
    };
    let app = TestApp::spawn().await;
    let url = app.url("/docs/");
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                // No host but loopback resolves: the page must need nothing else.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Swagger UI drew the document: the users tag and its operations.
    assert!(
        dom.contains("opblock-tag"),
        "no operations rendered:\n{dom}"
    );
    assert!(
        dom.contains("/users/{id}"),
        "users operations missing:\n{dom}"
    );
    assert!(dom.contains("User accounts"), "users tag missing:\n{dom}");
}
