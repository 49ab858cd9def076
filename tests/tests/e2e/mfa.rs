//! The second factor (issue 25 item 1): TOTP enrolment and confirmation, the login step-up and
//! `/login/mfa`, codes and recovery codes each accepted once, the `mfa_token` single use and
//! never a bearer token, disabling, and an admin's reset ending the user's sessions. Codes are
//! computed here from the secret in the enrolment's `otpauth://` URI, as an authenticator app
//! would.

use e2e::{Account, Identity, Reply};
use futures::future::join_all;
use serde_json::{Value, json};

use auth::totp::{self, Algorithm};

/// An account with a confirmed authenticator app: its TOTP secret and its recovery codes.
struct Enrolled {
    account: Account,
    secret: Vec<u8>,
    recovery: Vec<String>,
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The app's code `steps` steps from now: `0` is the current one, `1` the next (accepted as
/// drift, so a test gets a second code without waiting).
fn code(secret: &[u8], steps: u64) -> String {
    totp::totp(
        Algorithm::Sha1,
        secret,
        now() + steps * totp::PERIOD,
        totp::PERIOD,
        totp::DIGITS,
    )
}

/// The secret in an `otpauth://` URI's `secret` parameter.
fn secret_of(uri: &str) -> Vec<u8> {
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .unwrap_or_else(|| panic!("no secret in {uri}"));
    totp::base32_decode(value).unwrap_or_else(|| panic!("secret is not base32: {value}"))
}

async fn auth_call(
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

async fn status(id: &Identity, bearer: &str) -> Value {
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
async fn enrolled(id: &Identity) -> Enrolled {
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
async fn mfa_token(id: &Identity, account: &Account) -> String {
    let reply = id.login(&account.username, &account.password).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["mfa_required"], true, "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn login_mfa(id: &Identity, body: &Value) -> Reply {
    id.post_auth("login/mfa", body, None).await
}

fn error_code(reply: &Reply) -> String {
    reply.json()["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_enrolment_is_confirmed_by_a_code_and_then_every_login_needs_one() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let started = auth_call(
        &id,
        http::Method::POST,
        "mfa/totp",
        &account.access,
        &json!({ "password": account.password }),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text());
    assert_eq!(started.header("cache-control"), "no-store");
    let body = started.json();
    let uri = body["otpauth_uri"].as_str().expect("otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains("&algorithm=SHA1&digits=6&period=30"), "{uri}");
    assert!(body["qr_svg"].as_str().is_some_and(|s| s.contains("<svg")));
    let secret = secret_of(uri);
    assert_eq!(secret.len(), 20, "a 160-bit secret");
    assert_eq!(
        body["secret"].as_str(),
        Some(totp::base32(&secret).as_str())
    );

    // Pending: the status says so and logins still answer tokens.
    let pending = status(&id, &account.access).await;
    assert_eq!(
        (pending["enrolled"].clone(), pending["confirmed"].clone()),
        (json!(true), json!(false))
    );
    let login = id.login(&account.username, &account.password).await;
    assert!(login.json()["access_token"].is_string(), "{}", login.text());

    let wrong = auth_call(
        &id,
        http::Method::POST,
        "mfa/totp/confirm",
        &account.access,
        &json!({ "code": "000000" }),
    )
    .await;
    let right = code(&secret, 0);
    if right != "000000" {
        assert_eq!(
            (wrong.status, error_code(&wrong)),
            (401, "INVALID_MFA_CODE".to_owned())
        );
    }
    let confirmed = auth_call(
        &id,
        http::Method::POST,
        "mfa/totp/confirm",
        &account.access,
        &json!({ "code": right }),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    assert_eq!(
        confirmed.json()["recovery_codes"].as_array().map(Vec::len),
        Some(10)
    );
    let again = auth_call(
        &id,
        http::Method::POST,
        "mfa/totp",
        &account.access,
        &json!({ "password": account.password }),
    )
    .await;
    assert_eq!(
        (again.status, error_code(&again)),
        (409, "MFA_ALREADY_ENABLED".to_owned())
    );
    let on = status(&id, &account.access).await;
    assert_eq!(on["confirmed"], true);
    assert_eq!(on["recovery_codes_left"], 10);
    assert!(on["confirmed_at"].is_string());

    // The password alone: a challenge and no token.
    let token = mfa_token(&id, &account).await;
    let finished = login_mfa(
        &id,
        &json!({ "mfa_token": token, "code": code(&secret, 1) }),
    )
    .await;
    assert_eq!(finished.status, 200, "{}", finished.text());
    let tokens = finished.json();
    let access = tokens["access_token"].as_str().expect("access_token");
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(id.me(access).await.status, 200);
}

#[tokio::test]
async fn a_password_alone_never_yields_tokens_for_a_user_with_a_factor_in_json_or_form() {
    let id = Identity::start().await;
    let user = enrolled(&id).await;
    let json_login = id
        .login(&user.account.username, &user.account.password)
        .await;
    let form = format!(
        "username={}&password={}&grant_type=password",
        user.account.username,
        user.account.password.replace(' ', "+")
    );
    let form_login = id
        .http
        .send(
            http::Method::POST,
            &format!("{}/api/v1/auth/login", id.auth),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    for reply in [json_login, form_login] {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("cache-control"), "no-store");
        assert!(reply.header("set-cookie").is_empty());
        let body = reply.json();
        assert_eq!(body["mfa_required"], true, "{body}");
        assert!(body.get("access_token").is_none(), "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(body["token_type"], "mfa");
    }
    // A wrong code gets no token either, and says why.
    let token = mfa_token(&id, &user.account).await;
    let right = code(&user.secret, 0);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let refused = login_mfa(&id, &json!({ "mfa_token": token, "code": wrong })).await;
    assert_eq!(
        (refused.status, error_code(&refused)),
        (401, "INVALID_MFA_CODE".to_owned())
    );
}

#[tokio::test]
async fn a_code_is_accepted_once_and_an_mfa_token_once_and_never_as_a_bearer_token() {
    // Without the delay between wrong guesses, so each replay is answered for what it is.
    let id = Identity::start_with(&[("LOGIN_BACKOFF_SECS", "0")]).await;
    let user = enrolled(&id).await;
    let next = code(&user.secret, 1);
    let first = mfa_token(&id, &user.account).await;

    // An mfa_token is not an access token.
    let as_bearer = id.me(&first).await;
    assert_eq!(as_bearer.status, 401, "{}", as_bearer.text());
    // Nor does /login/mfa take an access or refresh token for one.
    for other in [&user.account.access, &user.account.refresh] {
        let refused = login_mfa(&id, &json!({ "mfa_token": other, "code": next })).await;
        assert_eq!(
            (refused.status, error_code(&refused)),
            (401, "INVALID_TOKEN".to_owned())
        );
    }

    let done = login_mfa(&id, &json!({ "mfa_token": first, "code": next })).await;
    assert_eq!(done.status, 200, "{}", done.text());

    // The same mfa_token again, even with a code that would be fresh: spent.
    let reused = login_mfa(
        &id,
        &json!({ "mfa_token": first, "recovery_code": user.recovery[0] }),
    )
    .await;
    assert_eq!(
        (reused.status, error_code(&reused)),
        (401, "INVALID_TOKEN".to_owned())
    );
    // The same code with a new mfa_token: its step was spent.
    let second = mfa_token(&id, &user.account).await;
    let replayed = login_mfa(&id, &json!({ "mfa_token": second, "code": next })).await;
    assert_eq!(
        (replayed.status, error_code(&replayed)),
        (401, "INVALID_MFA_CODE".to_owned())
    );
    // An earlier step than the one spent is refused too.
    let older = login_mfa(
        &id,
        &json!({ "mfa_token": second, "code": code(&user.secret, 0) }),
    )
    .await;
    assert_eq!(older.status, 401, "{}", older.text());
}

#[tokio::test]
async fn recovery_codes_work_once_each_are_mailed_and_can_be_replaced() {
    let id = Identity::start().await;
    let user = enrolled(&id).await;
    assert_eq!(user.recovery.len(), 10);

    // Typed loosely: upper case, spaces for dashes.
    let typed = user.recovery[0].to_uppercase().replace('-', " ");
    let token = mfa_token(&id, &user.account).await;
    let used = login_mfa(&id, &json!({ "mfa_token": token, "recovery_code": typed })).await;
    assert_eq!(used.status, 200, "{}", used.text());
    let access = used.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(status(&id, &access).await["recovery_codes_left"], 9);

    let token = mfa_token(&id, &user.account).await;
    let again = login_mfa(
        &id,
        &json!({ "mfa_token": token, "recovery_code": user.recovery[0] }),
    )
    .await;
    assert_eq!(
        (again.status, error_code(&again)),
        (401, "INVALID_MFA_CODE".to_owned())
    );

    let mails = id.mail_to(&user.account.email).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to_string().contains("recovery code")),
        "no recovery-code notice among {mails:?}"
    );

    // A new set, proved with password and another recovery code: the old set is void.
    let replaced = auth_call(
        &id,
        http::Method::POST,
        "mfa/recovery-codes",
        &access,
        &json!({ "password": user.account.password, "recovery_code": user.recovery[1] }),
    )
    .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let fresh = replaced.json()["recovery_codes"]
        .as_array()
        .cloned()
        .expect("codes");
    assert_eq!(fresh.len(), 10);
    assert_eq!(status(&id, &access).await["recovery_codes_left"], 10);
    let token = mfa_token(&id, &user.account).await;
    let old = login_mfa(
        &id,
        &json!({ "mfa_token": token, "recovery_code": user.recovery[2] }),
    )
    .await;
    assert_eq!(old.status, 401, "{}", old.text());
    let new = login_mfa(
        &id,
        &json!({ "mfa_token": token, "recovery_code": fresh[0] }),
    )
    .await;
    assert_eq!(new.status, 200, "{}", new.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_exchanges_of_one_valid_code_get_exactly_one_token_pair() {
    // Guess limits out of the way, so every request reaches the code check and the store race.
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "1000"), ("LOGIN_BACKOFF_SECS", "0")]).await;
    let user = enrolled(&id).await;
    let next = code(&user.secret, 1);
    // Five logins' tokens, ten requests each: the step and the tokens are raced together.
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(mfa_token(&id, &user.account).await);
    }
    let requests = (0..50).map(|i| {
        let body = json!({ "mfa_token": tokens[i % 5], "code": next });
        let id = &id;
        async move { login_mfa(id, &body).await }
    });
    let replies = join_all(requests).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert!(
            ["INVALID_MFA_CODE", "INVALID_TOKEN"].contains(&error_code(reply).as_str()),
            "{}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_code_and_then_the_password_alone_logs_in() {
    let id = Identity::start().await;
    let user = enrolled(&id).await;
    let next = code(&user.secret, 1);
    let wrong_password = auth_call(
        &id,
        http::Method::DELETE,
        "mfa/totp",
        &user.account.access,
        &json!({ "password": "not the password", "code": next }),
    )
    .await;
    assert_eq!(
        (wrong_password.status, error_code(&wrong_password)),
        (401, "INVALID_CREDENTIALS".to_owned())
    );
    let no_code = auth_call(
        &id,
        http::Method::DELETE,
        "mfa/totp",
        &user.account.access,
        &json!({ "password": user.account.password }),
    )
    .await;
    assert_eq!(no_code.status, 422, "{}", no_code.text());
    let disabled = auth_call(
        &id,
        http::Method::DELETE,
        "mfa/totp",
        &user.account.access,
        &json!({ "password": user.account.password, "code": next }),
    )
    .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(status(&id, &user.account.access).await["enrolled"], false);
    let login = id
        .login(&user.account.username, &user.account.password)
        .await;
    assert!(login.json()["access_token"].is_string(), "{}", login.text());
    let twice = auth_call(
        &id,
        http::Method::DELETE,
        "mfa/totp",
        &user.account.access,
        &json!({ "password": user.account.password, "code": next }),
    )
    .await;
    assert_eq!(
        (twice.status, error_code(&twice)),
        (409, "MFA_NOT_ENROLLED".to_owned())
    );
}

#[tokio::test]
async fn an_admin_reset_removes_the_factor_and_ends_every_session_of_the_user() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let user = enrolled(&id).await;
    // A session of the user's, and an mfa_token from before the reset.
    let pending = mfa_token(&id, &user.account).await;
    assert_eq!(id.me(&user.account.access).await.status, 200);

    let path = format!("/{}/mfa", user.account.id);
    let as_user = id
        .users_call(
            http::Method::DELETE,
            &path,
            Some(&user.account.access),
            None,
        )
        .await;
    assert_eq!(as_user.status, 403, "{}", as_user.text());

    let reset = id
        .users_call(http::Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text());
    let body = reset.json();
    assert_eq!(body["factor_removed"], true, "{body}");
    assert!(
        body["sessions_revoked"].as_u64().is_some_and(|n| n >= 1),
        "{body}"
    );

    assert_eq!(id.me(&user.account.access).await.status, 401);
    let refreshed = id
        .post_auth(
            "refresh",
            &json!({ "refresh_token": user.account.refresh }),
            None,
        )
        .await;
    assert_eq!(refreshed.status, 401, "{}", refreshed.text());
    let stale = login_mfa(
        &id,
        &json!({ "mfa_token": pending, "code": code(&user.secret, 1) }),
    )
    .await;
    assert_eq!(
        (stale.status, error_code(&stale)),
        (401, "INVALID_TOKEN".to_owned())
    );
    let login = id
        .login(&user.account.username, &user.account.password)
        .await;
    assert!(login.json()["access_token"].is_string(), "{}", login.text());

    let again = id
        .users_call(http::Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(again.json()["factor_removed"], false);
}
