//! Helpers for the end-to-end tests: configuration for the local emulator, in-process HTTP
//! servers for a function's router, and the router of each function by name.
//!
//! These tests need the emulator that `make test` starts; run them through it.

#![allow(clippy::expect_used, clippy::panic)] // Test support: a failed set-up should stop the test loudly.

use std::net::SocketAddr;

use axum::Router;
use identity::IdentityState;
use shared::{AppState, Config, Env};

pub mod upload_api;
pub mod webhook_api;

/// Every route group under `functions/`, by directory name, wired into the harness: its router
/// (`router_for`) and its route table (`routes_for`, read by the consistency test). Adding a
/// group is one name here; `tests/tests/consistency.rs` fails, naming this file, if one is missing.
macro_rules! functions {
    ($($name:ident),+ $(,)?) => {
        /// The route groups the harness knows, as named under `functions/`.
        pub const FUNCTIONS: &[&str] = &[$(stringify!($name)),+];

        /// The router of the function named like its `functions/<name>` directory, built the way
        /// its `main` builds it (its own `init` over the core state).
        pub async fn router_for(function: &str, app: AppState, env: Env) -> Router {
            match function {
                $(stringify!($name) => $name::router(
                    $name::init(app, env).await.expect(concat!("init of ", stringify!($name))),
                ),)+
                other => panic!("no function named {other}: add it to functions! in tests/src/lib.rs"),
            }
        }

        /// The function's own OpenAPI document (what it contributes to the merged one).
        pub fn openapi_for(function: &str) -> Option<utoipa::openapi::OpenApi> {
            match function {
                $(stringify!($name) => Some($name::openapi()),)+
                _ => None,
            }
        }

        /// The methods and paths the function's router serves.
        pub fn routes_for(function: &str) -> Option<Vec<shared::routes::Route>> {
            match function {
                $(stringify!($name) => Some($name::routes().table()),)+
                _ => None,
            }
        }
    };
}

functions!(health, auth, users, uploads, webhooks, docs);

/// Panics with instructions when the emulator env is missing.
fn require_emulator_env() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok() && std::env::var("USERS_TABLE").is_ok(),
        "AWS_ENDPOINT_URL and the table variables are not set: run these tests with `make test`, \
         which starts the emulator and exports them"
    );
}

/// Rate limits high enough that tests sharing one client address and one minute never meet
/// them, and a limiter timeout long enough that a busy emulator never makes it fail open; the
/// rate-limit tests set their own.
const UNLIMITED: [(&str, &str); 7] = [
    ("RATE_LIMIT_TIMEOUT_MS", "10000"),
    ("RATE_LIMIT_STRICT", "1000000"),
    ("RATE_LIMIT_DEFAULT", "1000000"),
    ("RATE_LIMIT_USER", "1000000"),
    ("RATE_LIMIT_TIER_FREE", "1000000"),
    ("RATE_LIMIT_TIER_PRO", "1000000"),
    ("RATE_LIMIT_TIER_ENTERPRISE", "1000000"),
];

/// The test environment with `overrides` on top. Panics with instructions when the emulator env
/// is missing.
pub fn emulator_env(overrides: &[(&str, &str)]) -> Env {
    require_emulator_env();
    let mut all: Vec<(&str, &str)> = overrides.to_vec();
    all.extend(
        UNLIMITED
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k)),
    );
    Env::with_overrides(&all)
}

/// A configuration whose AWS endpoint is a closed loopback port: every dependency is down.
pub fn dead_emulator_config() -> Config {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port");
    // The listener is dropped at once, so nothing answers on that port.
    let endpoint = format!("http://{closed}");
    Config::from_env(
        &Env::with_overrides(&[("AWS_ENDPOINT_URL", &endpoint)]),
        "e2e",
        "0.0.0",
    )
    .expect("test configuration")
}

/// The core state against the emulator, as every function's `main` builds it.
pub async fn emulator_state() -> AppState {
    app_with(&emulator_env(&[])).await
}

async fn app_with(env: &Env) -> AppState {
    AppState::from_env(env, "e2e", "0.0.0")
        .await
        .expect("test configuration")
}

/// The token signer of an auth function with some variables overridden (another issuer...).
pub async fn signer_with(overrides: &[(&str, &str)]) -> std::sync::Arc<identity::jwt::Signer> {
    let env = emulator_env(overrides);
    auth::AuthContext::from_env(&app_with(&env).await, &env)
        .expect("auth settings")
        .signer()
        .await
        .expect("signing keys from the emulator")
}

/// The auth and users functions, each served over HTTP, over one core state (so one DynamoDB
/// call counter sees both) and one identity.
pub struct Identity {
    /// Base URL of the auth function.
    pub auth: String,
    /// Base URL of the users function.
    pub users: String,
    /// The core state (the DynamoDB call counter).
    pub app: AppState,
    /// Identity as the users function has it (public keys; for arranging data directly, e.g.
    /// promoting an admin).
    pub identity: IdentityState,
    /// What only auth has (the token signer, for issuing tokens directly).
    pub auth_context: auth::AuthContext,
    /// The auth router itself, for requests that must look like API Gateway's (a `sourceIp`).
    pub auth_router: Router,
    /// The users router itself, likewise.
    pub users_router: Router,
    /// HTTP client.
    pub http: Client,
}

/// A registered user: credentials and the tokens signup returned.
#[derive(Debug, Clone)]
pub struct Account {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Email as given at signup.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

/// A short unique suffix so tests sharing one emulator never collide.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

impl Identity {
    /// Both functions with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Both functions with overridden variables.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let env = emulator_env(overrides);
        let app = app_with(&env).await;
        // Each function's state as its own `init` builds it, over one AppState.
        let auth_state = auth::init(app.clone(), env.clone())
            .await
            .expect("auth state");
        let users_state = users::init(app.clone(), env).await.expect("users state");
        Self {
            identity: users_state.identity.clone(),
            auth_context: auth_state.auth.clone(),
            auth_router: auth::router(auth_state.clone()),
            auth: spawn_http(auth::router(auth_state)).await,
            users_router: users::router(users_state.clone()),
            users: spawn_http(users::router(users_state)).await,
            app,
            http: Client::new(),
        }
    }

    /// `POST /api/v1/auth/<path>` with a JSON body.
    pub async fn post_auth(
        &self,
        path: &str,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Reply {
        let auth_header = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth_header
            .as_deref()
            .map(|h| vec![("authorization", h)])
            .unwrap_or_default();
        self.http
            .json(
                http::Method::POST,
                &format!("{}/api/v1/auth/{path}", self.auth),
                &headers,
                body,
            )
            .await
    }

    /// `method /api/v1/users<path>` with an optional bearer and JSON body.
    pub async fn users_call(
        &self,
        method: http::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Reply {
        let auth_header = bearer.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(h) = auth_header.as_deref() {
            headers.push(("authorization", h));
        }
        let url = format!("{}/api/v1/users{path}", self.users);
        match body {
            Some(body) => self.http.json(method, &url, &headers, body).await,
            None => {
                self.http
                    .send(method, &url, &headers, bytes::Bytes::new())
                    .await
            }
        }
    }

    /// `GET /api/v1/users/me` with `token`.
    pub async fn me(&self, token: &str) -> Reply {
        self.users_call(http::Method::GET, "/me", Some(token), None)
            .await
    }

    /// Signs up a fresh user and returns its credentials and tokens.
    pub async fn signup(&self) -> Account {
        let tag = unique();
        let username = format!("user_{tag}");
        let email = format!("{tag}@example.com");
        let password = format!("lantern {tag} orbit");
        let reply = self
            .post_auth(
                "signup",
                &serde_json::json!({
                    "username": username, "email": email, "password": password,
                    "first_name": "Test", "last_name": "User"
                }),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            201,
            "signup: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let tokens = reply.json();
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let me = self.me(&access).await.json();
        Account {
            id: me["id"].as_str().expect("id").to_owned(),
            username,
            email,
            password,
            access,
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Logs in with JSON; returns the reply.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_auth(
            "login",
            &serde_json::json!({ "username": username, "password": password }),
            None,
        )
        .await
    }

    /// Signs up a user and grants it the admin role directly in the store.
    pub async fn admin(&self) -> Account {
        let account = self.signup().await;
        self.identity
            .store
            .users
            .admin_update(
                &account.id,
                &identity::store::users::AdminChanges {
                    roles: Some(vec!["admin".to_owned(), "user".to_owned()]),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("promote");
        account
    }
}

/// A request as API Gateway (REST, v1) hands it to a function, from client `source_ip`: the
/// only way a client's address reaches our code (never a header it sets).
pub fn gateway_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    source_ip: &str,
) -> http::Request<lambda_http::Body> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let event = serde_json::json!({
        "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {}, "queryStringParameters": null,
        "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": format!("/v1{path}"),
            "stage": "v1", "requestId": format!("e2e-{}", unique()), "accountId": "123456789012",
            "apiId": "abc123def4", "protocol": "HTTP/1.1", "requestTimeEpoch": 0,
            "identity": { "sourceIp": source_ip, "userAgent": "e2e" }
        },
        "body": body, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// Sends `request` to `router` and reads the whole reply.
pub async fn call(router: &Router, request: http::Request<lambda_http::Body>) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.expect("router");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.expect("read body").to_bytes(),
    }
}

/// Sleeps into a fresh fixed window of `window_secs` when fewer than `needed_secs` remain in the
/// current one, so a test's requests all land in one window.
pub async fn align_to_window(window_secs: u64, needed_secs: u64) {
    let now = time::OffsetDateTime::now_utc();
    let into = u64::try_from(now.unix_timestamp()).unwrap_or_default() % window_secs;
    let left_ms = (window_secs - into) * 1_000 - u64::from(now.millisecond());
    if left_ms < needed_secs * 1_000 {
        tokio::time::sleep(std::time::Duration::from_millis(left_ms + 50)).await;
    }
}

/// Serves `router` over real HTTP on a free loopback port; returns its base URL.
pub async fn spawn_http(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A response read whole: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body bytes.
    pub body: bytes::Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON, so assertions show the mismatch).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A plain HTTP/1 client for loopback servers.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A new client.
    pub fn new() -> Self {
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self { inner }
    }

    /// Sends `method url` with `headers` and `body`, and reads the whole reply.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<bytes::Bytes>,
    ) -> Reply {
        use http_body_util::BodyExt;
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(http_body_util::Full::new(body.into()))
            .expect("valid request");
        let response = self.inner.request(request).await.expect("HTTP request");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(http::Method::GET, url, headers, bytes::Bytes::new())
            .await
    }

    /// `method url` with a JSON body.
    pub async fn json(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(method, url, &all, body.to_string()).await
    }
}

/// A new, empty table with the keys and indexes of the table named by `var` (e.g.
/// `USERS_TABLE`), for a test that needs a world of its own ("the only admin"). Returns its name;
/// pass it as an override of `var`.
pub async fn fresh_table_like(var: &str) -> String {
    use aws_sdk_dynamodb::types::{
        BillingMode, GlobalSecondaryIndex, KeySchemaElement, Projection, ProjectionType,
    };
    let app = emulator_state().await;
    let source = std::env::var(var).expect("table variable");
    let described = app
        .dynamo
        .describe_table()
        .table_name(&source)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("table description");
    let name = format!("{source}-{}", unique());
    let indexes: Vec<GlobalSecondaryIndex> = described
        .global_secondary_indexes()
        .iter()
        .map(|gsi| {
            GlobalSecondaryIndex::builder()
                .index_name(gsi.index_name().expect("index name"))
                .set_key_schema(Some(gsi.key_schema().to_vec()))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index")
        })
        .collect();
    let keys: Vec<KeySchemaElement> = described.key_schema().to_vec();
    app.dynamo
        .create_table()
        .table_name(&name)
        .set_key_schema(Some(keys))
        .set_attribute_definitions(Some(described.attribute_definitions().to_vec()))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    name
}

/// Messages the emulator's SES accepted for `address`: moto's `ses` → `Message` records, read
/// through `infra/local/emulator.py`'s `/_local/ses/messages` (data.json dumps every backend: slow).
pub async fn mail_to(address: &str) -> Vec<serde_json::Value> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let data = Client::new()
        .get(&format!("{endpoint}/_local/ses/messages"), &[])
        .await
        .json();
    data.as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| {
                    m["destinations"]["ToAddresses"]
                        .as_array()
                        .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(address)))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The mails to `address` once there are at least `count` (polling for up to 5 s): `forgot`
/// and `resend` answer at their response floor, and a slow send may finish just after it.
pub async fn mail_at_least(address: &str, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..50 {
        let mails = mail_to(address).await;
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    mail_to(address).await
}

/// The `token=` value of the first link in a mail body.
pub fn token_in(message: &serde_json::Value) -> Option<String> {
    let body = message["body"].as_str()?;
    let start = body.find("token=")? + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!token.is_empty()).then_some(token)
}

/// The `(METHOD, path)` pairs of an OpenAPI document, paths as written there (`{param}`).
pub fn openapi_routes(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, operation) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ] {
            if operation.is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}
