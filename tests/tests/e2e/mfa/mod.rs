//! The second factor (issue 25 item 1), and the helpers its tests share: codes are computed here
//! from the secret in the enrolment's `otpauth://` URI, as an authenticator app would.
//! [`login`]: enrolment, the login step-up and `/login/mfa`, each code and `mfa_token` accepted
//! once, the parallel race; [`manage`]: recovery codes, disabling, an admin's reset.
#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

mod login;
mod manage;

use e2e::{Account, Identity, Reply};
use serde_json::{Value, json};

use auth::totp::{self, Algorithm};

/// An account with a confirmed authenticator app: its TOTP secret and its recovery codes.
pub(crate) struct Enrolled {
    pub(crate) account: Account,
    pub(crate) secret: Vec<u8>,
    pub(crate) recovery: Vec<String>,
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The app's code `steps` steps from now: `0` is the current one, `1` the next (accepted as
/// drift, so a test gets a second code without waiting).
pub(crate) fn code(secret: &[u8], steps: u64) -> String {
    totp::totp(
        Algorithm::Sha1,
        secret,
        now() + steps * totp::PERIOD,
        totp::PERIOD,
        totp::DIGITS,
    )
}

/// The secret in an `otpauth://` URI's `secret` parameter.
pub(crate) fn secret_of(uri: &str) -> Vec<u8> {
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .unwrap_or_else(|| panic!("no secret in {uri}"));
    totp::base32_decode(value).unwrap_or_else(|| panic!("secret is not base32: {value}"))
}

pub(crate) async fn auth_call(
    id: &Identity,
    method: http::Method,
    path: &str,
    bearer: &str,
    body: &Value,
) -> Reply {
    let header = format!("Bearer {bearer}");
    id.http
        .json(
            method,
            &format!("{}/api/v1/auth/{path}", id.auth),
            &[("authorization", header.as_str())],
            body,
        )
        .await
}

pub(crate) async fn status(id: &Identity, bearer: &str) -> Value {
    let header = format!("Bearer {bearer}");
    let reply = id
        .http
        .get(
            &format!("{}/api/v1/auth/mfa", id.auth),
            &[("authorization", header.as_str())],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// Signs up, enrols an app and confirms it with the current code.
pub(crate) async fn enrolled(id: &Identity) -> Enrolled {
    let account = id.signup().await;
    let started = auth_call(
        id,
        http::Method::POST,
        "mfa/totp",
        &account.access,
        &json!({ "password": account.password }),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text());
    let body = started.json();
    let uri = body["otpauth_uri"].as_str().expect("otpauth_uri");
    let secret = secret_of(uri);
    let confirmed = auth_call(
        id,
        http::Method::POST,
        "mfa/totp/confirm",
        &account.access,
        &json!({ "code": code(&secret, 0) }),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let recovery = confirmed.json()["recovery_codes"]
        .as_array()
        .expect("recovery_codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    Enrolled {
        account,
        secret,
        recovery,
    }
}

/// Logs in with the password and returns the `mfa_token` the step-up answered.
pub(crate) async fn mfa_token(id: &Identity, account: &Account) -> String {
    let reply = id.login(&account.username, &account.password).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["mfa_required"], true, "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

pub(crate) async fn login_mfa(id: &Identity, body: &Value) -> Reply {
    id.post_auth("login/mfa", body, None).await
}

pub(crate) fn error_code(reply: &Reply) -> String {
    reply.json()["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
