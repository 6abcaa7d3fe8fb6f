use serde_json::Value;

use crate::helpers::{ADMIN_KEY, TestApp};

#[tokio::test]
async fn openapi_describes_every_operation_and_schema() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "public, no credential needed");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = [
        ("/users", "post"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/auth/token", "post"),
    ];
    for (path, method) in ops {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"].as_object().unwrap().len() >= 2,
            "{method} {path}"
        );
    }
    for schema in [
        "UserOut",
        "CreateUserIn",
        "UserPatch",
        "UserList",
        "Problem",
        "TokenRequest",
        "TokenResponse",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let props = &doc["components"]["schemas"]["UserOut"]["properties"];
    assert!(
        props.get("password").is_none(),
        "responses never carry passwords"
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
}

#[tokio::test]
async fn health_is_public() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_per_face_for_authenticated_scrapers() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.get("/api/v1/users").send().await.unwrap();
    app.client
        .get(app.url("/api/ss/users"))
        .header("x-ssapi-key", crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let r = app.get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"roster_http_requests_total{face="native",status="2xx"}"#),
        "{text}"
    );
    assert!(text.contains(r#"face="attackforge""#), "{text}");
    assert!(
        text.contains("roster_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// The served document is compared with the committed one, so that an API
/// change shows in review. `ROSTER_UPDATE_SNAPSHOTS=1 cargo test` rewrites it.
#[tokio::test]
async fn openapi_document_matches_the_committed_snapshot() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/snapshots/openapi.json"
    );
    if std::env::var_os("ROSTER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == pretty,
        "/openapi.json changed; review the difference and run ROSTER_UPDATE_SNAPSHOTS=1 cargo test --test api openapi_document"
    );
}

/// Runs `python3 args…` with `PYTHONPATH`, failing the test with its output.
fn python(pythonpath: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new("python3")
        .args(args)
        .env("PYTHONPATH", pythonpath)
        .output()
        .expect("python3 is needed for the client tests");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python3 {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The served document is valid OpenAPI (openapi-spec-validator), a
/// client generator takes it without a warning (openapi-python-client),
/// and the generated client runs a user's life against the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_valid_and_generates_a_working_client() {
    let app = TestApp::spawn().await;
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let site = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyopenapi");
    let work = tempfile::tempdir().unwrap();
    let base = format!("http://{}", app.addr);
    let out = work.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        crate::helpers::ensure_python_package(
            &site,
            "openapi_spec_validator",
            "openapi-spec-validator==0.9.0",
        );
        crate::helpers::ensure_python_package(
            &site,
            "openapi_python_client",
            "openapi-python-client==0.29.1",
        );
        let site = site.to_str().unwrap().to_string();
        let path = out.join("openapi.json");
        std::fs::write(&path, doc).unwrap();
        python(
            &site,
            &[
                "-m".as_ref(),
                "openapi_spec_validator".as_ref(),
                path.as_ref(),
            ],
        );
        // No formatting hooks: the generated code only has to run.
        let config = out.join("generator.yml");
        std::fs::write(&config, "post_hooks: []\n").unwrap();
        let package = out.join("roster_client");
        python(
            &site,
            &[
                "-m".as_ref(),
                "openapi_python_client".as_ref(),
                "generate".as_ref(),
                "--fail-on-warning".as_ref(),
                "--meta".as_ref(),
                "none".as_ref(),
                "--path".as_ref(),
                path.as_ref(),
                "--config".as_ref(),
                config.as_ref(),
                "--output-path".as_ref(),
                package.as_ref(),
            ],
        );
        // List envelopes reference their item schema: no second model of
        // the same thing.
        let models: Vec<String> = std::fs::read_dir(package.join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !models.iter().any(|m| m.contains("_items_item")),
            "duplicate item models: {models:?}"
        );
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/openapi_lifecycle.py"
        );
        let pythonpath = format!("{}:{site}", out.display());
        let stdout = python(
            &pythonpath,
            &[script.as_ref(), base.as_ref(), ADMIN_KEY.as_ref()],
        );
        assert!(stdout.contains("lifecycle ok"), "{stdout}");
    })
    .await
    .unwrap();
}

/// Every response in the document has a description (OpenAPI requires
/// one), checked without Python.
#[tokio::test]
async fn every_openapi_response_has_a_description() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {code} has no description"
                );
            }
            assert!(
                op["security"].is_array(),
                "{method} {path} declares no security"
            );
        }
    }
    let listed = &doc["components"]["schemas"]["Items_RoleOut"]["properties"]["items"]["items"];
    assert_eq!(listed["$ref"], "#/components/schemas/RoleOut");
    let create = &doc["components"]["schemas"]["CreateUserIn"];
    assert!(
        create["example"].is_object() || create["examples"].is_array(),
        "{create}"
    );
}
