//! Recovery codes (single use, mailed, replaced), disabling the app, and an admin's reset that
//! ends the user's sessions.
#![allow(clippy::expect_used)] // Test code: a failed set-up should stop the test loudly.

use e2e::Identity;
use serde_json::json;

use super::{auth_call, code, enrolled, error_code, login_mfa, mfa_token, status};

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
