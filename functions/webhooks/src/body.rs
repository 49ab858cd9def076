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

/// Every answer a delivery route gives: the documented responses of all four routes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Documentation only: the handlers answer with `Ack` or an `ApiError`.
pub enum DeliveryResponses {
    /// A repeat (`duplicate`); on `/github`, also `pong` for `ping`.
    #[response(status = 200)]
    Repeat(Ack),
    /// First delivery: recorded and handled (`accepted`).
    #[response(status = 202)]
    First(Ack),
    /// Verified, but not JSON, or without a delivery id or type (`BAD_REQUEST`).
    #[response(status = 400)]
    Unreadable(shared::openapi::ErrorEnvelope),
    /// Missing or bad signature, a timestamp outside the window, or a source the secret does
    /// not name (`INVALID_SIGNATURE`).
    #[response(status = 401)]
    Unsigned(shared::openapi::ErrorEnvelope),
    /// Body over `WEBHOOK_MAX_BODY_BYTES` (`PAYLOAD_TOO_LARGE`).
    #[response(status = 413)]
    TooLarge(shared::openapi::ErrorEnvelope),
    /// The handler failed, or the source's secret is empty or a placeholder (not configured);
    /// redeliver (`SERVICE_UNAVAILABLE`).
    #[response(status = 503)]
    HandlerFailed(shared::openapi::ErrorEnvelope),
}
