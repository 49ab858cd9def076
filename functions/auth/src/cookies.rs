//! The refresh-token cookie (`REFRESH_COOKIE=true`): set with every token pair, cleared on
//! logout, read by `/refresh` when the body has no token. `HttpOnly; Secure; SameSite=Strict`,
//! scoped to `REFRESH_COOKIE_PATH`.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use shared::extract::Json;

use crate::context::AuthSettings;

const NAME: &str = "refresh_token";

/// The token body of signup, login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

/// A token pair response: never cacheable, and with the cookie when that mode is on.
pub fn tokens_response(settings: &AuthSettings, status: StatusCode, pair: TokenPair) -> Response {
    let cookie = settings.refresh_cookie.then(|| {
        format!(
            "{NAME}={}; HttpOnly; Secure; SameSite=Strict; Path={}; Max-Age={}",
            pair.refresh_token,
            settings.refresh_cookie_path,
            settings.refresh_ttl.as_secs()
        )
    });
    let mut response = (status, Json(pair)).into_response();
    // Tokens must never be cached by a proxy or the browser.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `response` with the cookie cleared, when that mode is on.
pub fn with_cleared_cookie(settings: &AuthSettings, mut response: Response) -> Response {
    if settings.refresh_cookie {
        let value = format!(
            "{NAME}=; HttpOnly; Secure; SameSite=Strict; Path={}; Max-Age=0",
            settings.refresh_cookie_path
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The refresh token from the cookie, when that mode is on and the request carries one.
pub fn refresh_token(settings: &AuthSettings, headers: &HeaderMap) -> Option<String> {
    if !settings.refresh_cookie {
        return None;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == NAME)
        .map(|(_, v)| v.to_owned())
}
