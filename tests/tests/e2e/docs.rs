//! The docs function over HTTP: the merged OpenAPI document (valid by a standard validator from
//! PyPI), Swagger UI and ReDoc with every asset built in, and `DOCS_ENABLED=false`.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use e2e::{Client, Reply, emulator_env, emulator_state, spawn_http, venv_tool};
use serde_json::Value;

async fn docs_with(overrides: &[(&str, &str)]) -> String {
    let state = docs::init(emulator_state().await, emulator_env(overrides))
        .await
        .expect("docs state");
    spawn_http(docs::router(state)).await
}

async fn get(base: &str, path: &str) -> Reply {
    Client::new().get(&format!("{base}{path}"), &[]).await
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_that_a_standard_validator_accepts() {
    let base = docs_with(&[]).await;
    let reply = get(&base, "/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.json()["openapi"], "3.1.0");
    let file = std::env::temp_dir().join(format!("openapi-{}.json", e2e::unique()));
    std::fs::write(&file, &reply.body).expect("write the document");
    let out = std::process::Command::new(venv_tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("openapi-spec-validator (infra/local/requirements.txt; make test installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = get(&base, "/api/v1/openapi.json").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, reply.body, "both URLs serve the same document");
}

#[tokio::test]
async fn the_document_carries_the_envelope_the_security_schemes_and_the_layer_headers() {
    let doc: Value = serde_json::to_value(docs::document()).expect("document");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "x-api-key");
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());

    let me = &doc["paths"]["/api/v1/users/me"]["get"];
    for status in ["200", "401", "429", "503"] {
        let headers = &me["responses"][status]["headers"];
        for name in ["X-Request-ID", "X-RateLimit-Limit", "RateLimit"] {
            assert!(headers[name].is_object(), "{status} lacks {name}");
        }
    }
    assert!(me["responses"]["429"]["headers"]["Retry-After"].is_object());
    let signup = &doc["paths"]["/api/v1/auth/signup"]["post"];
    for status in ["400", "409", "413", "415", "422", "429"] {
        assert!(
            signup["responses"][status].is_object(),
            "signup lacks {status}"
        );
    }
    let content = &signup["requestBody"]["content"];
    assert!(content["application/json"].is_object());
    assert!(content["application/x-www-form-urlencoded"].is_object());
    // Webhooks are not rate limited by the application and need no key.
    let github = &doc["paths"]["/api/v1/webhooks/github"]["post"];
    assert!(github["responses"]["429"].is_null());
    assert!(github["security"].is_null());
}

#[tokio::test]
async fn swagger_ui_and_redoc_are_served_with_every_asset_built_in() {
    let base = docs_with(&[]).await;
    let index = get(&base, "/docs").await;
    assert_eq!(index.status, 200);
    let html = String::from_utf8_lossy(&index.body).into_owned();
    assert!(html.contains("<base href=\"docs/\">"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "index does not load {asset}");
        let reply = get(&base, &format!("/docs/{asset}")).await;
        assert_eq!(reply.status, 200, "{asset}");
        assert!(!reply.body.is_empty());
    }
    let init = get(&base, "/docs/swagger-initializer.js").await;
    assert!(String::from_utf8_lossy(&init.body).contains("\"../openapi.json\""));
    assert_eq!(get(&base, "/docs/nope.js").await.status, 404);

    let redoc = get(&base, "/redoc").await;
    assert_eq!(redoc.status, 200);
    let page = String::from_utf8_lossy(&redoc.body).into_owned();
    assert!(page.contains("spec-url=\"openapi.json\""));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external URL: {page}"
    );
    let bundle = get(&base, "/redoc/redoc.standalone.js").await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.body.len() > 1_000_000, "the pinned 2.5.4 bundle");
    let js = String::from_utf8_lossy(&bundle.body);
    assert!(!js.contains("cdn.redoc.ly"), "ReDoc's CDN logo is replaced");
    for page in [&index, &redoc] {
        let csp = page.header("content-security-policy");
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
    }
}

#[tokio::test]
async fn docs_enabled_false_answers_404_on_every_docs_route() {
    let base = docs_with(&[("DOCS_ENABLED", "false")]).await;
    for path in [
        "/openapi.json",
        "/api/v1/openapi.json",
        "/docs",
        "/docs/swagger-ui.css",
        "/redoc",
        "/redoc/redoc.standalone.js",
    ] {
        let reply = get(&base, path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["error_code"], "NOT_FOUND", "{path}");
    }
}
