//! Identity end to end: the auth and users functions over real HTTP, against the emulator.

use base64::Engine as _;
use e2e::{Identity, unique};
use http::Method;
use serde_json::{Value, json};

fn detail(reply: &e2e::Reply) -> Value {
    reply.json()
}

// ---------------------------------------------------------------- signup

#[tokio::test]
async fn signup_returns_201_with_a_token_pair() {
    let id = Identity::start().await;
    let tag = unique();

    let reply = id
        .post_auth(
            "signup",
            &json!({"username": format!("u_{tag}"), "email": format!("{tag}@example.com"),
                    "password": "violet tractor sunrise", "first_name": "Ada", "last_name": "L"}),
            None,
        )
        .await;

    assert_eq!(reply.status, 201, "{}", detail(&reply));
    let body = reply.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[tokio::test]
async fn signup_accepts_a_form_body() {
    let id = Identity::start().await;
    let tag = unique();
    let form = format!(
        "username=f_{tag}&email={tag}%40example.com&password=violet+tractor+sunrise&first_name=Ada&last_name=L"
    );

    let reply = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/signup", id.auth),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;

    assert_eq!(reply.status, 201, "{}", detail(&reply));
}

#[tokio::test]
async fn signup_with_a_taken_username_or_email_is_409_whatever_the_email_case() {
    let id = Identity::start().await;
    let first = id.signup().await;
    let body = |username: &str, email: &str| {
        json!({"username": username, "email": email, "password": "violet tractor sunrise",
               "first_name": "A", "last_name": "B"})
    };

    let same_username = id
        .post_auth(
            "signup",
            &body(
                &first.username.to_uppercase(),
                &format!("{}@example.org", unique()),
            ),
            None,
        )
        .await;
    let same_email_other_case = id
        .post_auth(
            "signup",
            &body(&format!("x_{}", unique()), &first.email.to_uppercase()),
            None,
        )
        .await;

    assert_eq!(same_username.status, 409, "{}", detail(&same_username));
    assert_eq!(
        same_email_other_case.status,
        409,
        "{}",
        detail(&same_email_other_case)
    );
    assert_eq!(same_email_other_case.json()["error_code"], "USER_EXISTS");
}

#[tokio::test]
async fn signup_validation_errors_are_422_listing_each_field() {
    let id = Identity::start().await;

    let reply = id
        .post_auth(
            "signup",
            &json!({"username": "a b", "email": "nope", "password": "password",
                    "first_name": "", "last_name": "B"}),
            None,
        )
        .await;

    assert_eq!(reply.status, 422);
    let fields: Vec<String> = reply.json()["detail"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["loc"][1].as_str().unwrap_or_default().to_owned())
        .collect();
    for field in ["username", "email", "password", "first_name"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn a_common_password_is_refused_with_a_clear_422() {
    let id = Identity::start().await;
    let tag = unique();

    let reply = id
        .post_auth(
            "signup",
            &json!({"username": format!("p_{tag}"), "email": format!("{tag}@example.com"),
                    "password": "password123", "first_name": "A", "last_name": "B"}),
            None,
        )
        .await;

    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json()["detail"][0]["type"],
        "value_error.password_common"
    );
}

#[tokio::test]
async fn signup_refuses_privileged_fields() {
    let id = Identity::start().await;
    let tag = unique();

    let reply = id
        .post_auth(
            "signup",
            &json!({"username": format!("r_{tag}"), "email": format!("{tag}@example.com"),
                    "password": "violet tractor sunrise", "first_name": "A", "last_name": "B",
                    "roles": ["admin"]}),
            None,
        )
        .await;

    assert_eq!(reply.status, 422);
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn login_works_by_username_and_by_email_as_json_and_as_form() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let by_username = id.login(&account.username, &account.password).await;
    let by_email = id
        .login(&account.email.to_uppercase(), &account.password)
        .await;
    let form = format!(
        "grant_type=password&username={}&password={}",
        account.username,
        account.password.replace(' ', "+")
    );
    let as_form = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/login", id.auth),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;

    for reply in [&by_username, &by_email, &as_form] {
        assert_eq!(reply.status, 200, "{}", detail(reply));
        assert_eq!(reply.json()["token_type"], "bearer");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_give_the_same_401() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let wrong = id.login(&account.username, "not the password at all").await;
    let unknown = id
        .login(&format!("ghost_{}", unique()), "not the password at all")
        .await;

    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let (mut a, mut b) = (wrong.json(), unknown.json());
    for body in [&mut a, &mut b] {
        body["timestamp"] = Value::Null;
        body["request_id"] = Value::Null;
    }
    assert_eq!(a, b);
    assert_eq!(a["error_code"], "INVALID_CREDENTIALS");
    assert_eq!(wrong.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_429_and_it_recovers() {
    // The window's wall alone (the progressive delay has tests of its own).
    let id = Identity::start_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_FAILURE_WINDOW_SECS", "6"),
        ("LOGIN_BACKOFF_SECS", "0"),
    ])
    .await;
    let account = id.signup().await;
    e2e::align_to_window(6, 5).await;

    for _ in 0..3 {
        assert_eq!(
            id.login(&account.username, "wrong password here")
                .await
                .status,
            401
        );
    }
    let locked = id.login(&account.username, &account.password).await;
    e2e::align_to_window(6, 6).await;
    let recovered = id.login(&account.username, &account.password).await;

    assert_eq!(locked.status, 429, "{}", detail(&locked));
    assert!(
        locked
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| (1..=6).contains(&s))
    );
    assert_eq!(recovered.status, 200, "{}", detail(&recovered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_cannot_get_past_the_lockout() {
    let id = Identity::start_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_FAILURE_WINDOW_SECS", "60"),
        ("LOGIN_BACKOFF_SECS", "0"),
    ])
    .await;
    let account = id.signup().await;
    e2e::align_to_window(60, 20).await;

    let statuses = futures::future::join_all(
        (0..20)
            .map(|_| id.login(&account.username, "wrong password here"))
            .collect::<Vec<_>>(),
    )
    .await
    .iter()
    .map(|r| r.status)
    .collect::<Vec<_>>();

    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        17,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_absurdly_long_login_name_is_a_plain_401() {
    let id = Identity::start().await;

    let reply = id.login(&"a".repeat(100_000), "whatever password").await;

    assert_eq!(reply.status, 401, "{}", detail(&reply));
    assert_eq!(reply.json()["error_code"], "INVALID_CREDENTIALS");
}

// ---------------------------------------------------------------- /me, refresh, logout

#[tokio::test]
async fn me_needs_a_token() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let with = id.me(&account.access).await;
    let without = id.users_call(Method::GET, "/me", None, None).await;

    assert_eq!(with.status, 200);
    let body = with.json();
    assert_eq!(body["username"], account.username);
    assert_eq!(body["email"], account.email);
    assert_eq!(body["roles"], json!(["user"]));
    assert!(body.get("password_hash").is_none() && body.get("tokens_valid_after_ms").is_none());
    assert_eq!(without.status, 401);
    assert_eq!(without.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn an_authenticated_request_costs_one_dynamodb_call() {
    // The authentication alone (with the rate limiter off, nothing counts the request).
    let id = Identity::start_with(&[("RATE_LIMIT_ENABLED", "false")]).await;
    let account = id.signup().await;
    let before = id.app.dynamo_calls.get();

    let reply = id.me(&account.access).await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        id.app.dynamo_calls.get() - before,
        1,
        "one GetItem of the user item"
    );
}

#[tokio::test]
async fn with_the_rate_limiter_an_authenticated_request_is_still_one_call() {
    let id = Identity::start().await;
    let account = id.signup().await;
    // A sandbox's first limited request also reads the tier rules (one Scan per
    // RATE_LIMITS_CACHE_SECS, tests/tests/e2e/tiers.rs counts them): measure the steady state.
    assert_eq!(id.me(&account.access).await.status, 200);
    let before = id.app.dynamo_calls.get();

    let reply = id.me(&account.access).await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        id.app.dynamo_calls.get() - before,
        1,
        "the limiter's UpdateItem on the user item counts and checks the token; the tier comes \
         from the token, not from a read"
    );
}

#[tokio::test]
async fn refresh_accepts_the_cookie_in_cookie_mode() {
    let id = Identity::start_with(&[("REFRESH_COOKIE", "true")]).await;
    let account = id.signup().await;
    let login = id.login(&account.username, &account.password).await;
    let cookie = login.header("set-cookie").to_owned();

    let reply = id
        .http
        .send(
            Method::POST,
            &format!("{}/api/v1/auth/refresh", id.auth),
            &[("cookie", cookie.split(';').next().unwrap_or_default())],
            "",
        )
        .await;

    assert!(cookie.starts_with("refresh_token="), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    assert_eq!(reply.status, 200, "{}", detail(&reply));
    assert!(reply.header("set-cookie").starts_with("refresh_token="));
}

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let reply = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;

    assert_eq!(reply.status, 200, "{}", detail(&reply));
    let body = reply.json();
    assert_ne!(body["refresh_token"], account.refresh.as_str());
    assert_ne!(body["access_token"], account.access.as_str());
    assert_eq!(
        id.me(body["access_token"].as_str().unwrap_or_default())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_is_401_and_kills_the_new_one_too() {
    // No grace window: any replay of a rotated token is reuse (the window has its own tests).
    let id = Identity::start_with(&[("REFRESH_GRACE_SECS", "0")]).await;
    let account = id.signup().await;
    let rotated = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await
        .json();
    let new_refresh = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let new_access = rotated["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let replay = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    let after = id
        .post_auth("refresh", &json!({"refresh_token": new_refresh}), None)
        .await;

    assert_eq!(replay.status, 401);
    assert_eq!(after.status, 401, "the whole session is revoked");
    assert_eq!(id.me(&new_access).await.status, 401);
}

#[tokio::test]
async fn after_logout_the_access_and_refresh_tokens_are_dead() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let reply = id
        .post_auth("logout", &json!({}), Some(&account.access))
        .await;

    assert_eq!(reply.status, 200, "{}", detail(&reply));
    assert_eq!(reply.json()["message"], "Successfully logged out");
    assert!(reply.json()["revoked_at"].is_string());
    assert_eq!(id.me(&account.access).await.status, 401);
    let refresh = id
        .post_auth("refresh", &json!({"refresh_token": account.refresh}), None)
        .await;
    assert_eq!(refresh.status, 401);
}

#[tokio::test]
async fn after_logout_all_every_session_is_dead() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let second = id.login(&account.username, &account.password).await.json();
    let second_access = second["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second_refresh = second["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let reply = id
        .post_auth("logout-all", &json!({}), Some(&account.access))
        .await;

    assert_eq!(reply.status, 200, "{}", detail(&reply));
    assert_eq!(id.me(&account.access).await.status, 401);
    assert_eq!(id.me(&second_access).await.status, 401);
    for refresh in [&account.refresh, &second_refresh] {
        let r = id
            .post_auth("refresh", &json!({"refresh_token": refresh}), None)
            .await;
        assert_eq!(r.status, 401);
    }
    // A new login afterwards works.
    assert_eq!(
        id.login(&account.username, &account.password).await.status,
        200
    );
}

// ---------------------------------------------------------------- token attacks

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[tokio::test]
async fn forged_and_misused_tokens_are_401() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let parts: Vec<&str> = account.access.split('.').collect();
    let payload = parts[1];
    let alg_none = format!(
        "{}.{payload}.",
        b64(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#)
    );
    let mut sig = parts[2].to_owned().into_bytes();
    sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{payload}.{}", parts[0], String::from_utf8_lossy(&sig));
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let mut other_sub = claims.clone();
    other_sub["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let swapped_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(other_sub.to_string().as_bytes()),
        parts[2]
    );

    for (name, token) in [
        ("alg none", alg_none.as_str()),
        ("tampered signature", tampered.as_str()),
        ("edited payload", swapped_payload.as_str()),
        ("refresh token as access token", account.refresh.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        let reply = id.me(token).await;
        assert_eq!(reply.status, 401, "{name}");
        assert_eq!(reply.header("www-authenticate"), "Bearer", "{name}");
    }
}

#[tokio::test]
async fn tokens_with_wrong_iss_aud_or_typ_or_expired_are_401() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let (session, created) = {
        let parts: Vec<&str> = account.access.split('.').collect();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        (
            claims["sid"].as_str().unwrap_or_default().to_owned(),
            claims["sct"].as_i64().unwrap_or_default(),
        )
    };
    // Same key ring, different issuer/audience: only the claim checks can refuse these.
    let other_iss = e2e::signer_with(&[("JWT_ISSUER", "someone-else")]).await;
    let other_aud = e2e::signer_with(&[("JWT_AUDIENCE", "another-api")]).await;
    let ours = id.auth_context.signer().await.expect("signer");
    use identity::jwt::{SessionStamp, TokenKind};
    // Access tokens as auth issues them: for the session, with its creation time.
    let stamp = SessionStamp {
        id: &session,
        created_at_ms: created,
        expires_at: i64::MAX,
    };
    let issue = |signer: &identity::jwt::Signer, kind, at: i64| {
        match kind {
            TokenKind::Access => signer.issue_access(&account.id, &stamp, "free", at),
            _ => signer.issue(kind, &account.id, Some(&session), at),
        }
        .expect("issue")
        .token
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    for (name, token) in [
        ("wrong iss", issue(&other_iss, TokenKind::Access, now)),
        ("wrong aud", issue(&other_aud, TokenKind::Access, now)),
        (
            "reset token as access token",
            issue(&ours, TokenKind::PasswordReset, now),
        ),
        ("expired", issue(&ours, TokenKind::Access, now - 3_600)),
    ] {
        assert_eq!(id.me(&token).await.status, 401, "{name}");
    }
    // The control: the same construction with the right settings is accepted.
    assert_eq!(
        id.me(&issue(&ours, TokenKind::Access, now)).await.status,
        200
    );
}

#[tokio::test]
async fn a_deleted_or_disabled_users_token_is_401() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let deleted = id.signup().await;
    let disabled = id.signup().await;

    let del = id
        .users_call(Method::DELETE, "/me", Some(&deleted.access), None)
        .await;
    let dis = id
        .users_call(
            Method::PATCH,
            &format!("/{}", disabled.id),
            Some(&admin.access),
            Some(&json!({"disabled": true})),
        )
        .await;

    assert_eq!(del.status, 204);
    assert_eq!(dis.status, 200, "{}", detail(&dis));
    assert_eq!(dis.json()["disabled"], true);
    assert_eq!(id.me(&deleted.access).await.status, 401);
    assert_eq!(id.me(&disabled.access).await.status, 401);
    assert_eq!(
        id.login(&disabled.username, &disabled.password)
            .await
            .status,
        401
    );
    assert_eq!(
        id.login(&deleted.username, &deleted.password).await.status,
        401
    );
    let refresh = id
        .post_auth("refresh", &json!({"refresh_token": disabled.refresh}), None)
        .await;
    assert_eq!(refresh.status, 401);
}

#[tokio::test]
async fn a_deleted_users_email_and_username_can_be_registered_again() {
    let id = Identity::start().await;
    let gone = id.signup().await;
    assert_eq!(
        id.users_call(Method::DELETE, "/me", Some(&gone.access), None)
            .await
            .status,
        204
    );

    let again = id
        .post_auth(
            "signup",
            &json!({"username": gone.username, "email": gone.email, "password": "violet tractor sunrise",
                    "first_name": "A", "last_name": "B"}),
            None,
        )
        .await;

    assert_eq!(again.status, 201, "{}", detail(&again));
}

// ---------------------------------------------------------------- users

#[tokio::test]
async fn patch_me_updates_names_and_username() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let new_name = format!("renamed_{}", unique());

    let reply = id
        .users_call(
            Method::PATCH,
            "/me",
            Some(&account.access),
            Some(&json!({"first_name": "Grace", "username": new_name})),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", detail(&reply));
    assert_eq!(reply.json()["first_name"], "Grace");
    assert_eq!(reply.json()["username"], new_name.as_str());
    assert_eq!(id.login(&new_name, &account.password).await.status, 200);
    assert_eq!(
        id.login(&account.username, &account.password).await.status,
        401,
        "old name released"
    );
}

#[tokio::test]
async fn patch_me_to_a_taken_username_is_409_and_changes_nothing() {
    let id = Identity::start().await;
    let a = id.signup().await;
    let b = id.signup().await;

    let reply = id
        .users_call(
            Method::PATCH,
            "/me",
            Some(&a.access),
            Some(&json!({"first_name": "Changed", "username": b.username})),
        )
        .await;

    assert_eq!(reply.status, 409);
    assert_eq!(id.me(&a.access).await.json()["first_name"], "Test");
}

#[tokio::test]
async fn patch_me_refuses_mass_assignment_with_422() {
    let id = Identity::start().await;
    let account = id.signup().await;

    for field in [
        json!({"roles": ["admin"]}),
        json!({"email": "x@example.com"}),
        json!({"email_verified": true}),
        json!({"tier": "pro"}),
        json!({"id": "x"}),
    ] {
        let reply = id
            .users_call(Method::PATCH, "/me", Some(&account.access), Some(&field))
            .await;
        assert_eq!(reply.status, 422, "{field}");
    }
    let me = id.me(&account.access).await.json();
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["email_verified"], false);
}

#[tokio::test]
async fn a_non_admin_gets_403_on_admin_routes() {
    let id = Identity::start().await;
    let user = id.signup().await;

    for (method, path) in [
        (Method::GET, String::new()),
        (Method::GET, format!("/{}", user.id)),
        (Method::PATCH, format!("/{}", user.id)),
        (Method::DELETE, format!("/{}", user.id)),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"roles": ["admin"]}));
        let reply = id
            .users_call(method.clone(), &path, Some(&user.access), body.as_ref())
            .await;
        assert_eq!(reply.status, 403, "{method} {path}");
    }
}

#[tokio::test]
async fn admin_can_read_and_change_roles_and_tier() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let user = id.signup().await;

    let got = id
        .users_call(
            Method::GET,
            &format!("/{}", user.id),
            Some(&admin.access),
            None,
        )
        .await;
    let patched = id
        .users_call(
            Method::PATCH,
            &format!("/{}", user.id),
            Some(&admin.access),
            Some(&json!({"roles": ["user", "admin"], "tier": "pro"})),
        )
        .await;
    let bad = id
        .users_call(
            Method::PATCH,
            &format!("/{}", user.id),
            Some(&admin.access),
            Some(&json!({"roles": ["superuser"]})),
        )
        .await;
    let missing = id
        .users_call(
            Method::GET,
            "/00000000-0000-0000-0000-000000000000",
            Some(&admin.access),
            None,
        )
        .await;

    assert_eq!(got.status, 200);
    assert_eq!(patched.status, 200, "{}", detail(&patched));
    assert_eq!(patched.json()["roles"], json!(["admin", "user"]));
    assert_eq!(patched.json()["tier"], "pro");
    assert_eq!(bad.status, 422);
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn admin_pagination_walks_every_user_exactly_once() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    for _ in 0..4 {
        id.signup().await;
    }

    let mut seen = Vec::new();
    let mut path = "?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let reply = id
            .users_call(Method::GET, &path, Some(&admin.access), None)
            .await;
        assert_eq!(reply.status, 200, "{}", detail(&reply));
        let body = reply.json();
        seen.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|u| u["id"].to_string()),
        );
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(reply.header("link").contains("rel=\"next\""));
                assert!(reply.header("link").starts_with("<?limit=3&cursor="));
                path = format!("?limit=3&cursor={cursor}");
            }
            None => break,
        }
        assert!(pages < 10_000, "pagination does not end");
    }

    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no user twice");
    assert!(seen.contains(&format!("\"{}\"", admin.id)));
    assert!(total >= 5);
}

#[tokio::test]
async fn a_tampered_cursor_is_400() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    id.signup().await;
    let first = id
        .users_call(Method::GET, "?limit=1", Some(&admin.access), None)
        .await
        .json();
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let forged = format!("{}x", cursor);

    let reply = id
        .users_call(
            Method::GET,
            &format!("?limit=1&cursor={forged}"),
            Some(&admin.access),
            None,
        )
        .await;
    let bad_limit = id
        .users_call(Method::GET, "?limit=0", Some(&admin.access), None)
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error_code"], "INVALID_CURSOR");
    assert_eq!(bad_limit.status, 422);
}

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_signups_with_one_email_create_exactly_one_user() {
    let id = Identity::start().await;
    let email = format!("{}@example.com", unique());

    let replies = futures::future::join_all(
        (0..50)
            .map(|i| {
                let body = json!({"username": format!("c{i}_{}", unique()), "email": email,
                                   "password": "violet tractor sunrise", "first_name": "A", "last_name": "B"});
                let id = &id;
                async move { id.post_auth("signup", &body, None).await.status }
            })
            .collect::<Vec<_>>(),
    )
    .await;

    assert_eq!(
        replies.iter().filter(|s| **s == 201).count(),
        1,
        "{replies:?}"
    );
    assert_eq!(
        replies.iter().filter(|s| **s == 409).count(),
        49,
        "{replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_refreshes_of_one_token_give_exactly_one_success() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let replies = futures::future::join_all(
        (0..20)
            .map(|_| {
                let id = &id;
                let token = account.refresh.clone();
                async move {
                    id.post_auth("refresh", &json!({"refresh_token": token}), None)
                        .await
                        .status
                }
            })
            .collect::<Vec<_>>(),
    )
    .await;

    assert_eq!(
        replies.iter().filter(|s| **s == 200).count(),
        1,
        "{replies:?}"
    );
    // The losers present the token the winner just rotated: a race (409), not a replay, so
    // the session lives on (REFRESH_GRACE_SECS).
    assert_eq!(
        replies.iter().filter(|s| **s == 409).count(),
        19,
        "{replies:?}"
    );
    assert_eq!(id.me(&account.access).await.status, 200);
}
