//! `tracing` set-up: JSON on Lambda, readable text locally.

use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    fmt,
    prelude::*,
};

/// Installs the global subscriber. Call once, first thing in `main`.
///
/// JSON is chosen when Lambda's advanced logging asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`) or
/// `LOG_FORMAT=json`; the level comes from `RUST_LOG`, then `AWS_LAMBDA_LOG_LEVEL`, then `info`.
/// Every event inside a request carries that request's span fields, `request_id` included.
///
/// `RUST_LOG` takes `target=level` directives (`info,users=debug`). The filter is a `Targets`, not
/// an `EnvFilter`: span and field directives are not supported (a value using them falls back to the
/// level), and in exchange the binaries carry no regex engine, which would add to every
/// function's package (`make bench` reports the package sizes).
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
        || std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_else(|_| "info".to_owned());
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), &level);

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

/// The filter from `RUST_LOG` (if set and valid), else the level, else `info`.
fn filter(rust_log: Option<&str>, level: &str) -> Targets {
    rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(level_filter(level)))
        // The SDK's internals are chatty at info and can echo request details; keep them at warn.
        .with_target("aws_smithy_runtime", LevelFilter::WARN)
        .with_target("aws_config", LevelFilter::WARN)
        .with_target("hyper", LevelFilter::WARN)
}

/// `AWS_LAMBDA_LOG_LEVEL` is one of TRACE, DEBUG, INFO, WARN, ERROR and FATAL (tracing has no
/// fatal: ERROR is the nearest); anything else is `info`.
fn level_filter(level: &str) -> LevelFilter {
    match level {
        "fatal" => LevelFilter::ERROR,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn rust_log_directives_set_levels_per_target() {
        let f = filter(Some("warn,users=debug"), "info");
        assert!(f.would_enable("users::routes", &Level::DEBUG));
        assert!(!f.would_enable("auth", &Level::INFO));
        assert!(f.would_enable("auth", &Level::WARN));
    }

    #[test]
    fn without_rust_log_the_lambda_log_level_applies() {
        let f = filter(None, "debug");
        assert!(f.would_enable("users", &Level::DEBUG));
        assert!(!f.would_enable("users", &Level::TRACE));
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_level_then_info() {
        let f = filter(Some("users[span{x=1}]=debug"), "error");
        assert!(!f.would_enable("users", &Level::WARN));
        let f = filter(Some("=="), "not a level");
        assert!(f.would_enable("users", &Level::INFO));
        assert!(!f.would_enable("users", &Level::DEBUG));
        let f = filter(None, "fatal");
        assert!(f.would_enable("users", &Level::ERROR));
        assert!(!f.would_enable("users", &Level::WARN));
    }

    #[test]
    fn the_sdk_internals_stay_at_warn_even_when_debugging() {
        let f = filter(Some("debug"), "info");
        assert!(!f.would_enable("aws_smithy_runtime::client::orchestrator", &Level::INFO));
        assert!(!f.would_enable("hyper_util::client", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        assert!(f.would_enable("users", &Level::DEBUG));
    }
}
