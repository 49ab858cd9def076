//! The application rate limiter against the emulator, through each function's router with
//! requests shaped as API Gateway delivers them (the client IP is its `sourceIp`): the quota and
//! the headers, other clients unaffected, per-user tiers, exact counts under concurrency, a new
//! window, and fail-open when the limiter's table is unreachable.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up must stop the test.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use e2e::{Identity, Reply, call, gateway_request, unique};
use serde_json::json;

/// A client address no other test uses.
fn client() -> String {
    format!("2001:db8::{}", &unique()[..4])
}

async fn signup_from(id: &Identity, ip: &str) -> Reply {
    let tag = unique();
    let body = json!({"username": format!("rl_{tag}"), "email": format!("{tag}@example.com"),
                      "password": "violet tractor sunrise", "first_name": "R", "last_name": "L"});
    let headers = [("content-type", "application/json")];
    let request = gateway_request(
        "POST",
        "/api/v1/auth/signup",
        &headers,
        &body.to_string(),
        ip,
    );
    call(&id.auth_router, request).await
}

async fn me_from(id: &Identity, ip: &str, access: Option<&str>) -> Reply {
    let bearer = access.map(|a| format!("Bearer {a}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("authorization", b)])
        .unwrap_or_default();
    let request = gateway_request("GET", "/api/v1/users/me", &headers, "", ip);
    call(&id.users_router, request).await
}

#[tokio::test]
async fn the_eleventh_signup_from_one_ip_is_429_with_every_header_and_other_ips_are_unaffected() {
    let id =
        Identity::start_with(&[("RATE_LIMIT_STRICT", "10"), ("RATE_LIMIT_WINDOW", "60")]).await;
    e2e::align_to_window(60, 30).await;
    let ip = client();

    let mut replies = Vec::new();
    for _ in 0..11 {
        replies.push(signup_from(&id, &ip).await);
    }
    let elsewhere = signup_from(&id, &client()).await;

    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..10], [201; 10], "{statuses:?}");
    let tenth = &replies[9];
    assert_eq!(tenth.header("x-ratelimit-limit"), "10");
    assert_eq!(tenth.header("x-ratelimit-remaining"), "0");
    assert_eq!(tenth.header("ratelimit-policy"), "\"strict\";q=10;w=60");
    let denied = &replies[10];
    assert_eq!(denied.status, 429);
    assert_eq!(denied.json()["error_code"], "RATE_LIMITED");
    assert_eq!(denied.header("x-ratelimit-limit"), "10");
    assert_eq!(denied.header("x-ratelimit-remaining"), "0");
    let reset: i64 = denied
        .header("x-ratelimit-reset")
        .parse()
        .expect("unix time");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now..=now + 60).contains(&reset), "{reset} vs {now}");
    let retry: i64 = denied.header("retry-after").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        denied.header("ratelimit"),
        format!("\"strict\";r=0;t={retry}")
    );
    assert_eq!(elsewhere.status, 201, "another address is not limited");
    assert_eq!(elsewhere.header("x-ratelimit-remaining"), "9");
}

#[tokio::test]
async fn per_user_limits_follow_the_tier_and_a_tier_change_applies_with_the_next_token() {
    let id = Identity::start_with(&[
        ("RATE_LIMIT_TIER_FREE", "4"),
        ("RATE_LIMIT_TIER_PRO", "8"),
        ("RATE_LIMIT_WINDOW", "60"),
    ])
    .await;
    e2e::align_to_window(60, 40).await;
    let admin = id.admin().await;
    let user = id.signup().await; // its own GET /me is the first request of its window
    let ip = client();

    let mut free = Vec::new();
    for _ in 0..4 {
        free.push(me_from(&id, &ip, Some(&user.access)).await);
    }
    let promoted = id
        .users_call(
            http::Method::PATCH,
            &format!("/{}", user.id),
            Some(&admin.access),
            Some(&json!({"tier": "pro"})),
        )
        .await;
    let stale = me_from(&id, &ip, Some(&user.access)).await;
    let refreshed = id
        .post_auth("refresh", &json!({"refresh_token": user.refresh}), None)
        .await;
    let access = refreshed.json()["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let mut pro = Vec::new();
    for _ in 0..9 {
        pro.push(me_from(&id, &ip, Some(&access)).await.status);
    }

    let free_statuses: Vec<u16> = free.iter().map(|r| r.status).collect();
    assert_eq!(
        free_statuses,
        [200, 200, 200, 429],
        "free: 4 a minute, one used at signup"
    );
    assert_eq!(free[0].header("ratelimit-policy"), "\"user-free\";q=4;w=60");
    assert_eq!(promoted.status, 200);
    assert_eq!(
        stale.status, 429,
        "the old token still says free (staleness: its lifetime)"
    );
    assert_eq!(pro, [200, 200, 200, 200, 200, 200, 200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_requests_against_a_limit_of_ten_let_exactly_ten_through() {
    // The harness's limiter timeout is generous: the emulator serializes the 50 writes, and a
    // write that timed out would (rightly) fail open instead of being counted.
    let id =
        Identity::start_with(&[("RATE_LIMIT_DEFAULT", "10"), ("RATE_LIMIT_WINDOW", "60")]).await;
    e2e::align_to_window(60, 30).await;
    let ip = client();

    let replies = futures::future::join_all((0..50).map(|_| me_from(&id, &ip, None))).await;

    let passed = replies.iter().filter(|r| r.status == 401).count();
    let limited = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((passed, limited), (10, 40));
}

#[tokio::test]
async fn a_new_window_starts_a_new_count() {
    let id = Identity::start_with(&[("RATE_LIMIT_DEFAULT", "2"), ("RATE_LIMIT_WINDOW", "2")]).await;
    e2e::align_to_window(2, 2).await;
    let ip = client();

    let first = [
        me_from(&id, &ip, None).await.status,
        me_from(&id, &ip, None).await.status,
        me_from(&id, &ip, None).await.status,
    ];
    e2e::align_to_window(2, 2).await;
    let next = me_from(&id, &ip, None).await;

    assert_eq!(first, [401, 401, 429]);
    assert_eq!(next.status, 401, "counted afresh");
    assert_eq!(next.header("x-ratelimit-remaining"), "1");
}

/// Log lines written while a test runs, for asserting on warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn with_the_limiter_table_unreachable_requests_pass_and_a_warning_is_logged() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let id = Identity::start_with(&[("RATE_LIMITS_TABLE", "no-such-table")]).await;
    let ip = client();

    let reply = me_from(&id, &ip, None).await;

    assert_eq!(reply.status, 401, "the request passed the limiter");
    assert!(reply.headers.get("x-ratelimit-limit").is_none());
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("log buffer")).into_owned();
    assert!(
        logged.contains("WARN") && logged.contains("rate limiter failed; request passes"),
        "{logged}"
    );
}

#[tokio::test]
async fn fail_closed_is_a_choice_that_answers_503() {
    let id = Identity::start_with(&[
        ("RATE_LIMITS_TABLE", "no-such-table"),
        ("RATE_LIMIT_FAIL_OPEN", "false"),
    ])
    .await;

    let reply = me_from(&id, &client(), None).await;

    assert!(
        reply.status == 500 || reply.status == 503,
        "refused: {}",
        reply.status
    );
    assert!(reply.json()["error_code"].is_string(), "the envelope");
}
