//! The bodies this function answers with.

use serde::Serialize;

/// The answer to a delivery: `accepted` (202, first delivery), `duplicate` (200, a repeat) or
/// `pong` (200, GitHub's `ping`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ack {
    /// What happened.
    #[schema(value_type = String, pattern = "^(accepted|duplicate|pong)$")]
    pub status: &'static str,
}
