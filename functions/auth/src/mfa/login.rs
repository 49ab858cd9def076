//! The login step-up. For a user with a confirmed factor, a right password at `/login` answers
//! an [`MfaChallenge`] instead of tokens: an `mfa_token` (its own `typ`, `mfa+jwt`, which no
//! other route accepts; [`identity::jwt::MFA_TOKEN_TTL`]) bound to the client that logged in.
//! `/login/mfa` exchanges it once, with a code or a recovery code, for the token pair: the
//! proof and the token's `jti` are spent in one transaction, so 50 parallel exchanges of one
//! valid code get one pair. A password change or reset, a logout-all or a disable after the
//! password was checked voids the token, as it does sessions.

use aws_lc_rs::digest;
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use identity::{
    IdentityState,
    jwt::{MFA_TOKEN_TTL, TokenKind},
    store::users::User,
};
use queue::Job;
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, ErrorCode, Routes,
    clock::{now_rfc3339, now_s},
    error::FieldError,
    extract::{ClientIp, Json, JsonOrForm, Validate},
};

use super::{
    MfaContext, given, given_errors, guess_factor,
    store::{Exchange, Factor, Proof},
    wrong_code,
};
use crate::{
    context::AuthContext,
    cookies::{self, TokenPair},
};

/// `login/mfa`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().post("/api/v1/auth/login/mfa", login_mfa)
}

/// `/login`'s answer for a user with a second factor: no tokens yet.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaChallenge {
    /// Always `true`: send `mfa_token` and a code to `/api/v1/auth/login/mfa`.
    pub mfa_required: bool,
    /// Single use, for this client only, short-lived.
    pub mfa_token: String,
    /// Always `mfa`: not a bearer token.
    pub token_type: &'static str,
    /// Seconds `mfa_token` stays valid.
    pub expires_in: u64,
    /// What `/login/mfa` accepts: `totp` (`code`) and `recovery_code`.
    pub methods: [&'static str; 2],
}

/// What `/login` answers with 200: the token pair, or, for a user with a second factor, the
/// challenge.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documentation only: login answers with a `TokenPair` or an `MfaChallenge`.
pub(crate) enum LoginAnswer {
    /// No second factor.
    Tokens(TokenPair),
    /// A second factor: `/login/mfa` next.
    Mfa(MfaChallenge),
}

/// The client an `mfa_token` is for: a digest of the address guesses are counted by, so the
/// token names no address.
fn binding(client: &ClientIp) -> String {
    let group = crate::guesses::client_group(client);
    let hash = digest::digest(&digest::SHA256, group.as_bytes());
    let hex: String = hash.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("mfa:{hex}")
}

/// After a right password: `Some(challenge)` when `user` has a confirmed factor (the login
/// stops there), `None` otherwise (the login goes on to the token pair).
pub(crate) async fn step_up(
    mfa: &MfaContext,
    auth: &AuthContext,
    user: &User,
    client: &ClientIp,
) -> Result<Option<Response>, ApiError> {
    let Some(_factor) = mfa
        .factors
        .get(&user.id)
        .await?
        .filter(Factor::is_confirmed)
    else {
        return Ok(None);
    };
    let signer = auth.signer().await?;
    let issued = signer.issue(
        TokenKind::MfaPending,
        &user.id,
        Some(&binding(client)),
        now_s(),
    )?;
    let body = MfaChallenge {
        mfa_required: true,
        mfa_token: issued.token,
        token_type: "mfa",
        expires_in: MFA_TOKEN_TTL.as_secs(),
        methods: ["totp", "recovery_code"],
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Some(response))
}

/// The second step of a login.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginMfaBody {
    /// The `mfa_token` `/login` answered.
    #[schema(min_length = 1)]
    mfa_token: String,
    /// The six-digit code the authenticator app shows (or give `recovery_code`).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: Option<String>,
    /// A recovery code instead of `code`; each works once, and using one is mailed.
    #[serde(default)]
    recovery_code: Option<String>,
}

impl Validate for LoginMfaBody {
    fn rule_errors(&self) -> Vec<FieldError> {
        given_errors(self.code.as_deref(), self.recovery_code.as_deref(), true)
    }
}

/// Exchanges `/login`'s `mfa_token` and a code (or a recovery code) for the token pair.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth",
    request_body(content((LoginMfaBody = "application/json"), (LoginMfaBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The token pair (and the refresh cookie under `REFRESH_COOKIE=true`)", body = TokenPair),
        (status = 401, description = "An `mfa_token` that is invalid, expired, used, for another client or voided (`INVALID_TOKEN`); a wrong or used code (`INVALID_MFA_CODE`)", body = shared::openapi::ErrorEnvelope),
        (status = 422, description = "Neither or both of `code` and `recovery_code`, or a code that is not six digits", body = shared::openapi::ErrorEnvelope),
        (status = 429, description = "Too many wrong codes", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn login_mfa(
    State(identity): State<IdentityState>,
    State(auth): State<AuthContext>,
    State(mfa): State<MfaContext>,
    client: ClientIp,
    JsonOrForm(body): JsonOrForm<LoginMfaBody>,
) -> Result<Response, ApiError> {
    let given = given(body.code.as_deref(), body.recovery_code.as_deref(), true)?;
    let claims = identity
        .verify(TokenKind::MfaPending, &body.mfa_token)
        .await?
        .map_err(|reason| {
            tracing::info!(%reason, "mfa token refused");
            ErrorCode::InvalidToken
        })?;
    if claims.sid.as_deref() != Some(binding(&client).as_str()) {
        tracing::info!("mfa token from another client");
        return Err(ErrorCode::InvalidToken.into());
    }
    let user = identity
        .store
        .users
        .get(&claims.sub)
        .await?
        .filter(User::is_active)
        // Issued before a password change or reset, a logout-all or a disable: void.
        .filter(|u| claims.iat.saturating_mul(1000) > u.tokens_valid_after_ms)
        .ok_or(ErrorCode::InvalidToken)?;
    let factor = mfa
        .factors
        .get(&user.id)
        .await?
        .filter(Factor::is_confirmed)
        // Disabled or reset since: the password alone is the login now; ask for it again.
        .ok_or(ErrorCode::InvalidToken)?;
    let (proof, guess) = guess_factor(&mfa, &auth, &client, &factor, &given).await?;
    match mfa
        .factors
        .exchange(&factor, &proof, &claims.jti, claims.exp)
        .await?
    {
        Exchange::Done => {}
        Exchange::ProofSpent => return Err(wrong_code(&auth, &guess).await),
        Exchange::TokenSpent => return Err(ErrorCode::InvalidToken.into()),
    }
    auth.right_guess(&guess).await?;
    if let Proof::Recovery(_) = proof {
        let notice = Job::RecoveryCodeUsed {
            user_id: user.id.clone(),
            used_at: now_rfc3339(),
        };
        // A queue that cannot be reached costs the notice, not the login.
        if let Err(err) = auth.queue.enqueue(notice).await {
            tracing::warn!(user_id = %user.id, error = ?err, "recovery code notice not enqueued");
        }
    }
    tracing::info!(user_id = %user.id, "second factor accepted");
    let pair = crate::session::start_session(&identity, &auth, &user).await?;
    Ok(cookies::tokens_response(
        &auth.settings,
        StatusCode::OK,
        pair,
    ))
}
