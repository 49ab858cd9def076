//! The owner's TOTP routes, by access token: enrol (password re-checked), confirm (the first
//! code; the recovery codes, once), status, disable and new recovery codes (password and a
//! code or recovery code).

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use identity::AuthUser;
use qrcode::{QrCode, render::svg};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    error::FieldError,
    extract::{ClientIp, Json, Validate},
};

use super::{
    Given, MfaContext, given, given_errors, guess_factor, recheck_password,
    store::{Factor, Proof},
    totp, wrong_code,
};
use crate::{context::AuthContext, verification::Message};

/// Bytes of a TOTP secret: 160 bits, RFC 4226's recommendation and SHA-1's block of key.
const SECRET_BYTES: usize = 20;

/// `mfa`, `mfa/totp` (POST, DELETE), `mfa/totp/confirm`, `mfa/recovery-codes`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/api/v1/auth/mfa", status)
        .post("/api/v1/auth/mfa/totp", enrol)
        .delete("/api/v1/auth/mfa/totp", disable)
        .post("/api/v1/auth/mfa/totp/confirm", confirm)
        .post("/api/v1/auth/mfa/recovery-codes", regenerate)
}

/// Answers that carry a secret or codes are never stored by a cache.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The caller's factor, if it is confirmed; else 409 `MFA_NOT_ENROLLED`.
async fn confirmed(mfa: &MfaContext, user_id: &str) -> Result<Factor, ApiError> {
    mfa.factors
        .get(user_id)
        .await?
        .filter(Factor::is_confirmed)
        .ok_or_else(|| ErrorCode::MfaNotEnrolled.into())
}

/// The caller's password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolBody {
    /// The current password, re-checked.
    #[schema(value_type = String, format = Password, min_length = 1)]
    password: SecretString,
}

/// Its one field is checked against the account.
impl Validate for EnrolBody {}

/// A pending enrolment: the secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    secret: String,
    /// `otpauth://totp/<issuer>:<account>?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30`.
    otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    qr_svg: String,
    /// `SHA1`.
    algorithm: &'static str,
    /// 6.
    digits: u32,
    /// 30 (seconds).
    period: u64,
    /// What to do next.
    message: &'static str,
}

/// Starts enrolling an authenticator app (TOTP): a fresh secret, pending until a code from the
/// app confirms it. A pending enrolment is replaced by the next one.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body = EnrolBody,
    responses(
        (status = 201, description = "The secret, its otpauth URI and QR code (shown once)", body = Enrolment),
        (status = 401, description = "Wrong password (`INVALID_CREDENTIALS`) or no valid access token", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "An app is already confirmed (`MFA_ALREADY_ENABLED`)", body = shared::openapi::ErrorEnvelope),
        (status = 429, description = "Too many wrong passwords", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn enrol(
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    user: AuthUser,
    client: ClientIp,
    Json(body): Json<EnrolBody>,
) -> Result<Response, ApiError> {
    let u = &user.user;
    recheck_password(&auth, u, &client, &body.password).await?;
    let mut secret = [0_u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("no randomness for a TOTP secret")))?;
    let keys = mfa.keys().await?;
    let sealed = keys.seal(&secret, &u.id).map_err(ApiError::Internal)?;
    if !mfa.factors.put_pending(&u.id, &sealed).await? {
        return Err(ErrorCode::MfaAlreadyEnabled.into());
    }
    let uri = totp::otpauth_uri(&mfa.issuer, &u.email, &secret);
    let qr = QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    tracing::info!(user_id = %u.id, "TOTP enrolment started");
    let body = Enrolment {
        secret: totp::base32(&secret),
        otpauth_uri: uri,
        qr_svg: qr,
        algorithm: totp::Algorithm::Sha1.name(),
        digits: totp::DIGITS,
        period: totp::PERIOD,
        message: "Scan the QR code, then confirm with a code from the app",
    };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// The first code from the app.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    /// The six-digit code the app shows.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
}

impl Validate for ConfirmBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        given_errors(Some(&self.code), None, false)
    }
}

/// Recovery codes, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Each works once at `/login/mfa` instead of a code; store them offline.
    recovery_codes: Vec<String>,
    /// What happened.
    message: &'static str,
}

/// Confirms the pending enrolment with a code from the app: the factor is on from now (every
/// login asks for a code) and the answer holds the recovery codes, shown once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "Confirmed; ten recovery codes (shown once)", body = RecoveryCodes),
        (status = 401, description = "Wrong or used code (`INVALID_MFA_CODE`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "Nothing pending (`MFA_NOT_ENROLLED`) or already confirmed (`MFA_ALREADY_ENABLED`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Not six digits", body = shared::openapi::ErrorEnvelope),
        (status = 429, description = "Too many wrong codes", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn confirm(
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    user: AuthUser,
    client: ClientIp,
    Json(body): Json<ConfirmBody>,
) -> Result<Response, ApiError> {
    let given = given(Some(&body.code), None, false)?;
    let u = &user.user;
    let factor = match mfa.factors.get(&u.id).await? {
        None => return Err(ErrorCode::MfaNotEnrolled.into()),
        Some(f) if f.is_confirmed() => return Err(ErrorCode::MfaAlreadyEnabled.into()),
        Some(f) => f,
    };
    let (proof, guess) = guess_factor(&mfa, &auth, &client, &factor, &given).await?;
    let Proof::Step(step) = proof else {
        return Err(ErrorCode::InvalidMfaCode.into());
    };
    let (codes, hashes) = mfa.fresh_codes(&factor.sealed.kid).await?;
    if !mfa
        .factors
        .confirm(&u.id, &factor.sealed, step, hashes)
        .await?
    {
        // Re-enrolled, confirmed or removed since it was read: this code confirms nothing.
        return Err(wrong_code(&auth, &guess).await);
    }
    auth.right_guess(&guess).await?;
    tracing::info!(user_id = %u.id, "TOTP confirmed");
    let body = RecoveryCodes {
        recovery_codes: codes,
        message: "Authenticator app confirmed; logins now ask for a code",
    };
    Ok(no_store(Json(body).into_response()))
}

/// Whether the caller has an authenticator app.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MfaStatus {
    /// An enrolment exists, pending or confirmed.
    enrolled: bool,
    /// A code confirmed it: logins ask for a code.
    confirmed: bool,
    /// RFC 3339, when it was confirmed.
    confirmed_at: Option<String>,
    /// Recovery codes not used yet.
    recovery_codes_left: usize,
}

/// The caller's second factor.
#[utoipa::path(get, path = "/api/v1/auth/mfa", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, description = "The status", body = MfaStatus)))]
pub(crate) async fn status(
    State(mfa): State<MfaContext>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let factor = mfa.factors.get(&user.user.id).await?;
    let body = MfaStatus {
        enrolled: factor.is_some(),
        confirmed: factor.as_ref().is_some_and(Factor::is_confirmed),
        confirmed_at: factor.as_ref().and_then(|f| f.confirmed_at.clone()),
        recovery_codes_left: factor.as_ref().map_or(0, |f| f.recovery.len()),
    };
    Ok(no_store(Json(body).into_response()))
}

/// The password and the factor: a code, or a recovery code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProveBody {
    /// The current password, re-checked.
    #[schema(value_type = String, format = Password, min_length = 1)]
    password: SecretString,
    /// The six-digit code the app shows (or give `recovery_code`).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: Option<String>,
    /// A recovery code instead of `code`; spent by this request.
    #[serde(default)]
    recovery_code: Option<String>,
}

impl ProveBody {
    fn given(&self) -> Result<Given, ApiError> {
        given(self.code.as_deref(), self.recovery_code.as_deref(), true)
    }
}

impl Validate for ProveBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        given_errors(self.code.as_deref(), self.recovery_code.as_deref(), true)
    }
}

/// The password, then the factor, each a guess: the confirmed factor and the proof to spend.
async fn prove(
    auth: &AuthContext,
    mfa: &MfaContext,
    user: &AuthUser,
    client: &ClientIp,
    body: &ProveBody,
) -> Result<(Factor, Proof, crate::guesses::Guess), ApiError> {
    let given = body.given()?;
    let factor = confirmed(mfa, &user.user.id).await?;
    recheck_password(auth, &user.user, client, &body.password).await?;
    let (proof, guess) = guess_factor(mfa, auth, client, &factor, &given).await?;
    Ok((factor, proof, guess))
}

/// Turns the authenticator app off (password and a code or recovery code): logins no longer
/// ask for a code, and the recovery codes are gone.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body = ProveBody,
    responses(
        (status = 200, description = "Disabled", body = Message),
        (status = 401, description = "Wrong password (`INVALID_CREDENTIALS`) or code (`INVALID_MFA_CODE`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "No confirmed app (`MFA_NOT_ENROLLED`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Neither or both of `code` and `recovery_code`", body = shared::openapi::ErrorEnvelope),
        (status = 429, description = "Too many wrong guesses", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn disable(
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    user: AuthUser,
    client: ClientIp,
    Json(body): Json<ProveBody>,
) -> Result<Response, ApiError> {
    let (factor, proof, guess) = prove(&auth, &mfa, &user, &client, &body).await?;
    if !mfa.factors.remove(&factor, &proof).await? {
        return Err(wrong_code(&auth, &guess).await);
    }
    auth.right_guess(&guess).await?;
    tracing::info!(user_id = %user.user.id, "TOTP disabled");
    Ok(no_store(
        Json(Message::new("Authenticator app disabled")).into_response(),
    ))
}

/// A new set of recovery codes (password and a code or recovery code); the old set stops
/// working.
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    request_body = ProveBody,
    responses(
        (status = 200, description = "Ten new recovery codes (shown once); the old ones are void", body = RecoveryCodes),
        (status = 401, description = "Wrong password (`INVALID_CREDENTIALS`) or code (`INVALID_MFA_CODE`)", body = shared::openapi::ErrorEnvelope),
        (status = 409, description = "No confirmed app (`MFA_NOT_ENROLLED`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Neither or both of `code` and `recovery_code`", body = shared::openapi::ErrorEnvelope),
        (status = 429, description = "Too many wrong guesses", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn regenerate(
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    user: AuthUser,
    client: ClientIp,
    Json(body): Json<ProveBody>,
) -> Result<Response, ApiError> {
    let (factor, proof, guess) = prove(&auth, &mfa, &user, &client, &body).await?;
    let (codes, hashes) = mfa.fresh_codes(&factor.sealed.kid).await?;
    if !mfa
        .factors
        .replace_recovery(&factor, &proof, hashes)
        .await?
    {
        return Err(wrong_code(&auth, &guess).await);
    }
    auth.right_guess(&guess).await?;
    tracing::info!(user_id = %user.user.id, "recovery codes replaced");
    let body = RecoveryCodes {
        recovery_codes: codes,
        message: "New recovery codes; the old ones no longer work",
    };
    Ok(no_store(Json(body).into_response()))
}
