//! Mail flows end to end: real SES v2 calls to the emulator, mail read back from it.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a missing mail must fail the test.

use e2e::{Identity, token_in, unique};
use identity::jwt::TokenKind;
use serde_json::{Value, json};

async fn reset_token_for(id: &Identity, email: &str) -> String {
    let before = id.mail_to(email).await.len();
    let reply = id.forgot(email).await;
    assert_eq!(reply.status, 202);
    let mails = e2e::mail_at_least(email, before + 1).await;
    token_in(mails.last().expect("a reset mail")).expect("a token in the mail")
}

#[tokio::test]
async fn forgot_answers_the_same_for_known_and_unknown_emails_and_mails_only_the_known() {
    let id = Identity::start_with(&[("PUBLIC_APP_URL", "https://app.example.com")]).await;
    let account = id.signup().await;
    let unknown = format!("{}@example.com", unique());

    let known_reply = id.forgot(&account.email).await;
    let unknown_reply = id.forgot(&unknown).await;

    assert_eq!(known_reply.status, 202);
    assert_eq!(unknown_reply.status, 202);
    assert_eq!(known_reply.body, unknown_reply.body);
    let resets: Vec<Value> = e2e::mail_at_least(&account.email, 2)
        .await
        .into_iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains("Reset")))
        .collect();
    assert_eq!(resets.len(), 1, "exactly one reset mail: {resets:?}");
    let body = resets[0]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("https:&#x2f;&#x2f;app.example.com&#x2f;reset-password?token="),
        "{body}"
    );
    assert!(token_in(&resets[0]).is_some());
    assert!(id.mail_to(&unknown).await.is_empty());
}

#[tokio::test]
async fn a_reset_token_works_once_and_ends_every_session() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let token = reset_token_for(&id, &account.email).await;
    let new_password = "quartz meadow lighthouse";

    let first = id
        .post_auth(
            "password/reset",
            &json!({"token": token, "new_password": new_password}),
            None,
        )
        .await;
    let second = id
        .post_auth(
            "password/reset",
            &json!({"token": token, "new_password": "another fine passphrase"}),
            None,
        )
        .await;

    assert_eq!(first.status, 200, "{}", first.json());
    assert!(
        first.json().get("access_token").is_none(),
        "reset does not log in"
    );
    assert_eq!(second.status, 400);
    assert_eq!(second.json()["error_code"], "INVALID_ACTION_TOKEN");
    assert_eq!(
        id.login(&account.username, &account.password).await.status,
        401
    );
    assert_eq!(id.login(&account.username, new_password).await.status, 200);
    assert_eq!(id.me(&account.access).await.status, 401);
    let refresh = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    assert_eq!(refresh.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_resets_with_one_token_give_exactly_one_success() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let token = reset_token_for(&id, &account.email).await;

    let body_a = json!({"token": token, "new_password": "quartz meadow lighthouse"});
    let body_b = json!({"token": token, "new_password": "copper canyon whistle"});

    let (a, b) = tokio::join!(
        id.post_auth("password/reset", &body_a, None),
        id.post_auth("password/reset", &body_b, None),
    );

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn a_weak_new_password_is_422_and_leaves_the_token_usable() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let token = reset_token_for(&id, &account.email).await;

    let weak = id
        .post_auth(
            "password/reset",
            &json!({"token": token, "new_password": "password1"}),
            None,
        )
        .await;
    let strong = id
        .post_auth(
            "password/reset",
            &json!({"token": token, "new_password": "quartz meadow lighthouse"}),
            None,
        )
        .await;

    assert_eq!(weak.status, 422);
    assert_eq!(strong.status, 200);
}

#[tokio::test]
async fn a_newer_reset_token_voids_the_older_one() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let older = reset_token_for(&id, &account.email).await;
    let newer = reset_token_for(&id, &account.email).await;

    let with_older = id
        .post_auth(
            "password/reset",
            &json!({"token": older, "new_password": "quartz meadow lighthouse"}),
            None,
        )
        .await;
    let with_newer = id
        .post_auth(
            "password/reset",
            &json!({"token": newer, "new_password": "quartz meadow lighthouse"}),
            None,
        )
        .await;

    assert_eq!(with_older.status, 400);
    assert_eq!(with_newer.status, 200);
}

#[tokio::test]
async fn wrong_purpose_tokens_fail() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let reset = reset_token_for(&id, &account.email).await;
    let verify = id
        .mail_to(&account.email)
        .await
        .iter()
        .find(|m| m["subject"].as_str().is_some_and(|s| s.contains("Confirm")))
        .and_then(token_in)
        .expect("signup sent a verification mail");

    let verify_on_reset = id
        .post_auth(
            "password/reset",
            &json!({"token": verify, "new_password": "quartz meadow lighthouse"}),
            None,
        )
        .await;
    let reset_on_verify = id
        .post_auth("verify-email", &json!({"token": reset}), None)
        .await;
    let access_on_verify = id
        .post_auth("verify-email", &json!({"token": account.access}), None)
        .await;

    assert_eq!(verify_on_reset.status, 400);
    assert_eq!(verify_on_reset.json()["error_code"], "INVALID_ACTION_TOKEN");
    assert_eq!(reset_on_verify.status, 400);
    assert_eq!(access_on_verify.status, 400);
    assert_eq!(id.me(&reset).await.status, 401);
    assert_eq!(id.me(&verify).await.status, 401);
}

#[tokio::test]
async fn an_expired_reset_token_fails() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let identity = &id.identity;
    let signer = id.auth_context.signer().await.expect("signer");
    // Issued an hour ago (the injected clock), and recorded as the pending reset.
    let an_hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3_600;
    let issued = signer
        .issue(TokenKind::PasswordReset, &account.id, None, an_hour_ago)
        .expect("issue");
    identity
        .store
        .users
        .allow_reset_jti(&account.id, &issued.claims.jti)
        .await
        .expect("record");

    let reply = id
        .post_auth(
            "password/reset",
            &json!({"token": issued.token, "new_password": "quartz meadow lighthouse"}),
            None,
        )
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error_code"], "INVALID_ACTION_TOKEN");
}

#[tokio::test]
async fn verification_sets_email_verified_once() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let token = id
        .mail_to(&account.email)
        .await
        .first()
        .and_then(token_in)
        .expect("verification mail");

    let first = id
        .post_auth("verify-email", &json!({"token": token}), None)
        .await;
    let again = id
        .post_auth("verify-email", &json!({"token": token}), None)
        .await;

    assert_eq!(first.status, 200, "{}", first.json());
    assert_eq!(again.status, 400);
    assert_eq!(id.me(&account.access).await.json()["email_verified"], true);
}

#[tokio::test]
async fn require_verified_email_blocks_tokens_until_verified() {
    let id = Identity::start_with(&[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let tag = unique();
    let (username, email, password) = (
        format!("v_{tag}"),
        format!("{tag}@example.com"),
        "violet tractor sunrise",
    );

    let signup = id
        .post_auth(
            "signup",
            &json!({"username": username, "email": email, "password": password,
                    "first_name": "V", "last_name": "W"}),
            None,
        )
        .await;
    let before = id.login(&username, password).await;
    let wrong_password = id.login(&username, "not the password at all").await;
    let resend = id
        .post_auth("verify-email/resend", &json!({"email": email}), None)
        .await;
    let mails = id.mail_to(&email).await;
    let token = mails.last().and_then(token_in).expect("mail");
    assert_eq!(
        id.post_auth("verify-email", &json!({"token": token}), None)
            .await
            .status,
        200
    );
    let after = id.login(&username, password).await;

    assert_eq!(signup.status, 201, "{}", signup.json());
    assert!(
        signup.json().get("access_token").is_none(),
        "no tokens before verification"
    );
    assert_eq!(before.status, 403);
    assert_eq!(before.json()["error_code"], "EMAIL_NOT_VERIFIED");
    assert_eq!(wrong_password.status, 401, "strangers learn nothing");
    assert_eq!(resend.status, 202);
    assert_eq!(mails.len(), 2, "signup's mail and the resend");
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn a_password_change_voids_a_pending_reset_link() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let token = reset_token_for(&id, &account.email).await;

    let change = id
        .post_auth("password/change", &json!({"current_password": account.password, "new_password": "quartz meadow lighthouse"}), Some(&account.access))
        .await;
    let reset = id
        .post_auth(
            "password/reset",
            &json!({"token": token, "new_password": "copper canyon whistle"}),
            None,
        )
        .await;

    assert_eq!(change.status, 200);
    assert_eq!(reset.status, 400);
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_ends_only_other_sessions() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let other = id.login(&account.username, &account.password).await.json();
    let other_access = other["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let other_refresh = other["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let wrong = id
        .post_auth("password/change", &json!({"current_password": "not it at all", "new_password": "quartz meadow lighthouse"}), Some(&account.access))
        .await;
    let right = id
        .post_auth("password/change", &json!({"current_password": account.password, "new_password": "quartz meadow lighthouse"}), Some(&account.access))
        .await;

    assert_eq!(wrong.status, 401);
    assert_eq!(right.status, 200, "{}", right.json());
    assert_eq!(
        id.me(&account.access).await.status,
        200,
        "the caller's session lives"
    );
    assert_eq!(id.me(&other_access).await.status, 401);
    let refresh = id
        .post_auth("refresh", &json!({"refresh_token": other_refresh}), None)
        .await;
    assert_eq!(refresh.status, 401);
    assert_eq!(
        id.login(&account.username, "quartz meadow lighthouse")
            .await
            .status,
        200
    );
    let notices = id.mail_to(&account.email).await;
    assert!(
        notices
            .iter()
            .any(|m| m["subject"].as_str().is_some_and(|s| s.contains("changed")))
    );
}

#[tokio::test]
async fn the_forgot_throttle_still_answers_202_but_sends_no_more_mail() {
    let id = Identity::start_with(&[("RESET_MAILS_PER_HOUR", "2")]).await;
    let account = id.signup().await;

    let replies = [
        id.forgot(&account.email).await,
        id.forgot(&account.email).await,
        id.forgot(&account.email).await,
    ];

    assert!(replies.iter().all(|r| r.status == 202));
    assert_eq!(replies[0].body, replies[2].body);
    let resets = e2e::mail_at_least(&account.email, 3)
        .await
        .into_iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains("Reset")))
        .count();
    assert_eq!(resets, 2);
}

#[tokio::test]
async fn user_supplied_names_are_escaped_in_the_html_part() {
    let id = Identity::start().await;
    let tag = unique();
    let email = format!("{tag}@example.com");
    let reply = id
        .post_auth(
            "signup",
            &json!({"username": format!("x_{tag}"), "email": email, "password": "violet tractor sunrise",
                    "first_name": "<script>alert(1)</script>", "last_name": "B"}),
            None,
        )
        .await;
    assert_eq!(reply.status, 201);

    let mails = id.mail_to(&email).await;

    let body = mails
        .first()
        .and_then(|m| m["body"].as_str())
        .expect("verification mail");
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
}

#[tokio::test]
async fn resend_answers_202_and_is_throttled() {
    let id = Identity::start_with(&[("VERIFY_MAILS_PER_HOUR", "1")]).await;
    let account = id.signup().await;

    let first = id
        .post_auth("verify-email/resend", &json!({}), Some(&account.access))
        .await;
    let second = id
        .post_auth("verify-email/resend", &json!({}), Some(&account.access))
        .await;
    let anonymous = id.post_auth("verify-email/resend", &json!({}), None).await;

    assert_eq!(first.status, 202);
    assert_eq!(second.status, 202);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        e2e::mail_at_least(&account.email, 2).await.len(),
        2,
        "signup's mail plus one resend"
    );
}

#[tokio::test]
async fn when_ses_refuses_signup_still_creates_the_account_and_forgot_still_answers_202() {
    // An unverified sender: the emulator's SES rejects every send, as AWS would. Retries at
    // once, so the jobs reach the dead-letter queue within the test.
    let id = Identity::start_with(&[
        ("MAIL_FROM", "unverified@nowhere.example"),
        ("JOBS_RETRY_BASE_SECS", "0"),
    ])
    .await;
    let account = id.signup().await;

    let reply = id.forgot(&account.email).await;

    assert_eq!(reply.status, 202);
    assert_eq!(
        id.login(&account.username, &account.password).await.status,
        200
    );
    // Both mails were tried until the queue gave up on them; none was sent.
    assert!(id.mail_to(&account.email).await.is_empty());
    let kinds: Vec<String> = id
        .queues
        .dead_letters()
        .await
        .iter()
        .filter_map(|m| queue::Envelope::parse(m.body.as_deref().unwrap_or_default()).ok())
        .map(|e| e.job.kind().to_owned())
        .collect();
    assert!(
        kinds.contains(&"verify_email".to_owned()) && kinds.contains(&"password_reset".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn forgot_with_a_malformed_email_is_422() {
    let id = Identity::start().await;

    let reply = id.forgot("not-an-email").await;

    let unknown_field = id
        .post_auth(
            "password/forgot",
            &json!({"email": "a@example.com", "x": 1}),
            None,
        )
        .await;

    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["detail"][0]["loc"], json!(["body", "email"]));
    assert_eq!(unknown_field.status, 422);
}
