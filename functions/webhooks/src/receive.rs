//! What every delivery goes through, whoever sent it: the size cap, the signature over the raw
//! bytes, the payload, the claim that makes it exactly-once, the handler, the record.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use hooks::{Delivery, Headers};
use shared::{ApiError, ErrorCode, extract::Json};

use crate::{
    body::Ack,
    deliveries::{Claim, Finished, Received},
    handlers::Outcome,
    state::WebhooksContext,
    verifiers::{Lookup, Provider},
};

/// `hooks`' view of the request headers (`HeaderMap` lookups ignore case; a value that is not
/// visible ASCII counts as absent).
struct HeaderView<'a>(&'a HeaderMap);

impl Headers for HeaderView<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Handles one delivery from `provider`.
pub async fn receive(
    ctx: &WebhooksContext,
    provider: Provider,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_capped(headers, body, ctx.settings.max_body_bytes).await?;
    let name = provider.name();
    // The raw bytes, before anything parses them (lambda_http has already decoded an
    // `isBase64Encoded` body back to the bytes the sender signed).
    let verifiers = ctx.verifiers.get().await?;
    let verifier = match verifiers.of(&provider) {
        Lookup::Verifier(verifier) => Ok(verifier),
        Lookup::Unknown => Err(hooks::VerifyError::NoSecret),
        // Logged with the 503 (the source's name, never a value).
        Lookup::NotConfigured => {
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "webhook source {name} is not configured: its secret is empty or a placeholder \
                 (contains replace_me); set it in the webhook secrets secret"
            )));
        }
    };
    let verified = verifier
        .and_then(|verifier| {
            verifier.verify(&Delivery {
                headers: &HeaderView(headers),
                body: &body,
                now: shared::clock::now_s(),
            })
        })
        .map_err(|reason| {
            // The reason names headers only, never a secret or a signature.
            tracing::info!(provider = %name, %reason, "webhook refused");
            ErrorCode::InvalidSignature
        })?;
    let payload: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ErrorCode::BadRequest)?;
    let (delivery_id, event_type) = identify(&provider, &verified, &payload)?;
    if provider == Provider::Github && event_type == "ping" {
        return Ok(Json(Ack { status: "pong" }).into_response());
    }

    let received = Received {
        provider: &name,
        delivery_id: &delivery_id,
        event_type: &event_type,
        payload_sha256: sha256_hex(&body),
        size: body.len(),
    };
    let Claim::Mine { token, attempt } = ctx.deliveries.claim(&received).await? else {
        return Ok(Json(Ack {
            status: "duplicate",
        })
        .into_response());
    };
    let outcome = ctx
        .handlers
        .dispatch(
            &provider,
            &format!("{name}#{delivery_id}"),
            &event_type,
            &payload,
        )
        .await;
    let finished = match &outcome {
        Ok(Outcome::Enqueued) => Finished::Enqueued,
        Ok(Outcome::Ignored) => Finished::Ignored,
        Err(_) => Finished::Failed,
    };
    ctx.deliveries
        .finish(&name, &delivery_id, &token, finished)
        .await?;
    tracing::info!(provider = %name, %delivery_id, %event_type, attempt, status = ?finished, "webhook handled");
    match outcome {
        Ok(_) => Ok((StatusCode::ACCEPTED, Json(Ack { status: "accepted" })).into_response()),
        // Not the sender's fault: a 503 makes it retry, and the retry enqueues the same job id.
        Err(err) => Err(ApiError::Unavailable(
            err.context("webhook effect not enqueued"),
        )),
    }
}

/// The body, refused with 413 past `cap` before it is read whole (by its `Content-Length`) or
/// while it is read.
async fn read_capped(headers: &HeaderMap, body: Body, cap: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(ErrorCode::PayloadTooLarge.into());
    }
    let bytes = axum::body::to_bytes(body, cap)
        .await
        .map_err(|_| ErrorCode::PayloadTooLarge)?;
    Ok(bytes.to_vec())
}

/// The delivery id and event type: from headers for GitHub (`X-GitHub-Delivery`,
/// `X-GitHub-Event`), Standard Webhooks and RSA (`webhook-id`, `x-webhook-id`; the type from the
/// payload's `type`), from the payload for Stripe (`id`, `type`). Missing or odd: 400.
fn identify(
    provider: &Provider,
    verified: &hooks::Verified,
    payload: &serde_json::Value,
) -> Result<(String, String), ApiError> {
    let from_payload = |field: &str| payload.get(field).and_then(|v| v.as_str());
    let (id, event_type) = match provider {
        Provider::Github => (
            verified.delivery_id.as_deref(),
            verified.event_type.as_deref(),
        ),
        Provider::Stripe => (from_payload("id"), from_payload("type")),
        Provider::Standard(_) | Provider::Rsa(_) => (
            verified.delivery_id.as_deref(),
            Some(from_payload("type").unwrap_or("unknown")),
        ),
    };
    match (id, event_type) {
        (Some(id), Some(event_type)) if token_like(id) && token_like(event_type) => {
            Ok((id.to_owned(), event_type.to_owned()))
        }
        _ => Err(ErrorCode::BadRequest.into()),
    }
}

/// 1 to 200 visible ASCII characters: what ids and types of every provider look like, and safe
/// to log and to key by.
fn token_like(text: &str) -> bool {
    (1..=200).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_digest_is_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ids_and_types_are_short_visible_ascii() {
        assert!(token_like("evt_1NxYz"));
        assert!(token_like("customer.subscription.updated"));
        for bad in ["", "a b", "é", "x\n", &"a".repeat(201)] {
            assert!(!token_like(bad), "{bad:?}");
        }
    }
}
