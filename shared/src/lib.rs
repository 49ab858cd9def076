//! Everything the Lambda functions share: configuration, telemetry, the AWS clients in
//! [`AppState`], the error envelope, the HTTP layer stack and the Lambda glue.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod layers;
pub mod mail;
pub mod pagination;
pub mod runtime;
pub mod state;
pub mod store;
pub mod telemetry;

pub use config::{Config, ConfigError, Table};
pub use error::ApiError;
pub use state::AppState;
