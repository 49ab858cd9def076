//! Replays every `events/<function>/<case>.json` (an API Gateway REST v1 proxy event) through
//! that function's router, exactly as `lambda_http` would hand it over on Lambda, and checks the
//! response against the sidecar `<case>.expect.json`:
//! `{"status": 200, "headers": {"x-request-id": "..."}, "body_contains": ["..."]}`.
//!
//! One test per event file: adding a file adds a test; a file without a sidecar fails. A sidecar's
//! `"env": {"VAR": "value"}` sets variables for its event only (the harness otherwise lifts the
//! rate limits, so that events sharing a client address never meet them).
//!
//! Events that need an account declare `"setup": "user"` (or `"admin"`) in the sidecar; the
//! harness signs one up and substitutes `{{ACCESS_TOKEN}}`, `{{REFRESH_TOKEN}}`, `{{USERNAME}}`,
//! `{{EMAIL}}`, `{{PASSWORD}}` and `{{USER_ID}}` in the event. `{{UNIQUE}}` is always replaced by
//! a fresh suffix, so signup events can be replayed against the same emulator.
//!
//! Upload events add `"upload": "created" | "posted-png" | "posted-html" | "ready"` to a setup:
//! the harness takes an upload of that account that far (created; its form posted with a PNG or
//! an HTML page declared as PNG; completed) and substitutes `{{UPLOAD_ID}}`.
//!
//! Webhook events are signed at replay time with the local secrets (their timestamps must be
//! recent): `{{WEBHOOK_TIMESTAMP}}` is now plus the sidecar's `"timestamp_offset"` (seconds,
//! default 0), and with `"sign": "github" | "stripe" | "standard" | "rsa"`,
//! `{{WEBHOOK_SIGNATURE}}` is that scheme's signature header value over the event's body (decoded
//! first when `isBase64Encoded`).
//!
//! `events/jobs/` holds SQS events instead (`{"Records": [...]}`, as the event source mapping
//! hands a batch to the job worker), run through `jobs::process` with the worker built as its
//! `main` builds it, over a queue pair of the event's own (`e2e::TestQueues`: what one event
//! moves to the dead-letter queue is all that is there). Its sidecar says which messages the
//! worker reports as failed, by `messageId`, and how many it moved to the dead-letter queue:
//! `{"batch_item_failures": ["<messageId>"], "dead_letters": 1}` (`dead_letters` optional). Its
//! `"env"` values may name the queues, `{{QUEUE_URL}}` and `{{DEAD_LETTER_QUEUE_URL}}`.
//! `{{UNIQUE}}` makes each replay's job ids new, so the idempotency records of a previous replay
//! never turn a job into a duplicate; for that reason the events carry no `md5OfBody`, which the
//! worker does not read and which would no longer match.

use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use tower::ServiceExt;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let trials = match discover(&root) {
        Ok(cases) => cases
            .into_iter()
            .map(|(function, event)| {
                let name = format!(
                    "{function}::{}",
                    event.file_stem().and_then(|s| s.to_str()).unwrap_or("?")
                );
                Trial::test(name, move || replay(&function, &event))
            })
            .collect(),
        Err(err) => vec![Trial::test("discover_events", move || Err(err.into()))],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn discover(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut cases = Vec::new();
    let dirs = std::fs::read_dir(root).map_err(|e| format!("reading {}: {e}", root.display()))?;
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        let function = dir.file_name().to_string_lossy().into_owned();
        let files = std::fs::read_dir(dir.path()).map_err(|e| e.to_string())?;
        for file in files.flatten() {
            let path = file.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".json") && !name.ends_with(".expect.json") {
                cases.push((function.clone(), path));
            }
        }
    }
    cases.sort();
    if cases.is_empty() {
        return Err(format!("no events under {}", root.display()));
    }
    Ok(cases)
}

/// The signature header value of the webhook event `text` (placeholders other than the
/// signature already replaced), made with the local secret of `provider`.
fn webhook_signature(provider: &str, text: &str, timestamp: i64) -> Result<String, String> {
    use base64::Engine as _;
    use e2e::webhook_api::{GITHUB_SECRET, STANDARD_SECRET, STRIPE_SECRET, rsa_sign};
    let event: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let raw = event["body"].as_str().unwrap_or_default();
    let body = if event["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| e.to_string())?
    } else {
        raw.as_bytes().to_vec()
    };
    let header = |name: &str| {
        event["headers"]
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("the event has no {name} header"))
    };
    Ok(match provider {
        "github" => hooks::github::sign(GITHUB_SECRET, &body),
        "stripe" => hooks::stripe::sign(STRIPE_SECRET, timestamp, &body),
        "standard" => {
            hooks::standard::sign(STANDARD_SECRET, &header("webhook-id")?, timestamp, &body)
                .map_err(|e| e.to_string())?
        }
        "rsa" => rsa_sign(&hooks::rsa::signed_content(
            &header("x-webhook-id")?,
            timestamp,
            &body,
        )),
        other => return Err(format!("unknown signer {other:?}")),
    })
}

/// The event's sidecar, `<case>.expect.json`.
fn sidecar(event: &Path) -> Result<Value, Failed> {
    let sidecar = event.with_extension("expect.json");
    let text = std::fs::read_to_string(&sidecar).map_err(|e| {
        format!(
            "{}: missing sidecar ({e}); declare what the function answers",
            sidecar.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// The sidecar's `"env"`, each value with `placeholders` replaced.
fn sidecar_env(expect: &Value, placeholders: &[(&str, &str)]) -> Vec<(String, String)> {
    let vars = expect["env"].as_object().into_iter().flatten();
    vars.map(|(k, v)| {
        let value = v.as_str().unwrap_or_default();
        let value = placeholders
            .iter()
            .fold(value.to_owned(), |value, (from, to)| {
                value.replace(from, to)
            });
        (k.clone(), value)
    })
    .collect()
}

fn replay(function: &str, event: &Path) -> Result<(), Failed> {
    // The one function whose events are not API Gateway's: the job worker, with SQS batches.
    match function {
        "jobs" => replay_jobs(event),
        _ => replay_http(function, event),
    }
}

/// An SQS batch through the job worker, over queues of its own.
fn replay_jobs(event: &Path) -> Result<(), Failed> {
    use aws_lambda_events::sqs::SqsEvent;
    let expect = sidecar(event)?;
    let mut want_failures: Vec<&str> = expect["batch_item_failures"]
        .as_array()
        .ok_or("sidecar needs \"batch_item_failures\": the messageIds the worker fails")?
        .iter()
        .map(|id| id.as_str().ok_or("a messageId is a string"))
        .collect::<Result<_, _>>()?;
    want_failures.sort_unstable();
    let text = std::fs::read_to_string(event)?.replace("{{UNIQUE}}", &e2e::unique());
    let batch: SqsEvent = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not an SQS event: {e}", event.display()))?;
    if batch.records.is_empty() {
        return Err("an SQS event has at least one record (Lambda never sends none)".into());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut failures, dead_letters) = runtime.block_on(async {
        let app = e2e::emulator_state().await;
        let queues = e2e::TestQueues::create(&app, 5, 30).await;
        let placeholders = [
            ("{{QUEUE_URL}}", queues.url.as_str()),
            ("{{DEAD_LETTER_QUEUE_URL}}", queues.dead_letter_url.as_str()),
        ];
        // The sidecar's variables first: the first of a name wins.
        let mut vars = sidecar_env(&expect, &placeholders);
        vars.extend(queues.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let worker = jobs::init(app, e2e::emulator_env(&vars))
            .await
            .map_err(|e| format!("worker init: {e:#}"))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        // The invocation's deadline, as Lambda gives it: the worker's 30 s timeout from now.
        let deadline = u64::try_from(now.as_millis())? + 30_000;
        let response = jobs::process(&worker, batch.clone(), deadline).await;
        let failures: Vec<String> = (response.batch_item_failures.into_iter())
            .map(|f| f.item_identifier)
            .collect();
        Ok::<_, Failed>((failures, queues.dead_letters().await))
    })?;

    failures.sort_unstable();
    if failures != want_failures {
        return Err(format!(
            "batchItemFailures {failures:?}, expected {want_failures:?} (see the worker's log)"
        )
        .into());
    }
    if let Some(want) = expect["dead_letters"].as_u64() {
        let moved = u64::try_from(dead_letters.len())?;
        if moved != want {
            return Err(
                format!("{moved} messages in the dead-letter queue, expected {want}").into(),
            );
        }
    }
    // What reached the dead-letter queue came from the batch, as it was sent.
    for dead in &dead_letters {
        let came = batch.records.iter().any(|r| r.body == dead.body);
        if !came {
            return Err(format!("dead letter {:?} is not a body of the batch", dead.body).into());
        }
    }
    Ok(())
}

/// An API Gateway event through its function's router.
fn replay_http(function: &str, event: &Path) -> Result<(), Failed> {
    let expect = sidecar(event)?;
    let want_status = expect["status"]
        .as_u64()
        .ok_or("sidecar needs a numeric \"status\"")?;
    if std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_err() {
        return Err(
            "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH must be set (see .cargo/config.toml)".into(),
        );
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, headers, body) = runtime.block_on(async {
        let mut text = std::fs::read_to_string(event).map_err(|e| e.to_string())?;
        text = text.replace("{{UNIQUE}}", &e2e::unique());
        if let Some(role) = expect["setup"].as_str() {
            let uploads = e2e::upload_api::UploadsApi::start().await;
            let identity = &uploads.identity;
            let account = match role {
                "admin" => identity.admin().await,
                "user" => identity.signup().await,
                other => return Err(format!("unknown setup {other:?}")),
            };
            if let Some(stage) = expect["upload"].as_str() {
                use e2e::upload_api::{HTML, PNG, Stage};
                let stage = match stage {
                    "created" => Stage::Created,
                    "posted-png" => Stage::Posted(PNG),
                    "posted-html" => Stage::Posted(HTML),
                    "ready" => Stage::Ready,
                    other => return Err(format!("unknown upload stage {other:?}")),
                };
                let id = uploads.arrange(&account, stage).await;
                text = text.replace("{{UPLOAD_ID}}", &id);
            }
            for (placeholder, value) in [
                ("{{ACCESS_TOKEN}}", &account.access),
                ("{{REFRESH_TOKEN}}", &account.refresh),
                ("{{USERNAME}}", &account.username),
                ("{{EMAIL}}", &account.email),
                ("{{PASSWORD}}", &account.password),
                ("{{USER_ID}}", &account.id),
            ] {
                text = text.replace(placeholder, value);
            }
        }
        let offset = expect["timestamp_offset"].as_i64().unwrap_or(0);
        let timestamp = e2e::webhook_api::now() + offset;
        text = text.replace("{{WEBHOOK_TIMESTAMP}}", &timestamp.to_string());
        if let Some(provider) = expect["sign"].as_str() {
            let signature = webhook_signature(provider, &text, timestamp)?;
            text = text.replace("{{WEBHOOK_SIGNATURE}}", &signature);
        }
        let request = lambda_http::request::from_str(&text)
            .map_err(|e| format!("{} is not a valid API Gateway event: {e}", event.display()))?;
        // A sidecar may set variables for its event (e.g. a rate limit whose headers it shows).
        let vars: Vec<(String, String)> = expect["env"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let env = e2e::emulator_env(&vars);
        let app = e2e::emulator_state().await;
        let response = e2e::router_for(function, app, env)
            .await
            .oneshot(request)
            .await
            .map_err(|e| format!("router error: {e}"))?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok::<_, String>((
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    })?;

    if u64::from(status.as_u16()) != want_status {
        return Err(format!("status {status}, expected {want_status}; body: {body}").into());
    }
    if !headers.contains_key("x-request-id") {
        return Err("response has no X-Request-ID".into());
    }
    if let Some(want) = expect["headers"].as_object() {
        for (name, value) in want {
            let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if got != value.as_str() {
                return Err(format!("header {name}: got {got:?}, expected {value}").into());
            }
        }
    }
    if let Some(needles) = expect["body_contains"].as_array() {
        for needle in needles.iter().filter_map(Value::as_str) {
            if !body.contains(needle) {
                return Err(format!("body lacks {needle:?}: {body}").into());
            }
        }
    }
    if status.is_client_error() || status.is_server_error() {
        // Every error our code returns is the envelope (readiness's 503 has its own contract).
        let json: Value =
            serde_json::from_str(&body).map_err(|_| format!("error body is not JSON: {body}"))?;
        if json.get("error_code").is_none() && json.get("checks").is_none() {
            return Err(format!("error body is not the envelope: {body}").into());
        }
    }
    Ok(())
}
