//! `bench-sdk`: the CPU of one DynamoDB call through the SDK, taken apart. The same `GetItem`,
//! `UpdateItem` and `BatchGetItem` go through the functions' client (built by
//! `shared::AppState`, exactly as a function builds it) and through a bare default client
//! (`aws_config::defaults` + `Client::new`), side by side, against three transports:
//!
//! - (a) an in-process mock HTTP client (no socket: the SDK's pipeline alone);
//! - (b) a kept-alive HTTP/1.1 server on loopback answering canned DynamoDB bodies, in a child
//!   process (DynamoDB keeps connections alive);
//! - (c) the emulator at `AWS_ENDPOINT_URL` (moto closes every connection: each call connects);
//! - (d) the server of (b) answering each request after 2 ms, about an in-region round trip:
//!   the client's thread parks for the wait, as a function's does, and wakes to a cold cache.
//!
//! CPU per call = this process's CPU time (the sum of its threads' `schedstat` run time, in ns)
//! over a batch of calls, divided by the batch; the median of several batches, interleaved across
//! clients so machine noise falls on both. Then the same with the functions' `tracing`
//! subscriber installed, and a profile of (b) by orchestrator phase (see `layers.rs`).
//!
//! Usage: `bench-sdk [--quick] [--json PATH] [--only a|b|c]`; `bench-sdk serve` is the canned
//! server. `--only` times one transport and nothing else (e.g. under `perf record`).
//! Numbers only, never pass or fail. `make bench MODE=sdk` runs it in release.

#![allow(clippy::print_stdout)] // A measurement tool: stdout is its output.

mod canned;
mod layers;
mod mock;
mod server;

use std::{collections::BTreeMap, time::Instant};

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use serde_json::{Value, json};

use canned::{Op, Tables, call};

struct Sizing {
    rounds: usize,
    mock: usize,
    server: usize,
    emulator: usize,
    profile: usize,
}

impl Sizing {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                rounds: 3,
                mock: 600,
                server: 400,
                emulator: 60,
                profile: 400,
            }
        } else {
            Self {
                rounds: 5,
                mock: 3000,
                server: 2000,
                emulator: 300,
                profile: 2000,
            }
        }
    }
}

/// This process's CPU so far, in ns: every live thread's run time (`/proc/self/task/*/schedstat`).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// µs of CPU per call over `n` calls.
async fn batch(client: &Client, tables: &Tables, op: Op, n: usize) -> anyhow::Result<f64> {
    let before = cpu_ns();
    for _ in 0..n {
        call(client, tables, op).await?;
    }
    Ok((cpu_ns() - before) as f64 / n as f64 / 1000.0)
}

/// Median µs per call for each client on each op; batches interleaved across clients.
async fn compare(
    clients: &[(&str, Client)],
    tables: &Tables,
    n: usize,
    rounds: usize,
) -> anyhow::Result<BTreeMap<&'static str, Vec<f64>>> {
    let mut out = BTreeMap::new();
    for op in Op::ALL {
        let mut samples = vec![Vec::new(); clients.len()];
        for (_, client) in clients {
            batch(client, tables, op, n / 10 + 5).await?; // warm-up: connection, caches
        }
        for _ in 0..rounds {
            for (i, (_, client)) in clients.iter().enumerate() {
                samples[i].push(batch(client, tables, op, n).await?);
            }
        }
        out.insert(op.name(), samples.into_iter().map(median).collect());
    }
    Ok(out)
}

fn with_transport(client: &Client, transport: &Transport) -> Client {
    let builder = client.config().to_builder();
    let config = match transport {
        Transport::Mock(mock) => builder.http_client(mock.clone()).build(),
        Transport::Server(url) => builder.endpoint_url(url).build(),
        Transport::Emulator => builder.build(),
    };
    Client::from_conf(config)
}

enum Transport {
    Mock(mock::MockDynamo),
    Server(String),
    Emulator,
}

fn print_table(title: &str, names: &[&str], rows: &BTreeMap<&'static str, Vec<f64>>) -> Value {
    println!("\n{title}");
    print!("  {:<14}", "op");
    for name in names {
        print!(" {name:>12}");
    }
    println!("   ratio");
    let mut json_rows = serde_json::Map::new();
    for op in Op::ALL {
        let Some(values) = rows.get(op.name()) else {
            continue;
        };
        print!("  {:<14}", op.name());
        for v in values {
            print!(" {v:>12.1}");
        }
        let ratio = values.last().copied().unwrap_or(f64::NAN) / values[0];
        println!("   {ratio:.2}x");
        let cells: serde_json::Map<String, Value> = names
            .iter()
            .zip(values)
            .map(|(n, v)| ((*n).to_owned(), json!(v)))
            .collect();
        json_rows.insert(op.name().to_owned(), Value::Object(cells));
    }
    Value::Object(json_rows)
}

/// The profile of (b): median ns per phase over `n` calls of each op, per client.
async fn profile(clients: &[(&str, Client)], tables: &Tables, n: usize) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for op in Op::ALL {
        println!("\n  {} (median µs per phase over {n} calls)", op.name());
        let mut per_client = Vec::new();
        for (name, client) in clients {
            let clock = layers::LayerClock::default();
            let timed = Client::from_conf(
                client
                    .config()
                    .to_builder()
                    .interceptor(clock.clone())
                    .build(),
            );
            let mut samples: Vec<[u64; 13]> = Vec::with_capacity(n);
            for i in 0..n + n / 10 {
                clock.take();
                let start = Instant::now();
                call(&timed, tables, op).await?;
                let end = Instant::now();
                if i >= n / 10 {
                    samples.extend(layers::phases(start, &clock.take(), end));
                }
            }
            let medians: Vec<f64> = (0..layers::PHASES.len())
                .map(|p| median(samples.iter().map(|s| s[p] as f64 / 1000.0).collect()))
                .collect();
            per_client.push((*name, medians));
        }
        print!("    {:<78}", "phase");
        for (name, _) in &per_client {
            print!(" {name:>10}");
        }
        println!();
        let mut phases = serde_json::Map::new();
        for (p, phase) in layers::PHASES.iter().enumerate() {
            print!("    {phase:<78}");
            let mut cells = serde_json::Map::new();
            for (name, medians) in &per_client {
                print!(" {:>10.1}", medians[p]);
                cells.insert((*name).to_owned(), json!(medians[p]));
            }
            println!();
            phases.insert((*phase).to_owned(), Value::Object(cells));
        }
        print!("    {:<78}", "sum of medians");
        for (_, medians) in &per_client {
            print!(" {:>10.1}", medians.iter().sum::<f64>());
        }
        println!();
        out.insert(op.name().to_owned(), Value::Object(phases));
    }
    Ok(Value::Object(out))
}

async fn run(quick: bool, json_path: Option<String>, only: Option<String>) -> anyhow::Result<()> {
    let sizing = Sizing::new(quick);
    let tables = Tables::from_env();
    let env = shared::Env::process();
    let app = shared::AppState::from_env(&env, "bench-sdk", env!("CARGO_PKG_VERSION")).await?;
    let functions = app.dynamo.clone();
    let bare = Client::new(&aws_config::defaults(BehaviorVersion::latest()).load().await);
    let emulator = app.config.aws.endpoint_url.clone();
    println!(
        "CPU per DynamoDB call (µs): this process's CPU over batches, median of {} batches; \
         current-thread runtime.\n  bare = aws_config::defaults + Client::new; functions = shared::AppState's client.",
        sizing.rounds
    );
    let server = server::Server::spawn(0)?;
    let slow = server::Server::spawn(2)?;
    let mut transports = vec![
        (
            "(a) in-process mock HTTP client",
            Transport::Mock(mock::MockDynamo::new(&tables)),
            sizing.mock,
        ),
        (
            "(b) kept-alive local server, canned answers",
            Transport::Server(server.url.clone()),
            sizing.server,
        ),
    ];
    if let Some(url) = &emulator {
        canned::seed(&bare, &tables).await?;
        transports.push((
            "(c) the emulator (closes every connection)",
            Transport::Emulator,
            sizing.emulator,
        ));
        println!("  emulator: {url}");
    } else {
        println!("  (c) skipped: no AWS_ENDPOINT_URL");
    }
    transports.push((
        "(d) the server of (b) answering after 2 ms",
        Transport::Server(slow.url.clone()),
        sizing.emulator,
    ));
    if let Some(only) = &only {
        transports.retain(|(title, _, _)| title.starts_with(&format!("({only})")));
        anyhow::ensure!(
            !transports.is_empty(),
            "--only {only}: no such transport (a, b or c)"
        );
    }
    let names = ["bare", "functions"];
    let mut report = serde_json::Map::new();
    for (title, transport, n) in &transports {
        let clients = [
            ("bare", with_transport(&bare, transport)),
            ("functions", with_transport(&functions, transport)),
        ];
        let rows = compare(&clients, &tables, *n, sizing.rounds).await?;
        let title = format!("{title}, {n} calls per batch");
        report.insert(title.clone(), print_table(&title, &names, &rows));
    }
    if only.is_some() {
        return Ok(());
    }
    let server_url = Transport::Server(server.url.clone());
    let clients = [
        ("bare", with_transport(&bare, &server_url)),
        ("functions", with_transport(&functions, &server_url)),
    ];
    println!(
        "\nProfile of (b) by orchestrator phase (wall time between the SDK's interceptor hooks; CPU but for transmit)"
    );
    let layers = profile(&clients, &tables, sizing.profile).await?;
    // Last: a global subscriber cannot be removed.
    shared::telemetry::init();
    let rows = compare(&clients, &tables, sizing.server, sizing.rounds).await?;
    let title =
        "(b) again, with the functions' tracing subscriber installed (shared::telemetry::init)"
            .to_owned();
    let traced = print_table(&title, &names, &rows);
    if let Some(path) = json_path {
        let out = json!({"transports": report, "with_subscriber": traced, "profile_b": layers});
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    drop(server);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("serve") {
        let delay_ms = args.get(1).and_then(|d| d.parse().ok()).unwrap_or(0);
        return runtime.block_on(server::serve(delay_ms));
    }
    let quick = args.iter().any(|a| a == "--quick");
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    runtime.block_on(run(quick, json_path, only))
}
