//! Running the cases: sending one to its function's router, the verdict on the answer, and the
//! summary of a run.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use axum::{Router, body::Body};
use e2e::Identity;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::no_panic::{
    REQUEST_TIMEOUT, SHOWN_FAILURES,
    accounts::{Live, heal_after},
    generate::Case,
};

/// What happened to one case.
pub(crate) struct Outcome {
    index: usize,
    status: Option<u16>,
    elapsed: Duration,
    /// How it broke the property, if it did: why, the request and the answer.
    failure: Option<String>,
}

fn preview(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let more = if bytes.len() > max {
        format!(" … ({} bytes in all)", bytes.len())
    } else {
        String::new()
    };
    format!("{:?}{more}", String::from_utf8_lossy(shown))
}

/// Sends `case`, with the live accounts' credentials, and judges the answer.
pub(crate) async fn run(
    case: &Case,
    routers: &[(&'static str, Router)],
    id: &Identity,
    live: &Live,
) -> Outcome {
    let (target, headers, body) = {
        let accounts = live.accounts();
        (
            String::from_utf8_lossy(&accounts.resolve(case.target.as_bytes())).into_owned(),
            case.headers
                .iter()
                .map(|(name, value)| (*name, accounts.resolve(value)))
                .collect::<Vec<_>>(),
            accounts.resolve(&case.body),
        )
    };
    let mut request = format!(
        "{} {}  (function {})\n",
        case.method,
        preview(target.as_bytes(), 300),
        case.function
    );
    for (name, value) in &headers {
        let _ = writeln!(request, "    {name}: {}", preview(value, 200));
    }
    let _ = writeln!(request, "    body: {}", preview(&body, 300));
    let fail = |elapsed, status, why: String, response: &str| Outcome {
        index: case.index,
        status,
        elapsed,
        failure: Some(format!("{why}\n  request: {request}{response}")),
    };

    let router = routers
        .iter()
        .find(|(name, _)| *name == case.function)
        .map(|(_, router)| router.clone())
        .expect("router of the case's function");
    let mut builder = Request::builder()
        .method(case.method.clone())
        .uri(target.as_str());
    for (name, value) in &headers {
        match HeaderValue::from_bytes(value) {
            Ok(value) => builder = builder.header(*name, value),
            Err(e) => {
                return fail(
                    Duration::ZERO,
                    None,
                    format!("test bug: header {name}: {e}"),
                    "",
                );
            }
        }
    }
    let request_value = match builder.body(Body::from(body)) {
        Ok(request) => request,
        Err(e) => return fail(Duration::ZERO, None, format!("test bug: request: {e}"), ""),
    };

    let started = Instant::now();
    let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let response = router.oneshot(request_value).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes());
        (parts, bytes)
    })
    .await;
    let elapsed = started.elapsed();
    let status = sent.as_ref().ok().map(|(parts, _)| parts.status);
    heal_after(id, live, case, status).await;
    let Ok((parts, bytes)) = sent else {
        return fail(
            elapsed,
            None,
            format!("no answer within {REQUEST_TIMEOUT:?}"),
            "",
        );
    };
    let status = parts.status;
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) => {
            return fail(
                elapsed,
                Some(status.as_u16()),
                format!("{status}, and its body could not be read: {e}"),
                "",
            );
        }
    };
    let path = target.split('?').next().unwrap_or_default();
    if let Err(why) = verdict(&case.method, path, status, &bytes) {
        let response = format!(
            "  response: {status}\n    headers: {:?}\n    body: {}\n",
            parts.headers,
            preview(&bytes, 600)
        );
        return fail(elapsed, Some(status.as_u16()), why, &response);
    }
    Outcome {
        index: case.index,
        status: Some(status.as_u16()),
        elapsed,
        failure: None,
    }
}

/// The property, for one answer: no 5xx but 503 (a 500 is a caught panic or an unhandled
/// error), and every error is the envelope (health's own 503 bodies and HEAD answers, which
/// have no body, excepted).
pub(crate) fn verdict(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<(), String> {
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(format!(
            "answered {status} (a handler's panic message and location, if it panicked, are on \
             stderr above)"
        ));
    }
    let health_body = status == StatusCode::SERVICE_UNAVAILABLE
        && matches!(path, "/health" | "/health/readiness");
    if status.as_u16() >= 400 && method != Method::HEAD && !health_body {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if !json["error_code"].is_string() || !json["request_id"].is_string() {
            return Err("an error without the envelope (error_code, request_id)".to_owned());
        }
    }
    Ok(())
}

/// What a run was, for its summary.
pub(crate) struct Summary {
    pub(crate) seed: u64,
    /// How many routes the cases were drawn from.
    pub(crate) routes: usize,
    pub(crate) concurrency: usize,
    /// When the test started.
    pub(crate) started: Instant,
    /// How long the set-up took (routers, accounts, cases).
    pub(crate) set_up: Duration,
}

impl Summary {
    /// Prints the run's summary; the failures, if any, as the report to fail the test with.
    pub(crate) fn report(&self, outcomes: &[Outcome]) -> Result<(), String> {
        let Self {
            seed,
            routes,
            concurrency,
            started,
            set_up,
        } = self;
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for status in outcomes.iter().filter_map(|o| o.status) {
            *statuses.entry(status).or_default() += 1;
        }
        let slowest = outcomes.iter().map(|o| o.elapsed).max().unwrap_or_default();
        let mut failures: Vec<(usize, &str)> = outcomes
            .iter()
            .filter_map(|o| Some((o.index, o.failure.as_deref()?)))
            .collect();
        failures.sort_unstable_by_key(|(index, _)| *index);
        // Tolerated, but worth a look when they repeat on a replay: only a busy emulator should
        // say it.
        let mut unavailable: Vec<usize> = outcomes
            .iter()
            .filter(|o| o.status == Some(503))
            .map(|o| o.index)
            .collect();
        unavailable.sort_unstable();
        println!(
            "no_panic: seed {seed:#x}, {} cases over {routes} routes of {:?} in {:.1?} (set-up \
             {set_up:.1?}, slowest request {slowest:.1?}, {concurrency} in flight); statuses \
             {statuses:?}; 503 at cases {unavailable:?}; {} failures",
            outcomes.len(),
            e2e::FUNCTIONS,
            started.elapsed(),
            failures.len()
        );
        if failures.is_empty() {
            return Ok(());
        }
        let mut report = format!(
            "{} of {} generated requests broke \"no client input gets a 5xx, every error is the \
             envelope\" (seed {seed:#x}; replay one with NO_PANIC_SEED={seed:#x} \
             NO_PANIC_CASE=<case>):\n",
            failures.len(),
            outcomes.len()
        );
        for (index, failure) in failures.iter().take(SHOWN_FAILURES) {
            let _ = writeln!(report, "\ncase {index}: {failure}");
        }
        if failures.len() > SHOWN_FAILURES {
            let rest: Vec<usize> = failures
                .iter()
                .skip(SHOWN_FAILURES)
                .map(|(index, _)| *index)
                .collect();
            let _ = writeln!(report, "\nother failing cases: {rest:?}");
        }
        Err(report)
    }
}
