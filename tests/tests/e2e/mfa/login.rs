//! Enrolment, the login step-up and `/login/mfa`: a password alone never yields tokens for a
//! user with a factor; a code and an `mfa_token` are each accepted once, and an `mfa_token` is
//! never a bearer token; of parallel exchanges of one valid code, exactly one succeeds.
#![allow(clippy::expect_used)] // Test code: a failed set-up should stop the test loudly.

use e2e::Identity;
use serde_json::json;

use super::{auth_call, code, enrolled, error_code, login_mfa, mfa_token, secret_of, status};
use auth::totp;
use futures::future::join_all;

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
