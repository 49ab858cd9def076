//! `/health`, `/health/liveness`, `/health/readiness`.
//!
//! Readiness calls every dependency this function is configured with, concurrently, each under
//! the readiness budget, so a dead emulator or region answers 503 in about that budget. A round's
//! results are reused for `HEALTH_CACHE_SECONDS` ([`crate::cache`]). The webhook secret is the
//! one value it reads: a webhook source left at a placeholder is named, so that a stack that
//! would answer a sender 503 is not reported ready.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;
use shared::{AppState, Routes, Table, clock::now_rfc3339, extract::Json};

/// The version reported by `/health`: this crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The three probes.
pub fn routes() -> Routes<crate::State> {
    Routes::new()
        .get("/health", health)
        .get("/health/liveness", liveness)
        .get("/health/readiness", readiness)
}

/// The outcome of one dependency check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `service:role`, e.g. `dynamodb:users`; never the resource's real name.
    pub name: String,
    /// `ok` or `fail`.
    pub status: &'static str,
    /// Time the check took.
    pub latency_ms: u64,
    /// Why it failed: `timeout`, `unreachable`, or the AWS error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `/health/readiness`: one entry per dependency checked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    status: &'static str,
    timestamp: String,
    version: &'static str,
    checks: Vec<Check>,
}

/// The body of `/health` and `/health/liveness`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    timestamp: String,
    version: &'static str,
}

/// Liveness: the process answers. Touches no dependency.
#[utoipa::path(get, path = "/health/liveness", tag = "health",
    responses((status = 200, description = "Alive (`status: alive`)", body = Health)))]
pub async fn liveness() -> Json<Health> {
    Json(Health {
        status: "alive",
        timestamp: now_rfc3339(),
        version: VERSION,
    })
}

/// Health: every dependency checked, summed up.
#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "Every dependency answers (`status: healthy`)", body = Health),
    (status = 503, description = "A dependency fails (`status: unhealthy`)", body = Health)))]
pub async fn health(State(state): State<AppState>, State(probes): State<Probes>) -> Response {
    let checks = probes.get_or_probe(|| run_checks(&state)).await;
    let healthy = checks.iter().all(|c| c.error.is_none());
    let body = Health {
        status: if healthy { "healthy" } else { "unhealthy" },
        timestamp: now_rfc3339(),
        version: VERSION,
    };
    (status_for(healthy), Json(body)).into_response()
}

/// Readiness: one entry per dependency checked, concurrently, within the readiness budget.
#[utoipa::path(get, path = "/health/readiness", tag = "health", responses(
    (status = 200, description = "Ready: every check `ok`", body = Readiness),
    (status = 503, description = "Not ready: the failed checks are named", body = Readiness)))]
pub async fn readiness(State(state): State<AppState>, State(probes): State<Probes>) -> Response {
    let checks = probes.get_or_probe(|| run_checks(&state)).await;
    let ready = checks.iter().all(|c| c.error.is_none());
    for failed in checks.iter().filter(|c| c.error.is_some()) {
        tracing::warn!(check = %failed.name, error = ?failed.error, "readiness check failed");
    }
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        timestamp: now_rfc3339(),
        version: VERSION,
        checks: checks.to_vec(),
    };
    (status_for(ready), Json(body)).into_response()
}

fn status_for(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The cache of the last round, shared by `/health` and `/health/readiness`.
type Probes = Arc<crate::cache::ProbeCache<Vec<Check>>>;

type Probe = BoxFuture<'static, Result<(), String>>;

/// One probe per configured dependency, all run at once under the readiness budget.
pub async fn run_checks(state: &AppState) -> Vec<Check> {
    let budget = state.config.readiness_timeout;
    let resources = &state.config.resources;
    let mut probes: Vec<(String, Probe)> = Vec::new();

    for (table, name) in &resources.tables {
        let client = state.dynamo.clone();
        let name = name.clone();
        probes.push((
            format!("dynamodb:{}", Table::as_str(*table)),
            Box::pin(async move {
                client
                    .describe_table()
                    .table_name(name)
                    .send()
                    .await
                    .map(drop)
                    .map_err(classify)
            }),
        ));
    }
    if let Some(bucket) = resources.bucket.clone() {
        let client = state.s3.clone();
        probes.push((
            "s3:uploads".to_owned(),
            Box::pin(async move {
                client
                    .head_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .map(drop)
                    .map_err(classify)
            }),
        ));
    }
    let mut webhook_secrets = None;
    for (role, id) in &resources.secrets {
        if *role == WEBHOOK_SECRETS {
            webhook_secrets = Some(id.clone());
            continue;
        }
        let id = id.clone();
        let client = state.secrets.clone();
        probes.push((
            format!("secretsmanager:{role}"),
            Box::pin(async move {
                // DescribeSecret proves the secret exists without fetching its value.
                client
                    .describe_secret()
                    .secret_id(id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(classify)
            }),
        ));
    }
    let ses = state.ses.clone();
    probes.push(match resources.mail_from.clone() {
        Some(from) => (
            "ses:sender_identity".to_owned(),
            Box::pin(async move {
                ses.get_email_identity()
                    .email_identity(from)
                    .send()
                    .await
                    .map(drop)
                    .map_err(classify)
            }),
        ),
        None => (
            "ses:account".to_owned(),
            Box::pin(async move { ses.get_account().send().await.map(drop).map_err(classify) }),
        ),
    });

    let webhooks = async {
        match webhook_secrets {
            Some(id) => webhook_checks(state, id, budget).await,
            None => Vec::new(),
        }
    };
    let (mut checks, webhooks) = tokio::join!(
        join_all(
            probes
                .into_iter()
                .map(|(name, probe)| timed(name, probe, budget)),
        ),
        webhooks
    );
    checks.extend(webhooks);
    checks
}

/// The role of the webhook secret in `Resources::secrets`.
const WEBHOOK_SECRETS: &str = "webhook_secrets";

/// The webhook secret is read, not only described: `secretsmanager:webhook_secrets` as for
/// every secret, then a failed `webhooks:<source>` check (`not_configured`) per source it names
/// with only empty or placeholder values (`hooks::is_placeholder`; those sources answer 503),
/// or `webhooks:secrets` (`invalid`) when it does not parse (every delivery answers 500). Names
/// only: no value, not even a configured source's name, is shown.
async fn webhook_checks(state: &AppState, id: String, budget: Duration) -> Vec<Check> {
    let started = Instant::now();
    let read = state.secrets.get_secret_value().secret_id(id).send();
    let read = tokio::time::timeout(budget, read).await;
    let (error, value) = match read {
        Ok(Ok(out)) => (None, out.secret_string),
        Ok(Err(err)) => (Some(classify(err)), None),
        Err(_) => (Some("timeout".to_owned()), None),
    };
    let mut checks = vec![Check {
        name: format!("secretsmanager:{WEBHOOK_SECRETS}"),
        status: if error.is_none() { "ok" } else { "fail" },
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }];
    let failed = |name: String, error: &str| Check {
        name,
        status: "fail",
        latency_ms: 0,
        error: Some(error.to_owned()),
    };
    if let Some(value) = value {
        match hooks::WebhookSecrets::parse(&value) {
            Ok(secrets) => checks.extend(
                (secrets.unconfigured.iter())
                    .map(|source| failed(format!("webhooks:{source}"), "not_configured")),
            ),
            Err(_) => checks.push(failed("webhooks:secrets".to_owned(), "invalid")),
        }
    }
    checks
}

async fn timed(name: String, probe: Probe, budget: Duration) -> Check {
    let started = Instant::now();
    let error = match tokio::time::timeout(budget, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(reason)) => Some(reason),
        Err(_) => Some("timeout".to_owned()),
    };
    Check {
        name,
        status: if error.is_none() { "ok" } else { "fail" },
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// Reduces an SDK error to a short, non-sensitive reason for the response body.
fn classify<E, R>(err: shared::error::SdkError<E, R>) -> String
where
    E: shared::error::ProvideErrorMetadata,
{
    use shared::error::SdkError;
    match err {
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable".to_owned(),
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service_error").to_owned(),
        _ => "bad_response".to_owned(),
    }
}
