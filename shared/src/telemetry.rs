//! `tracing` set-up: JSON on Lambda, readable text locally.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. Call once, first thing in `main`.
///
/// JSON is chosen when Lambda's advanced logging asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`) or
/// `LOG_FORMAT=json`; the level comes from `RUST_LOG`, then `AWS_LAMBDA_LOG_LEVEL`, then `info`.
/// Every event inside a request carries that request's span fields, `request_id` included.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
        || std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The SDK's internals are chatty at info and can echo request details; keep them at warn.
        .add_directive(quiet("aws_smithy_runtime"))
        .add_directive(quiet("aws_config"))
        .add_directive(quiet("hyper"));

    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_target(true)
                    // CloudWatch stamps every line itself.
                    .without_time(),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().compact().with_target(false))
            .try_init()
    };
    // A second init (tests building several routers) keeps the first subscriber; that is fine.
    drop(result);
}

fn quiet(target: &str) -> tracing_subscriber::filter::Directive {
    format!("{target}=warn")
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::LevelFilter::WARN.into())
}
