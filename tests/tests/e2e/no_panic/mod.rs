//! No client input can make a function answer 500: a seeded property test over every route.
//!
//! A panic is a bug whatever the build does with it (release builds unwind, and the shared layer
//! stack's `CatchPanicLayer` answers it as a 500 envelope while the sandbox lives on): the
//! extractors and handlers must turn *anything* a client sends into a 4xx envelope. So "no
//! panic" is observable here as "no 500 from any request".
//!
//! The test builds every function's router the way its `main` does and sends it `NO_PANIC_CASES`
//! (default 600) generated requests: real routes with their `{param}`s filled with hostile
//! strings, wrong methods, random paths; hostile `Content-Type`, `Authorization` (forged JWTs,
//! bent real tokens, opaque bytes), `Cookie` and `X-Request-ID` headers; bodies shaped like the
//! route's with wrong types, edge-case values, huge numbers, deep nesting, trailing garbage, odd
//! form escapes, invalid UTF-8; hostile query strings. To get past authentication and validation
//! too, some requests carry the tokens of live accounts (a user, an admin, and a victim for the
//! routes that end sessions or accounts, replaced when a case ends it) and plausible bodies.
//!
//! Every answer must be below 500 (503 is tolerated: a dependency being down is not a client's
//! doing; the summary lists the cases that got one), and every error answer must be the JSON
//! envelope with `error_code` and `request_id` (health's own 503 bodies, and HEAD answers, which
//! have no body, excepted). A request that gets no answer within 30 s fails too.
//!
//! The generator is a fixed-seed xorshift64* PRNG, so a run is reproducible: a failure prints
//! the seed, the case index, the request and the answer. `NO_PANIC_SEED` (decimal or `0x` hex)
//! explores other seeds, `NO_PANIC_CASE=<index>` replays one case (the same request, but for the
//! live accounts' ids and tokens), `NO_PANIC_CONCURRENCY` (default 8; 1 for strictly sequential
//! runs) bounds the requests in flight. Case `i` is the same for any `NO_PANIC_CASES > i`.
//!
//! The modules: [`rng`] (the PRNG), [`accounts`] (the live accounts, the markers that stand for
//! their credentials in a case, and their replacement when a case ends one), [`generate`] (the
//! cases) and [`run`] (sending a case, the verdict on its answer, the summary).

// Helpers outside the #[test] fn: a broken set-up must stop the test loudly, and the summary is
// what `--nocapture` is for.
#![allow(clippy::expect_used, clippy::panic, clippy::print_stdout)]

mod accounts;
mod generate;
mod rng;
mod run;

use std::time::{Duration, Instant};

use axum::{Router, body::Body};
use e2e::Identity;
use futures::StreamExt as _;
use http::{Method, Request};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::no_panic::{
    accounts::{Accounts, Live, Samples},
    generate::{Case, Gen},
    run::Outcome,
};

/// The fixed seed: change it only on purpose (and then keep the new one).
const DEFAULT_SEED: u64 = 0x5EED_0BAD_F00D_0001;
const DEFAULT_CASES: usize = 600;
const DEFAULT_CONCURRENCY: usize = 8;
/// A request that takes this long is a finding too (a hang is as bad as a crash).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many failures are printed in full.
const SHOWN_FAILURES: usize = 5;
/// Longest generated path (before the query string).
const MAX_PATH: usize = 8 * 1024;
/// `MAX_BODY_BYTES` default (`shared::config::DEFAULT_MAX_BODY_BYTES`): bodies around it.
const BODY_LIMIT: usize = 1024 * 1024;

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim();
    let parsed = match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => raw.replace('_', "").parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={raw}: not a number: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_input_makes_any_function_answer_500() {
    let seed = env_number("NO_PANIC_SEED").unwrap_or(DEFAULT_SEED);
    let count = env_number("NO_PANIC_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_number("NO_PANIC_CASE").map(|n| n as usize);
    let concurrency = env_number("NO_PANIC_CONCURRENCY")
        .map_or(DEFAULT_CONCURRENCY, |n| n as usize)
        .max(1);
    let started = Instant::now();

    let mut routers = Vec::new();
    let mut routes = Vec::new();
    for &name in e2e::FUNCTIONS {
        let router =
            e2e::router_for(name, e2e::emulator_state().await, e2e::emulator_env(&[])).await;
        routers.push((name, router));
        let table = e2e::routes_for(name).expect("route table of every function");
        routes.extend(table.into_iter().map(|route| (name, route)));
    }
    let id = Identity::start().await;
    let accounts = Accounts::make(&id).await;
    let samples = Samples::take(&id, &accounts).await;
    let live = Live::new(accounts);

    let mut generator = Gen::new(seed, &routes, e2e::FUNCTIONS, &samples);
    let last = only.map_or(count, |i| i + 1);
    let cases: Vec<Case> = (0..last)
        .map(|i| generator.case(i))
        .filter(|case| only.is_none_or(|i| case.index == i))
        .collect();
    let set_up = started.elapsed();

    let outcomes: Vec<Outcome> = futures::stream::iter(
        cases
            .iter()
            .map(|case| run::run(case, &routers, &id, &live)),
    )
    .buffer_unordered(concurrency)
    .collect()
    .await;

    let summary = run::Summary {
        seed,
        routes: routes.len(),
        concurrency,
        started,
        set_up,
    };
    if let Err(report) = summary.report(&outcomes) {
        panic!("{report}");
    }
}

/// The check itself: a handler that panics on some input is caught (so a green run means
/// something), and the shared layers' own errors pass it.
#[tokio::test]
async fn the_check_catches_a_handler_that_panics_on_its_input() {
    let routes = Router::new().route(
        "/echo/{text}",
        axum::routing::get(
            |axum::extract::Path(text): axum::extract::Path<String>| async move {
                // Trusts its input: slicing a short string panics.
                text[..4].to_owned()
            },
        ),
    );
    let app = shared::AppState::init(e2e::dead_emulator_config()).await;
    let limiter = std::sync::Arc::new(shared::ratelimit::RateLimiter::exempt(app.dynamo.clone()));
    let router = shared::layers::apply(routes, &app.config, limiter);
    for (path, caught) in [
        ("/echo/long-enough", false),
        ("/echo/ab", true),
        ("/nowhere", false),
    ] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let verdict = run::verdict(&Method::GET, path, status, &body);
        assert_eq!(verdict.is_err(), caught, "{path}: {status} {verdict:?}");
    }
}
