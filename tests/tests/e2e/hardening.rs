//! Identity hardening: each test reproduces what an outside review broke with real requests
//! (reset links outliving a disable, mail loops, timing, the rehash order, headers, media types,
//! the last admin, concurrent refreshes, the forgot ordering), through HTTP against the emulator.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a missing mail must fail the test.

use std::time::Duration;

use e2e::{Identity, Reply, fresh_table_like, token_in, unique};
use http::Method;
use serde_json::json;

/// The token of the newest mail to `email`, once `id`'s jobs are worked.
async fn latest_token(id: &Identity, email: &str) -> String {
    let mails = id.mail_to(email).await;
    token_in(mails.last().expect("a mail")).expect("a token in the mail")
}

async fn reset(id: &Identity, token: &str, password: &str) -> Reply {
    id.post_auth(
        "password/reset",
        &json!({ "token": token, "new_password": password }),
        None,
    )
    .await
}

async fn patch_user(id: &Identity, admin: &str, user_id: &str, body: serde_json::Value) -> Reply {
    id.users_call(
        Method::PATCH,
        &format!("/{user_id}"),
        Some(admin),
        Some(&body),
    )
    .await
}

// ---------------------------------------------------------------- action tokens

#[tokio::test]
async fn a_reset_link_mailed_before_the_account_was_disabled_never_works() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let victim = id.signup().await;
    assert_eq!(id.forgot(&victim.email).await.status, 202);
    e2e::mail_at_least(&victim.email, 2).await;
    let link = latest_token(&id, &victim.email).await;

    let disabled = patch_user(&id, &admin.access, &victim.id, json!({"disabled": true})).await;
    let while_disabled = reset(&id, &link, "attacker chosen passphrase").await;
    let enabled = patch_user(&id, &admin.access, &victim.id, json!({"disabled": false})).await;
    let after = reset(&id, &link, "attacker chosen passphrase").await;

    assert_eq!(disabled.status, 200);
    assert_eq!(while_disabled.status, 400, "{:?}", while_disabled.json());
    assert_eq!(while_disabled.json()["error_code"], "INVALID_ACTION_TOKEN");
    assert_eq!(enabled.status, 200);
    assert_eq!(after.status, 400, "re-enabling must not revive the link");
    assert_eq!(
        id.login(&victim.username, &victim.password).await.status,
        200,
        "the owner's password still works"
    );
    assert_eq!(
        id.login(&victim.username, "attacker chosen passphrase")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_verification_link_mailed_before_the_account_was_disabled_never_works() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let victim = id.signup().await;
    let link = latest_token(&id, &victim.email).await;

    patch_user(&id, &admin.access, &victim.id, json!({"disabled": true})).await;
    let while_disabled = id
        .post_auth("verify-email", &json!({ "token": link }), None)
        .await;
    patch_user(&id, &admin.access, &victim.id, json!({"disabled": false})).await;
    let after = id
        .post_auth("verify-email", &json!({ "token": link }), None)
        .await;

    assert_eq!(while_disabled.status, 400);
    assert_eq!(after.status, 400, "re-enabling must not revive the link");
    let login = id.login(&victim.username, &victim.password).await.json();
    let me = id.me(login["access_token"].as_str().expect("token")).await;
    assert_eq!(me.json()["email_verified"], false);
}

#[tokio::test]
async fn a_reset_link_of_a_deleted_account_never_works() {
    let id = Identity::start().await;
    let account = id.signup().await;
    id.forgot(&account.email).await;
    e2e::mail_at_least(&account.email, 2).await;
    let link = latest_token(&id, &account.email).await;

    let deleted = id
        .users_call(Method::DELETE, "/me", Some(&account.access), None)
        .await;

    assert_eq!(deleted.status, 204);
    assert_eq!(
        reset(&id, &link, "quartz meadow lighthouse").await.status,
        400
    );
}

#[tokio::test]
async fn a_reset_mail_that_fails_to_send_leaves_the_previous_link_working() {
    let id = Identity::start().await;
    let account = id.signup().await;
    id.forgot(&account.email).await;
    e2e::mail_at_least(&account.email, 2).await;
    let first_link = latest_token(&id, &account.email).await;
    // The same tables, but SES refuses every send (an unverified sender), as a timeout would.
    let failing = Identity::start_with(&[("MAIL_FROM", "unverified@nowhere.example")]).await;

    let second = failing.forgot(&account.email).await;
    let reply = reset(&id, &first_link, "quartz meadow lighthouse").await;

    assert_eq!(second.status, 202);
    assert_eq!(reply.status, 200, "{:?}", reply.json());
}

// ---------------------------------------------------------------- mail

#[tokio::test]
async fn signing_up_deleting_and_signing_up_again_sends_no_more_mail_than_the_address_allows() {
    let id = Identity::start_with(&[("MAILS_PER_ADDRESS_PER_HOUR", "3")]).await;
    let email = format!("{}@example.com", unique());

    for round in 0..6 {
        let reply = id
            .post_auth(
                "signup",
                &json!({"username": format!("loop_{}", unique()), "email": email,
                        "password": "violet tractor sunrise", "first_name": "L", "last_name": "P"}),
                None,
            )
            .await;
        assert_eq!(reply.status, 201, "round {round}: {:?}", reply.json());
        let access = reply.json()["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        // The worker mails live accounts only: let it send this round's mail first.
        id.queues.settled().await;
        let deleted = id
            .users_call(Method::DELETE, "/me", Some(&access), None)
            .await;
        assert_eq!(deleted.status, 204);
    }

    assert_eq!(id.mail_to(&email).await.len(), 3);
}

// forgot and resend answering alike whatever the address is a timing check: it runs alone,
// through the stack, in the smoke checks' timing phase (tests/tests/smoke/jobs.rs), where no
// other test is the noise it measures.

// ---------------------------------------------------------------- login

#[tokio::test]
async fn the_first_login_after_an_argon2_parameter_change_succeeds() {
    let before =
        Identity::start_with(&[("ARGON2_MEMORY_KIB", "1024"), ("ARGON2_ITERATIONS", "1")]).await;
    let account = before.signup().await;
    let after =
        Identity::start_with(&[("ARGON2_MEMORY_KIB", "2048"), ("ARGON2_ITERATIONS", "1")]).await;

    let first = after.login(&account.username, &account.password).await;
    let second = after.login(&account.username, &account.password).await;

    assert_eq!(first.status, 200, "{:?}", first.json());
    assert_eq!(second.status, 200);
    let stored = after
        .identity
        .store
        .users
        .get(&account.id)
        .await
        .expect("read")
        .expect("user");
    assert!(stored.password_hash.contains("m=2048"), "rehashed");
}

// ---------------------------------------------------------------- headers and media types

#[tokio::test]
async fn personal_data_tokens_and_errors_are_nosniff_and_never_stored() {
    let id = Identity::start().await;
    let admin = id.admin().await;

    let replies = [
        ("me", id.me(&admin.access).await),
        (
            "admin list",
            id.users_call(Method::GET, "", Some(&admin.access), None)
                .await,
        ),
        (
            "admin get",
            id.users_call(
                Method::GET,
                &format!("/{}", admin.id),
                Some(&admin.access),
                None,
            )
            .await,
        ),
        ("login", id.login(&admin.username, &admin.password).await),
        ("401", id.me("not-a-token").await),
    ];

    for (name, reply) in replies {
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{name}");
        assert_eq!(reply.header("cache-control"), "no-store", "{name}");
    }
}

#[tokio::test]
async fn refresh_and_resend_refuse_a_body_that_is_not_json() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let text = [("content-type", "text/plain")];

    let refresh = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/refresh", id.auth),
            &text,
            json!({ "refresh_token": account.refresh }).to_string(),
        )
        .await;
    let resend = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/verify-email/resend", id.auth),
            &text,
            json!({ "email": account.email }).to_string(),
        )
        .await;
    let bearer = format!("Bearer {}", account.access);
    let bodyless = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/verify-email/resend", id.auth),
            &[("authorization", bearer.as_str())],
            bytes::Bytes::new(),
        )
        .await;

    assert_eq!(refresh.status, 415);
    assert_eq!(refresh.json()["error_code"], "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(resend.status, 415);
    assert_eq!(bodyless.status, 202, "no body needs no content type");
}

#[tokio::test]
async fn in_cookie_mode_a_json_body_without_the_token_falls_back_to_the_cookie() {
    let id = Identity::start_with(&[("REFRESH_COOKIE", "true")]).await;
    let account = id.signup().await;
    let login = id.login(&account.username, &account.password).await;
    let cookie = login
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();

    let reply = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/refresh", id.auth),
            &[
                ("content-type", "application/json"),
                ("cookie", cookie.as_str()),
            ],
            "{}",
        )
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.json());
}

// ---------------------------------------------------------------- the last admin

#[tokio::test]
async fn the_only_admin_cannot_demote_disable_or_delete_itself() {
    let users = fresh_table_like("USERS_TABLE").await;
    let id = Identity::start_with(&[("USERS_TABLE", &users)]).await;
    let admin = id.admin().await;

    let demote = patch_user(&id, &admin.access, &admin.id, json!({"roles": ["user"]})).await;
    let disable = patch_user(&id, &admin.access, &admin.id, json!({"disabled": true})).await;
    let delete = id
        .users_call(
            Method::DELETE,
            &format!("/{}", admin.id),
            Some(&admin.access),
            None,
        )
        .await;
    let delete_me = id
        .users_call(Method::DELETE, "/me", Some(&admin.access), None)
        .await;

    for (name, reply) in [
        ("demote", &demote),
        ("disable", &disable),
        ("delete", &delete),
        ("delete me", &delete_me),
    ] {
        assert_eq!(reply.status, 409, "{name}: {:?}", reply.json());
        assert_eq!(reply.json()["error_code"], "LAST_ADMIN", "{name}");
    }
    assert_eq!(
        id.me(&admin.access).await.json()["roles"],
        json!(["admin", "user"])
    );

    // With a second admin, the first may step down.
    id.admin().await;
    let stepped_down = patch_user(&id, &admin.access, &admin.id, json!({"roles": ["user"]})).await;
    assert_eq!(stepped_down.status, 200, "{:?}", stepped_down.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin() {
    let users = fresh_table_like("USERS_TABLE").await;
    let id = Identity::start_with(&[("USERS_TABLE", &users)]).await;
    let a = id.admin().await;
    let b = id.admin().await;

    let (ab, ba) = tokio::join!(
        patch_user(&id, &a.access, &b.id, json!({"roles": ["user"]})),
        patch_user(&id, &b.access, &a.id, json!({"roles": ["user"]})),
    );

    let statuses = [ab.status, ba.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let mut admins = 0;
    for account in [&a, &b] {
        let user = id.identity.store.users.get(&account.id).await;
        admins += usize::from(user.expect("read").expect("user").has_role("admin"));
    }
    assert_eq!(admins, 1);
}

// ---------------------------------------------------------------- concurrent refresh

#[tokio::test]
async fn a_just_rotated_refresh_token_within_the_grace_window_is_a_race_not_a_replay() {
    let id = Identity::start_with(&[("REFRESH_GRACE_SECS", "30")]).await;
    let account = id.signup().await;
    let first = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    let newest = first.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let second_tab = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    let next = id
        .post_auth("refresh", &json!({"refresh_token": newest}), None)
        .await;

    assert_eq!(first.status, 200);
    assert_eq!(second_tab.status, 409, "{:?}", second_tab.json());
    assert_eq!(second_tab.json()["error_code"], "REFRESH_RACE");
    assert_eq!(next.status, 200, "the session lives on");
}

#[tokio::test]
async fn after_the_grace_window_a_replayed_refresh_token_revokes_the_session() {
    let id = Identity::start_with(&[("REFRESH_GRACE_SECS", "1")]).await;
    let account = id.signup().await;
    let first = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    let newest = first.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    let replay = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    let next = id
        .post_auth("refresh", &json!({"refresh_token": newest}), None)
        .await;

    assert_eq!(replay.status, 401);
    assert_eq!(next.status, 401, "reuse revoked the whole session");
}

// ---------------------------------------------------------------- lockout

#[tokio::test]
async fn a_strangers_wrong_guesses_never_lock_the_owner_out() {
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BACKOFF_SECS", "0")]).await;
    let owner = id.signup().await;

    let mut stranger = Vec::new();
    for _ in 0..5 {
        stranger.push(
            id.login_from("198.51.100.7", &owner.username, "a wrong guess")
                .await
                .status,
        );
    }
    let from_home = id
        .login_from("203.0.113.9", &owner.username, &owner.password)
        .await;

    assert_eq!(stranger, [401, 401, 401, 429, 429]);
    assert_eq!(from_home.status, 200, "{:?}", from_home.json());
}

#[tokio::test]
async fn a_locked_username_does_not_reveal_its_email() {
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BACKOFF_SECS", "0")]).await;
    let owner = id.signup().await;
    let ip = "198.51.100.8";
    for _ in 0..4 {
        id.login_from(ip, &owner.username, "a wrong guess").await;
    }

    let by_email = id.login_from(ip, &owner.email, "a wrong guess").await;
    let unrelated = id
        .login_from(ip, &format!("{}@example.com", unique()), "x")
        .await;

    assert_eq!(
        id.login_from(ip, &owner.username, "a wrong guess")
            .await
            .status,
        429
    );
    assert_eq!(by_email.status, 401, "the email answers like any other");
    assert_eq!(unrelated.status, 401);
}

#[tokio::test]
async fn wrong_guesses_from_one_client_wait_progressively_longer() {
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "10"), ("LOGIN_BACKOFF_SECS", "4")]).await;
    let owner = id.signup().await;
    let ip = "198.51.100.9";

    let first = id.login_from(ip, &owner.username, "wrong").await;
    let second = id.login_from(ip, &owner.username, "wrong").await;
    let too_soon = id.login_from(ip, &owner.username, &owner.password).await;
    let elsewhere = id
        .login_from("203.0.113.10", &owner.username, &owner.password)
        .await;
    // The delay after the second wrong guess is the base (4 s): long enough that a slow machine
    // cannot outlast it between two requests.
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    let after_waiting = id.login_from(ip, &owner.username, &owner.password).await;

    assert_eq!([first.status, second.status], [401, 401]);
    assert_eq!(too_soon.status, 429, "{:?}", too_soon.json());
    assert!(
        too_soon
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| (1..=4).contains(&s)),
        "{}",
        too_soon.header("retry-after")
    );
    assert_eq!(
        elsewhere.status,
        200,
        "other clients are not delayed: {:?}",
        elsewhere.json()
    );
    assert_eq!(after_waiting.status, 200);
}

#[tokio::test]
async fn many_clients_guessing_one_account_hit_the_account_ceiling() {
    let id = Identity::start_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_ACCOUNT_MAX_ATTEMPTS", "6"),
        ("LOGIN_BACKOFF_SECS", "0"),
    ])
    .await;
    let owner = id.signup().await;

    let mut statuses = Vec::new();
    for client in 0..4 {
        for _ in 0..2 {
            let ip = format!("198.51.100.{}", 20 + client);
            statuses.push(id.login_from(&ip, &owner.username, "stuffed").await.status);
        }
    }

    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
}
