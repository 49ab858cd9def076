//! Helpers for the tests of this package: the end-to-end tests (`tests/tests/e2e/`), the event
//! replay (`tests/tests/events_replay.rs`), the smoke checks through a running stack
//! (`tests/tests/smoke/`) and the wiring checks (`tests/tests/wiring/`). The root wires every
//! function into the harness (`functions!` below); the modules hold the rest, re-exported here:
//!
//! - [`emulator`]: the environment `make test` exports, the core state, fresh tables, unique names;
//! - [`client`]: routers served over HTTP or called in process, and a client reading replies whole;
//! - [`gateway`]: requests shaped as API Gateway hands them over (a client's `sourceIp`);
//! - [`fixture`]: the auth and users functions over one state, and the accounts they create;
//! - [`jobs`]: a test's own jobs queues, and the job worker run in process over them;
//! - [`mail`]: the mail the emulator's SES accepted, and the links in it;
//! - [`openapi`]: the routes an OpenAPI document describes;
//! - [`tools`]: the repository root and the Python tools in `.venv`;
//! - [`upload_api`] and [`webhook_api`]: the uploads and webhooks functions over HTTP, the form a
//!   browser posts to the bucket, senders' signatures made with the local secrets.
//!
//! The end-to-end tests need the emulator that `make test` starts; run them through it.

#![allow(clippy::expect_used, clippy::panic)] // Test support: a failed set-up should stop the test loudly.

use axum::Router;
use shared::{AppState, Env};

pub mod client;
pub mod emulator;
pub mod fixture;
pub mod gateway;
pub mod jobs;
pub mod mail;
pub mod openapi;
pub mod tools;
pub mod upload_api;
pub mod webhook_api;

pub use client::{Client, Reply, call, spawn_http};
pub use emulator::{
    align_to_window, dead_emulator_config, emulator_env, emulator_state, fresh_table_like, unique,
};
pub use fixture::{Account, Identity, signer_with};
pub use gateway::gateway_request;
pub use jobs::{RunningWorker, TestQueues, job_completed};
pub use mail::{mail_at_least, mail_to, refuse_mail_to, token_in};
pub use openapi::openapi_routes;
pub use tools::{repo_root, venv_tool};

/// Every route group under `functions/`, by directory name, wired into the harness: its router
/// (`router_for`) and its route table (`routes_for`, read by the consistency checks). Adding a
/// group is one name here; the consistency checks (`tests/tests/wiring/consistency/`) fail,
/// naming this file, if one is missing.
macro_rules! functions {
    ($($name:ident),+ $(,)?) => {
        /// The route groups the harness knows, as named under `functions/`.
        pub const FUNCTIONS: &[&str] = &[$(stringify!($name)),+];

        /// The router of the function named like its `functions/<name>` directory, built the way
        /// its `main` builds it (its own `init` over the core state).
        pub async fn router_for(function: &str, app: AppState, env: Env) -> Router {
            match function {
                $(stringify!($name) => $name::router(
                    $name::init(app, env).await.expect(concat!("init of ", stringify!($name))),
                ),)+
                other => panic!("no function named {other}: add it to functions! in tests/src/lib.rs"),
            }
        }

        /// The function's own OpenAPI document (what it contributes to the merged one).
        pub fn openapi_for(function: &str) -> Option<utoipa::openapi::OpenApi> {
            match function {
                $(stringify!($name) => Some($name::openapi()),)+
                _ => None,
            }
        }

        /// The methods and paths the function's router serves.
        pub fn routes_for(function: &str) -> Option<Vec<shared::routes::Route>> {
            match function {
                $(stringify!($name) => Some($name::routes().table()),)+
                _ => None,
            }
        }
    };
}

functions!(health, auth, users, uploads, webhooks, tasks, tiers, docs);
