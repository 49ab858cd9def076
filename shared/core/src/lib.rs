//! The core every Lambda function shares: configuration, telemetry, the AWS clients in
//! [`AppState`], the error codes and envelope, the HTTP layer stack, body extractors, DynamoDB
//! plumbing, the clock and the Lambda glue. Nothing identity-specific: `health` links only this.
//!
//! The API contract these pieces implement is `functions/docs/guide/api.md`.

pub mod clock;
pub mod conditional;
pub mod config;
pub mod dynamo;
pub mod error;
pub mod extract;
pub mod layers;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod runtime;
pub mod secrets;
pub mod state;
pub mod telemetry;
pub mod tiers;

pub use config::{AppEnv, Config, ConfigError, Env, Table};
pub use error::{ApiError, ErrorCode};
pub use routes::Routes;
pub use state::AppState;
