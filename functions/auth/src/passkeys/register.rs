//! `POST /api/v1/auth/passkeys/register/start` and `/finish`: a logged-in user adds a passkey.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use identity::AuthUser;
use serde::Deserialize;
use shared::{
    ApiError, ErrorCode, Routes,
    clock::{now_rfc3339, now_s},
    error::FieldError,
    extract::{Json, Validate, failures},
};
use webauthn_rp::{
    PublicKeyCredentialCreationOptions, Registration, RegistrationServerState,
    bin::{Decode, Encode},
    request::{
        ExtensionInfo, PublicKeyCredentialDescriptor, TimedCeremony,
        register::{
            CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions,
            Username,
        },
    },
    response::{AuthTransports, CredentialId, register::UncompressedPubKey},
};

use super::{
    CeremonyOptions, CredentialJson, PasskeyBody, Passkeys, b64, challenge_key, check_name,
    store::{Ceremony, StoredPasskey},
    unreadable, user_handle,
};

/// `register/start`, `register/finish`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .post("/api/v1/auth/passkeys/register/start", register_start)
        .post("/api/v1/auth/passkeys/register/finish", register_finish)
}

/// Starts adding a passkey: creation options for `navigator.credentials.create` (a discoverable
/// credential, user verification required, my passkeys excluded so one authenticator is not
/// registered twice). Finish within `WEBAUTHN_TIMEOUT_SECS`.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/start", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"publicKey\": PublicKeyCredentialCreationOptionsJSON}`, for `PublicKeyCredential.parseCreationOptionsFromJSON(body.publicKey)`", body = CeremonyOptions),
        (status = 401, description = "No valid access token", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn register_start(
    State(passkeys): State<Passkeys>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let settings = &passkeys.settings;
    let handle = user_handle(&user.user.id)?;
    let exclude = passkeys
        .store
        .list(&user.user.id)
        .await?
        .iter()
        .filter_map(descriptor)
        .collect();
    // The usernames and names signup allows fit the crate's profiles; if one ever did not,
    // the id is a name that always does.
    let display = format!("{} {}", user.user.first_name, user.user.last_name);
    let name = Username::try_from(user.user.username.as_str())
        .or_else(|_| Username::try_from(user.user.id.as_str()))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("user name for WebAuthn: {e}")))?;
    let entity = PublicKeyCredentialUserEntity {
        name,
        id: &handle,
        display_name: Nickname::try_from(display.as_str()).ok(),
    };
    let mut options = PublicKeyCredentialCreationOptions::passkey(&settings.rp_id, entity, exclude);
    options.timeout = settings.timeout;
    // credProtect asked for, not enforced by the browser: an authenticator without the
    // extension (Chromium's virtual one, some platform ones) would otherwise refuse to create
    // the passkey at all. Every login requires user verification here regardless.
    options.extensions.cred_protect =
        CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("creation options: {e}")))?;
    let state = server
        .encode()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("registration state: {e}")))?;
    passkeys
        .store
        .put_ceremony(
            Ceremony::Register,
            &challenge_key(server.sent_challenge()),
            &state,
            Some(&user.user.id),
            now_s() + settings.timeout_secs(),
        )
        .await?;
    let mut public_key = serde_json::to_value(&client)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("creation options JSON: {e}")))?;
    // The crate names the RP by its id; authenticators show this name.
    if let Some(rp) = public_key.get_mut("rp").and_then(|v| v.as_object_mut()) {
        rp.insert("name".to_owned(), settings.rp_name.clone().into());
    }
    Ok(Json(CeremonyOptions { public_key }).into_response())
}

/// An excluded credential, from a stored passkey (one that cannot be read is left out: the
/// authenticator then only risks being registered twice, which `PASSKEY_EXISTS` refuses).
fn descriptor(p: &StoredPasskey) -> Option<PublicKeyCredentialDescriptor<Vec<u8>>> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let id = URL_SAFE_NO_PAD.decode(&p.id).ok()?;
    Some(PublicKeyCredentialDescriptor {
        id: CredentialId::decode(id).ok()?,
        transports: AuthTransports::decode(p.transports).ok()?,
    })
}

/// The new passkey: the browser's `credential.toJSON()` and an optional label.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterFinishBody {
    /// `credential.toJSON()` of what `navigator.credentials.create` returned.
    credential: CredentialJson,
    /// A label (1-64 characters; `Passkey` if left out).
    #[serde(default)]
    #[schema(schema_with = super::name_schema::optional)]
    name: Option<String>,
}

impl RegisterFinishBody {
    fn label(&self) -> Result<String, ApiError> {
        self.name.as_deref().map_or_else(
            || Ok("Passkey".to_owned()),
            |n| check_name(n, &["body", "name"]),
        )
    }
}

impl Validate for RegisterFinishBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.label())
    }
}

/// Finishes adding a passkey: the attestation is verified against the started ceremony (its
/// challenge, once; the origin; the RP ID; user presence and verification; the algorithm) and
/// the credential stored.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = RegisterFinishBody,
    responses(
        (status = 201, description = "The stored passkey", body = PasskeyBody),
        (status = 400, description = "Unknown, expired, used or another user's challenge (`PASSKEY_CEREMONY_INVALID`), or a response that does not verify (`PASSKEY_REJECTED`)", body = shared::openapi::ErrorEnvelope),
        (status = 401, description = "No valid access token", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "This credential is registered already (`PASSKEY_EXISTS`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Not a credential as `toJSON()` makes it, or a bad name", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn register_finish(
    State(passkeys): State<Passkeys>,
    user: AuthUser,
    Json(body): Json<RegisterFinishBody>,
) -> Result<Response, ApiError> {
    let settings = &passkeys.settings;
    let name = body.label()?;
    let loc = ["body", "credential"];
    let bytes = body.credential.bytes()?;
    let registration = Registration::from_json_relaxed(&bytes).map_err(|e| unreadable(&loc, &e))?;
    let challenge = registration
        .challenge_relaxed()
        .map_err(|e| unreadable(&loc, &e))?;
    // Taken out before verifying: a response that fails still spends the challenge.
    let state = passkeys
        .store
        .take_ceremony(
            Ceremony::Register,
            &challenge_key(challenge),
            Some(&user.user.id),
        )
        .await?
        .ok_or(ErrorCode::PasskeyCeremonyInvalid)?;
    let server = RegistrationServerState::<16>::decode(state.as_slice())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored registration state: {e}")))?;
    let options = RegistrationVerificationOptions::<String, String> {
        allowed_origins: &settings.origins,
        ..RegistrationVerificationOptions::default()
    };
    let credential = server
        .verify(&settings.rp_id, &registration, &options)
        .map_err(|e| {
            tracing::info!(user_id = %user.user.id, reason = %e, "passkey registration refused");
            ErrorCode::PasskeyRejected
        })?;
    let (id, transports, _handle, static_state, dynamic_state, _metadata) = credential.into_parts();
    let algorithm = match static_state.credential_public_key {
        UncompressedPubKey::Ed25519(_) => "EdDSA",
        UncompressedPubKey::P256(_) => "ES256",
        UncompressedPubKey::P384(_) => "ES384",
        UncompressedPubKey::Rsa(_) => "RS256",
    };
    let stored = StoredPasskey {
        id: b64(id.as_ref()),
        user_id: user.user.id.clone(),
        name,
        static_state: static_state.encode().unwrap_or_else(|e| match e {}),
        dynamic_state: dynamic_state
            .encode()
            .unwrap_or_else(|e| match e {})
            .to_vec(),
        sign_count: i64::from(dynamic_state.sign_count),
        transports: transports.encode().unwrap_or_else(|e| match e {}),
        algorithm: algorithm.to_owned(),
        created_at: now_rfc3339(),
        last_used_at: None,
    };
    if !passkeys.store.create(&stored).await? {
        return Err(ErrorCode::PasskeyExists.into());
    }
    tracing::info!(user_id = %user.user.id, credential = %stored.id, "passkey registered");
    Ok((StatusCode::CREATED, Json(PasskeyBody::from(&stored))).into_response())
}
