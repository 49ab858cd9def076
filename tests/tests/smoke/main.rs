//! Smoke checks through a running stack: what `make test` checks through `cargo lambda watch`
//! behind `infra/local/gateway.py`, as a client reaches it (routing by path, the 404 envelope,
//! request ids, the README's auth flow and uploads walkthrough, signed webhook deliveries, mail
//! sent by the job worker, a body that is not UTF-8, the served OpenAPI document and schemathesis
//! against it), then readiness once the emulator is stopped.
//!
//! `SMOKE_BASE_URL` names the stack (`http://127.0.0.1:<port>`); without it the target fails
//! with instructions. Four phases, chosen by `SMOKE_PHASE`: unset (or `up`), the checks that need
//! the whole stack ([`routing`], [`gateway`], [`auth`], [`uploads`], [`webhooks`], [`jobs`],
//! [`document`]); `timing`, the timing checks, run alone with `--test-threads=1`; `api-key`,
//! against a gateway with `RequireApiKey=true` in front of the same functions (keys from
//! `LOCAL_API_KEY_FREE`/`_PRO`, the free plan's burst lowered); `emulator-stopped`, the checks
//! made once the emulator is gone ([`emulator_stopped`]). `infra/scripts/test.sh` runs all four,
//! stopping the emulator last.
//!
//! The requests reuse the `e2e` helpers (`tests/src/`): the HTTP client, the form a browser posts
//! to the bucket (`upload_api.rs`) and the signatures made with the local webhook secrets
//! (`webhook_api.rs`). This target is not part of a plain `cargo test` (`test = false` in
//! `tests/Cargo.toml`): it needs a stack to talk to. Run it explicitly:
//! `SMOKE_BASE_URL=http://127.0.0.1:9000 cargo test -p e2e --test smoke`.

// The checks print what they measure through the stack (libtest-mimic shows it as it comes), and a
// failed step fails its check loudly.
#![allow(clippy::expect_used, clippy::panic, clippy::print_stdout)]

mod auth;
mod document;
mod emulator_stopped;
mod gateway;
mod jobs;
mod routing;
mod uploads;
mod webhooks;

use std::{future::Future, pin::Pin, time::Duration};

use e2e::Client;
use libtest_mimic::{Arguments, Trial};

/// The variable naming the stack.
const BASE_VAR: &str = "SMOKE_BASE_URL";
/// The variable choosing the phase.
const PHASE_VAR: &str = "SMOKE_PHASE";
/// How long one exchange may take (debug builds behind watch on a busy machine).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every check gets: the stack's base URL and a client.
pub(crate) struct Smoke {
    /// The base URL, without a trailing slash.
    pub base: String,
    /// HTTP client (every exchange bounded by [`REQUEST_TIMEOUT`]).
    pub http: Client,
}

impl Smoke {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `base` + `/api/v1` + `path`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }
}

/// A check: an async fn over the stack.
type Check = fn(Smoke) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// `(name, check)` for each `module::function`, named as written.
macro_rules! checks {
    ($($module:ident :: $check:ident),+ $(,)?) => {
        vec![$((
            concat!(stringify!($module), "::", stringify!($check)),
            (|smoke| Box::pin($module::$check(smoke))) as Check,
        )),+]
    };
}

/// The checks that need the whole stack up. The slow one (schemathesis) goes last, so the quick
/// ones have run by the time it loads the stack.
fn stack_up() -> Vec<(&'static str, Check)> {
    checks![
        routing::readiness_is_200_with_every_check_ok,
        routing::an_unknown_path_is_a_404_envelope_with_a_request_id,
        routing::a_client_request_id_is_echoed,
        routing::a_body_that_is_not_utf8_is_the_functions_400_envelope,
        gateway::a_signup_preflight_from_an_allowed_origin_is_allowed_without_a_key,
        gateway::a_signup_preflight_from_another_origin_gets_no_allow_header,
        gateway::a_method_the_template_does_not_deploy_is_its_404_envelope_with_cors,
        gateway::a_preflight_on_an_unknown_path_is_the_404_envelope,
        gateway::head_on_the_health_routes_is_200_with_no_body,
        gateway::a_response_has_one_date_and_no_local_server_header,
        gateway::two_hundred_parallel_clients_get_no_reset_and_no_5xx,
        auth::the_readme_auth_flow_ends_with_a_revoked_token,
        uploads::the_readme_uploads_walkthrough_gets_the_same_bytes_back,
        webhooks::a_signed_github_delivery_is_202_and_its_repeat_a_duplicate,
        webhooks::a_signed_stripe_delivery_is_202_and_a_wrong_signature_401,
        jobs::a_signups_verification_mail_arrives_within_seconds,
        jobs::a_task_runs_to_succeeded_and_another_user_gets_404,
        document::the_served_document_passes_openapi_spec_validator,
        document::schemathesis_finds_no_5xx_and_nothing_undocumented,
    ]
}

/// The checks against a gateway that requires API keys (`RequireApiKey=true`).
fn api_keys() -> Vec<(&'static str, Check)> {
    checks![
        gateway::without_a_key_a_call_is_the_403_envelope_with_cors,
        gateway::with_keys_required_a_preflight_still_needs_none,
        gateway::a_free_key_is_throttled_per_its_plan_and_a_pro_key_is_not,
    ]
}

/// Timing checks, run alone (`--test-threads=1`) with the stack up: a check running beside
/// them would be the noise they measure.
fn timing() -> Vec<(&'static str, Check)> {
    checks![jobs::forgot_and_resend_answer_alike_for_unknown_unverified_and_verified]
}

/// The checks made once the emulator is stopped (the functions still up).
fn emulator_down() -> Vec<(&'static str, Check)> {
    checks![emulator_stopped::readiness_is_503_naming_the_failed_checks_within_3_s]
}

fn main() {
    let args = Arguments::from_args();
    let Ok(base) = std::env::var(BASE_VAR) else {
        eprintln!(
            "{BASE_VAR} is not set: these checks run against a running stack, not in process.\n\
             `make test` runs them against `cargo lambda watch` (infra/scripts/test.sh); by hand, \
             start a stack (`make dev`) and run\n  \
             {BASE_VAR}=http://127.0.0.1:9000 cargo test -p e2e --test smoke\n\
             then, with the emulator stopped,\n  \
             {BASE_VAR}=http://127.0.0.1:9000 {PHASE_VAR}=emulator-stopped cargo test -p e2e --test smoke"
        );
        std::process::exit(2);
    };
    let base = base.trim_end_matches('/').to_owned();
    let checks = match std::env::var(PHASE_VAR).as_deref() {
        Err(_) | Ok("up") => stack_up(),
        Ok("api-key") => api_keys(),
        Ok("timing") => timing(),
        Ok("emulator-stopped") => emulator_down(),
        Ok(other) => {
            eprintln!(
                "{PHASE_VAR}={other:?}: expected `up` (the default), `timing`, `api-key` or \
                 `emulator-stopped`"
            );
            std::process::exit(2);
        }
    };
    let trials = checks
        .into_iter()
        .map(|(name, check)| {
            let base = base.clone();
            Trial::test(name, move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let http = Client::new().with_timeout(REQUEST_TIMEOUT);
                    check(Smoke { base, http }).await;
                });
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
