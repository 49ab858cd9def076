//! `POST /api/v1/auth/passkeys/login/start` and `/finish`: passwordless login with a
//! discoverable credential. A passkey proves possession (the authenticator) and, with user
//! verification required, the user (PIN or biometrics): both factors, so no second step.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::{IdentityState, store::users::User};
use shared::{ApiError, ErrorCode, Routes, clock::now_s, extract::Json};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions,
    bin::{Decode, Encode},
    request::{TimedCeremony, auth::AuthenticationVerificationOptions},
    response::{
        auth::error::AuthCeremonyErr,
        register::{CompressedPubKey, DynamicState, StaticState},
    },
};

use super::{
    CeremonyOptions, CredentialJson, Passkeys, b64, challenge_key, store::Ceremony, unreadable,
    user_handle,
};
use crate::{context::AuthContext, cookies, session::start_session};

/// `login/start`, `login/finish`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/passkeys/login/start", login_start)
        .post("/api/v1/auth/passkeys/login/finish", login_finish)
}

/// Starts a passkey login: request options for `navigator.credentials.get` (no
/// `allowCredentials`: the authenticator offers the passkeys it holds for this site; user
/// verification required). Finish within `WEBAUTHN_TIMEOUT_SECS`.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/login/start", tag = "passkeys",
    responses(
        (status = 200, description = "`{\"publicKey\": PublicKeyCredentialRequestOptionsJSON}`, for `PublicKeyCredential.parseRequestOptionsFromJSON(body.publicKey)`", body = CeremonyOptions)))]
pub(crate) async fn login_start(State(passkeys): State<Passkeys>) -> Result<Response, ApiError> {
    let settings = &passkeys.settings;
    let mut options = DiscoverableCredentialRequestOptions::passkey(&settings.rp_id);
    options.0.timeout = settings.timeout;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request options: {e}")))?;
    let state = server
        .encode()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("authentication state: {e}")))?;
    passkeys
        .store
        .put_ceremony(
            Ceremony::Login,
            &challenge_key(server.sent_challenge()),
            &state,
            None,
            now_s() + settings.timeout_secs(),
        )
        .await?;
    let public_key = serde_json::to_value(&client)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request options JSON: {e}")))?;
    Ok(Json(CeremonyOptions { public_key }).into_response())
}

/// Finishes a passkey login: the assertion is verified against the started ceremony (its
/// challenge, once), the stored public key, the origin and RP ID, user verification, and the
/// signature counter (one that does not increase past a non-zero stored count is refused: a
/// replay or a cloned authenticator). Then a session starts, as a password login's does.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/login/finish", tag = "passkeys",
    request_body(content = CredentialJson, description = "`credential.toJSON()` of what `navigator.credentials.get` returned"),
    responses(
        (status = 200, description = "The token pair (with `REFRESH_COOKIE=true`, also the refresh cookie)", body = crate::cookies::TokenPair),
        (status = 400, description = "Unknown, expired or used challenge (`PASSKEY_CEREMONY_INVALID`)", body = shared::openapi::ErrorEnvelope),
        (status = 401, description = "Unknown passkey, or an assertion that does not verify (`INVALID_PASSKEY`); a counter that went back (`PASSKEY_COUNTER_REGRESSED`)", body = shared::openapi::ErrorEnvelope),
        (status = 403, description = "Email not verified under `REQUIRE_VERIFIED_EMAIL` (`EMAIL_NOT_VERIFIED`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Not a credential as `toJSON()` makes it", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn login_finish(
    State(passkeys): State<Passkeys>,
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    Json(body): Json<CredentialJson>,
) -> Result<Response, ApiError> {
    let settings = &passkeys.settings;
    let loc = ["body"];
    let bytes = body.bytes()?;
    let assertion = DiscoverableAuthentication16::from_json_relaxed(&bytes)
        .map_err(|e| unreadable(&loc, &e))?;
    let challenge = assertion
        .challenge_relaxed()
        .map_err(|e| unreadable(&loc, &e))?;
    // Taken out before verifying: a failed attempt spends the challenge too.
    let state = passkeys
        .store
        .take_ceremony(Ceremony::Login, &challenge_key(challenge), None)
        .await?
        .ok_or(ErrorCode::PasskeyCeremonyInvalid)?;
    let server = DiscoverableAuthenticationServerState::decode(state.as_slice())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored authentication state: {e}")))?;

    let id = b64(assertion.raw_id().as_ref());
    let stored = passkeys
        .store
        .get(&id)
        .await?
        .ok_or(ErrorCode::InvalidPasskey)?;
    let handle = user_handle(&stored.user_id)?;
    let static_state =
        StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(
            stored.static_state.as_slice(),
        )
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored static state: {e}")))?;
    let seen: [u8; 7] = stored
        .dynamic_state
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("stored dynamic state length")))?;
    let dynamic_state = DynamicState::decode(seen)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored dynamic state: {e}")))?;
    let mut credential =
        AuthenticatedCredential::new(assertion.raw_id(), &handle, static_state, dynamic_state)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored credential: {e}")))?;
    let options = AuthenticationVerificationOptions::<String, String> {
        allowed_origins: &settings.origins,
        ..AuthenticationVerificationOptions::default()
    };
    // The user handle the authenticator returned must be the stored owner's (checked inside).
    match server.verify(&settings.rp_id, &assertion, &mut credential, &options) {
        Ok(_) => {}
        Err(AuthCeremonyErr::SignatureCounter) => {
            tracing::warn!(user_id = %stored.user_id, credential = %id, "passkey counter regressed: possibly a cloned authenticator");
            return Err(ErrorCode::PasskeyCounterRegressed.into());
        }
        Err(e) => {
            tracing::info!(credential = %id, reason = %e, "passkey assertion refused");
            return Err(ErrorCode::InvalidPasskey.into());
        }
    }
    let next = credential.dynamic_state();
    let encoded = next.encode().unwrap_or_else(|e| match e {});
    // Conditioned on the state just verified against: two logins racing with one passkey
    // cannot both move its counter.
    if !passkeys
        .store
        .record_use(&id, &seen, &encoded, i64::from(next.sign_count))
        .await?
    {
        return Err(ErrorCode::PasskeyCounterRegressed.into());
    }

    let user = identity
        .store
        .users
        .get(&stored.user_id)
        .await?
        .filter(User::is_active)
        .ok_or(ErrorCode::InvalidPasskey)?;
    if auth.settings.require_verified_email && !user.email_verified {
        return Err(ErrorCode::EmailNotVerified.into());
    }
    let pair = start_session(&identity, &auth, &user).await?;
    tracing::info!(user_id = %user.id, credential = %id, "passkey login");
    Ok(cookies::tokens_response(
        &auth.settings,
        StatusCode::OK,
        pair,
    ))
}
