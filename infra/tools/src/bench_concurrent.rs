//! `bench-concurrent`: the Lambda Managed Instances figures of `make bench` (`MODE=mi`).
//! `GET /api/v1/users/me` at a fixed number of requests in flight per vCPU against one `users`
//! process, in Lambda mode: a runtime API stub in this process hands out the events and the
//! function runs with `AWS_LAMBDA_MAX_CONCURRENCY` set to the number in flight, so it polls
//! with `run_concurrent` on a multi-thread runtime (shared/core/src/runtime.rs), as it does on a
//! capacity provider. Lambda mode rather than plain HTTP: the runtime loop and its concurrency
//! are what Managed Instances change, and plain HTTP would not run them.
//!
//! ```text
//! bench-concurrent --bootstrap target/lambda-host/users/bootstrap
//!     [--per-vcpu 8] [--vcpus <available CPUs>] [--seconds 10] [--warmup 2]
//!     [--event events/users/me.json]
//! ```
//!
//! - `--per-vcpu`: requests in flight per vCPU (8: Lambda's default for Rust functions);
//! - `--vcpus`: the vCPUs to count (this machine's by default); in flight = per-vcpu × vcpus;
//! - `--seconds`, `--warmup`: measured time, and time driven first and not counted;
//! - `--event`: the API Gateway event sent, `{{ACCESS_TOKEN}}` filled in.
//!
//! The environment is the emulator's, as `make bench` exports it (AWS_ENDPOINT_URL, the tables
//! and secrets, the rate limits lifted); the function inherits it. `ACCESS_TOKEN` set: that
//! token is used (with `ACCESS_USERNAME`, its user's name); unset: an account is signed up
//! through the auth router in this process. Every 200 must name that user: concurrent requests
//! share one process, and none may see another's state.
//!
//! Prints the figures, then one JSON line (`{"bench":"concurrent",...}`) for bench.py. The
//! stub and the clients share this machine's CPUs with the function, so two rates are given:
//! wall-clock requests per second divided by the vCPUs, and requests per second of the
//! function's own CPU time (what one fully used vCPU serves). Answers other than 200 are counted,
//! and a run with any fails.

#![allow(clippy::print_stdout)] // A measurement tool: stdout is its output.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::ListenerExt as _,
};
use serde_json::Value;
use shared::{AppState, Env};
use tokio::sync::{mpsc, oneshot};
use tower::ServiceExt as _;

/// Linux reports process CPU time in these ticks per second (`USER_HZ`, fixed by the ABI).
const TICKS_PER_SECOND: f64 = 100.0;

struct Options {
    bootstrap: PathBuf,
    per_vcpu: usize,
    vcpus: usize,
    seconds: f64,
    warmup: f64,
    event: PathBuf,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Self {
            bootstrap: PathBuf::new(),
            per_vcpu: 8,
            vcpus: std::thread::available_parallelism().map_or(1, usize::from),
            seconds: 10.0,
            warmup: 2.0,
            event: PathBuf::from("events/users/me.json"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--bootstrap" => options.bootstrap = value()?.into(),
                "--per-vcpu" => options.per_vcpu = value()?.parse()?,
                "--vcpus" => options.vcpus = value()?.parse()?,
                "--seconds" => options.seconds = value()?.parse()?,
                "--warmup" => options.warmup = value()?.parse()?,
                "--event" => options.event = value()?.into(),
                other => bail!("unknown argument {other} (see the top of bench_concurrent.rs)"),
            }
        }
        if options.bootstrap.as_os_str().is_empty() {
            bail!("--bootstrap <path to the users bootstrap> is required");
        }
        if options.per_vcpu == 0 || options.vcpus == 0 || options.seconds <= 0.0 {
            bail!("--per-vcpu, --vcpus and --seconds must be above zero");
        }
        Ok(options)
    }
}

/// An invocation's answer: whether the function reported success, and what it sent.
type Answer = (bool, Bytes);

/// The runtime API stub's state: events waiting for a `/next`, invocations waiting for an answer.
struct Stub {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

impl Stub {
    fn answer(&self, id: &str, answer: Answer) -> StatusCode {
        let sender = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        match sender {
            Some(sender) => {
                // The client may have stopped waiting at the end of the run.
                let _ = sender.send(answer);
                StatusCode::ACCEPTED
            }
            None => StatusCode::NOT_FOUND,
        }
    }
}

async fn next(State(stub): State<Arc<Stub>>) -> Response {
    let Some((id, event)) = stub.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .body(Body::from(event))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn response(
    State(stub): State<Arc<Stub>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    stub.answer(&id, (true, body))
}

async fn error(State(stub): State<Arc<Stub>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    stub.answer(&id, (false, body))
}

async fn init_error(body: Bytes) -> StatusCode {
    println!(
        "the function failed its init: {}",
        String::from_utf8_lossy(&body)
    );
    std::process::exit(1);
}

/// Starts the stub on loopback; returns its address and the way to hand it events.
async fn start_stub() -> anyhow::Result<(String, Arc<Stub>, mpsc::UnboundedSender<(String, Bytes)>)>
{
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let stub = Arc::new(Stub {
        events: tokio::sync::Mutex::new(events_rx),
        waiting: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(stub.clone());
    // TCP_NODELAY: without it, Nagle's algorithm and delayed ACKs add a wait to every answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, stub, events_tx))
}

/// An access token and its user's name: `ACCESS_TOKEN` and `ACCESS_USERNAME`, or a new
/// account's from the auth router.
async fn access_token() -> anyhow::Result<(String, String)> {
    if let (Ok(token), Ok(username)) = (
        std::env::var("ACCESS_TOKEN"),
        std::env::var("ACCESS_USERNAME"),
    ) {
        return Ok((token, username));
    }
    let env = Env::process();
    let state = AppState::from_env(&env, "bench-concurrent", env!("CARGO_PKG_VERSION")).await?;
    let app = auth::router(auth::init(state, env).await?);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let username = format!("mi_{tag}");
    let signup = serde_json::json!({
        "username": username,
        "email": format!("mi_{tag}@example.com"),
        "password": "managed instances horse battery",
        "first_name": "Managed",
        "last_name": "Instances",
    });
    let request = Request::post("/api/v1/auth/signup")
        .header("content-type", "application/json")
        .body(Body::from(signup.to_string()))?;
    let reply = app.oneshot(request).await?;
    let status = reply.status();
    let body = axum::body::to_bytes(reply.into_body(), 1 << 20).await?;
    if status != StatusCode::CREATED {
        bail!(
            "signup answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let tokens: Value = serde_json::from_slice(&body)?;
    let token = tokens["access_token"]
        .as_str()
        .context("signup answered no access_token")?;
    Ok((token.to_owned(), username))
}

/// utime + stime of every thread the process has had, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("an unreadable /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("a short /proc stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// The function process, killed when dropped.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the clients saw over the measured time.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    refused: u64,
    first_refusal: Option<String>,
}

/// One client: sends the event, waits for its answer, again, until `stop`; counts only the
/// answers to requests sent after `measure_from`. A 200 naming another user than `username`
/// counts as refused.
async fn client(
    username: &str,
    stub: Arc<Stub>,
    events: mpsc::UnboundedSender<(String, Bytes)>,
    event: Bytes,
    measure_from: Instant,
    stop: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    while Instant::now() < stop {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        stub.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), tx);
        let sent = Instant::now();
        events
            .send((id, event.clone()))
            .ok()
            .context("the stub stopped")?;
        let (ok, body) = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .context("no answer within 30 s")?
            .context("the stub dropped an invocation")?;
        let took = sent.elapsed();
        if sent < measure_from {
            continue;
        }
        let reply = if ok {
            serde_json::from_slice::<Value>(&body).ok()
        } else {
            None
        };
        let status = reply.as_ref().and_then(|r| r["statusCode"].as_u64());
        // Concurrent requests share the process: each must still get its own token's user.
        let user = reply
            .as_ref()
            .and_then(|r| r["body"].as_str())
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .and_then(|b| b["username"].as_str().map(str::to_owned));
        if status == Some(200) && user.as_deref() == Some(username) {
            tally.latencies.push(took);
        } else {
            tally.refused += 1;
            tally
                .first_refusal
                .get_or_insert_with(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let in_flight = options.per_vcpu * options.vcpus;
    let template = std::fs::read_to_string(&options.event)
        .with_context(|| format!("reading {}", options.event.display()))?;
    let (token, username) = access_token().await?;
    // Leaked once: every client borrows it for the whole run.
    let username: &'static str = Box::leak(username.into_boxed_str());
    let event = Bytes::from(template.replace("{{ACCESS_TOKEN}}", &token));

    let (address, stub, events) = start_stub().await?;
    let function = Function(
        Command::new(&options.bootstrap)
            .env("AWS_LAMBDA_RUNTIME_API", &address)
            .env("AWS_LAMBDA_MAX_CONCURRENCY", in_flight.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
            .env_remove("LOCAL_HTTP_ADDR")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", options.bootstrap.display()))?,
    );
    let pid = function.0.id();

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(options.warmup);
    let stop = measure_from + Duration::from_secs_f64(options.seconds);
    let clients: Vec<_> = (0..in_flight)
        .map(|_| {
            tokio::spawn(client(
                username,
                stub.clone(),
                events.clone(),
                event.clone(),
                measure_from,
                stop,
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = cpu_seconds(pid)?;
    let mut tally = Tally::default();
    for handle in clients {
        let one = handle.await??;
        tally.latencies.extend(one.latencies);
        tally.refused += one.refused;
        if tally.first_refusal.is_none() {
            tally.first_refusal = one.first_refusal;
        }
    }
    let wall = measure_from.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu_before;
    drop(function);

    tally.latencies.sort();
    let served = tally.latencies.len() as f64;
    let per_second = served / wall;
    let per_vcpu = per_second / options.vcpus as f64;
    let cpu_us = cpu / served * 1e6;
    let per_cpu_second = served / cpu;
    let (p50, p99) = (
        percentile(&tally.latencies, 50.0),
        percentile(&tally.latencies, 99.0),
    );
    println!(
        "GET /api/v1/users/me, Lambda mode (runtime API stub, run_concurrent, AWS_LAMBDA_MAX_CONCURRENCY={in_flight}): \
         {} per vCPU × {} vCPUs in flight, {:.1} s measured after {:.1} s",
        options.per_vcpu, options.vcpus, wall, options.warmup
    );
    println!(
        "  answered 200: {served:.0}, other: {} (the stub and clients share the CPUs with the function)",
        tally.refused
    );
    println!("  requests per second: {per_second:.0} wall, {per_vcpu:.0} per vCPU (wall ÷ vCPUs)");
    println!(
        "  function CPU: {cpu_us:.0} µs per request, {per_cpu_second:.0} requests per second of one fully used vCPU"
    );
    println!("  latency: p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!(
        "{}",
        serde_json::json!({
            "bench": "concurrent",
            "mode": "lambda",
            "route": "GET /api/v1/users/me",
            "per_vcpu": options.per_vcpu,
            "vcpus": options.vcpus,
            "in_flight": in_flight,
            "seconds": wall,
            "ok": served,
            "refused": tally.refused,
            "rps": per_second,
            "rps_per_vcpu": per_vcpu,
            "cpu_us_per_request": cpu_us,
            "rps_per_cpu_second": per_cpu_second,
            "p50_ms": p50,
            "p99_ms": p99,
        })
    );
    if tally.refused > 0 {
        bail!(
            "{} answers were not 200; the first: {}",
            tally.refused,
            tally.first_refusal.unwrap_or_default()
        );
    }
    Ok(())
}
