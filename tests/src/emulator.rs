//! The local emulator as the tests see it: the environment `make test` exports (with the rate
//! limits lifted), the core state built from it, a dead endpoint, fresh tables for tests that need
//! a world of their own, and unique names so tests sharing one emulator never collide.

use shared::{AppState, Config, Env};

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
const UNLIMITED: [(&str, &str); 8] = [
    ("RATE_LIMIT_TIMEOUT_MS", "10000"),
    ("RATE_LIMIT_STRICT", "1000000"),
    ("RATE_LIMIT_DEFAULT", "1000000"),
    ("RATE_LIMIT_USER", "1000000"),
    ("RATE_LIMIT_TIER_FREE", "1000000"),
    ("RATE_LIMIT_TIER_PRO", "1000000"),
    ("RATE_LIMIT_TIER_ENTERPRISE", "1000000"),
    ("TASK_RATE_LIMIT", "1000000"),
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

/// The core state over `env`.
pub(crate) async fn app_with(env: &Env) -> AppState {
    AppState::from_env(env, "e2e", "0.0.0")
        .await
        .expect("test configuration")
}

/// A short unique suffix so tests sharing one emulator never collide.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
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
                // The template's projection, so a query reads what it reads deployed.
                .projection(gsi.projection().cloned().unwrap_or_else(|| {
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build()
                }))
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
