//! One DynamoDB round trip per authenticated request: the rate limiter counts a user's request
//! on the user item, in the same `UpdateItem` that checks the access token there. Counted with
//! the functions' own DynamoDB call counter (the real SDK, through the emulator): one call in
//! the steady state; two for a user item written before the counters existed (once) and for the
//! request that finds a slot idle windows left (which it removes). Per-user limits stay exact
//! under concurrency, and a refused token is 401, never 429.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up must stop the test.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{Account, Identity, Reply, call, gateway_request, unique};
use shared::{Table, dynamo::Item};

/// The user item of `account`, as stored.
async fn user_item(id: &Identity, account: &Account) -> Item {
    let table = id
        .app
        .config
        .require_table(Table::Users)
        .expect("users table");
    id.app
        .dynamo
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("USER#{}", account.id)))
        .consistent_read(true)
        .send()
        .await
        .expect("get user")
        .item
        .expect("user item")
}

/// Runs `update` (an update expression with its names) on `account`'s user item directly.
async fn rewrite_user(id: &Identity, account: &Account, update: &str, names: &[(&str, &str)]) {
    let table = id
        .app
        .config
        .require_table(Table::Users)
        .expect("users table");
    let mut request = id
        .app
        .dynamo
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("USER#{}", account.id)))
        .update_expression(update);
    for (name, value) in names {
        request = request.expression_attribute_names(*name, *value);
    }
    request.send().await.expect("rewrite user item");
}

/// The slots of the user item's rate-limit counters.
fn slots(item: &Item) -> Vec<String> {
    match item.get("rl") {
        Some(AttributeValue::M(map)) => {
            let mut keys: Vec<String> = map.keys().cloned().collect();
            keys.sort();
            keys
        }
        _ => Vec::new(),
    }
}

/// `GET /api/v1/users/me` as API Gateway delivers it, from `ip`.
async fn me_from(id: &Identity, ip: &str, access: &str) -> Reply {
    let bearer = format!("Bearer {access}");
    let request = gateway_request(
        "GET",
        "/api/v1/users/me",
        &[("authorization", &bearer)],
        "",
        ip,
    );
    call(&id.users_router, request).await
}

/// The DynamoDB calls the functions make for one `GET /me` with `access`, and its reply.
async fn counted_me(id: &Identity, access: &str) -> (u64, Reply) {
    let before = id.app.dynamo_calls.get();
    let reply = id.me(access).await;
    (id.app.dynamo_calls.get() - before, reply)
}

#[tokio::test]
async fn an_authenticated_request_with_the_limiter_on_is_one_dynamodb_call() {
    let id = Identity::start().await;
    let account = id.signup().await; // its GET /me also reads the tier rules once

    let (calls, reply) = counted_me(&id, &account.access).await;
    let (again, second) = counted_me(&id, &account.access).await;

    assert_eq!((reply.status, second.status), (200, 200));
    assert_eq!(
        (calls, again),
        (1, 1),
        "one UpdateItem on the user item: counts and checks the token"
    );
    assert!(
        second
            .header("ratelimit-policy")
            .starts_with("\"user-free\";"),
        "{}",
        second.header("ratelimit-policy")
    );
    let remaining: i64 = second.header("x-ratelimit-remaining").parse().expect("n");
    let first: i64 = reply.header("x-ratelimit-remaining").parse().expect("n");
    assert_eq!(first - remaining, 1, "each request counted once");
    let item = user_item(&id, &account).await;
    assert_eq!(slots(&item).len(), 1, "one slot: this window of user-free");
}

#[tokio::test]
async fn the_counter_does_not_change_the_users_version_or_etag() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let first = id.me(&account.access).await;
    let second = id.me(&account.access).await;

    assert_eq!(first.header("etag"), second.header("etag"));
    assert_eq!(first.json()["updated_at"], second.json()["updated_at"]);
}

#[tokio::test]
async fn a_user_item_from_before_the_counters_works_and_costs_two_calls_once() {
    let id = Identity::start().await;
    let account = id.signup().await;
    // As an item written before this change: no counter map, no ended-session map.
    rewrite_user(&id, &account, "REMOVE rl, ended", &[]).await;

    let (first_calls, first) = counted_me(&id, &account.access).await;
    let (calls, second) = counted_me(&id, &account.access).await;

    assert_eq!((first.status, second.status), (200, 200), "never a 5xx");
    assert_eq!(
        first_calls, 2,
        "the refused counting write, then the one that adds the map"
    );
    assert_eq!(calls, 1, "then the steady state");
    assert_eq!(slots(&user_item(&id, &account).await).len(), 1);
    let logout = id
        .post_auth("logout", &serde_json::json!({}), Some(&account.access))
        .await;
    assert_eq!(logout.status, 200, "logout adds the ended-session map too");
    assert_eq!(id.me(&account.access).await.status, 401);
}

#[tokio::test]
async fn a_slot_left_by_idle_windows_costs_one_more_call_that_removes_it() {
    let id = Identity::start().await;
    let account = id.signup().await;
    assert_eq!(id.me(&account.access).await.status, 200);
    // A window that ended long ago, as a user back from a pause leaves behind.
    let table = id
        .app
        .config
        .require_table(Table::Users)
        .expect("users table");
    id.app
        .dynamo
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("USER#{}", account.id)))
        .update_expression("SET rl.#old = :n")
        .expression_attribute_names("#old", "user-free@1700000000")
        .expression_attribute_values(":n", AttributeValue::N("7".into()))
        .send()
        .await
        .expect("an old slot");

    let (tidying, reply) = counted_me(&id, &account.access).await;
    let (calls, _) = counted_me(&id, &account.access).await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        tidying, 2,
        "the counting write, then the removal of the ended slot"
    );
    assert_eq!(calls, 1);
    let left = slots(&user_item(&id, &account).await);
    assert!(!left.iter().any(|s| s.ends_with("@1700000000")), "{left:?}");
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_requests_of_one_user_against_a_limit_of_ten_let_exactly_ten_through() {
    // The harness's limiter timeout is generous: the emulator serializes the 50 writes, and a
    // write that timed out would (rightly) fail open instead of being counted.
    let id =
        Identity::start_with(&[("RATE_LIMIT_TIER_FREE", "11"), ("RATE_LIMIT_WINDOW", "60")]).await;
    e2e::align_to_window(60, 30).await;
    let account = id.signup().await; // one of the eleven: its GET /me
    let ip = format!("2001:db8::{}", &unique()[..4]);

    let replies =
        futures::future::join_all((0..50).map(|_| me_from(&id, &ip, &account.access))).await;

    let passed = replies.iter().filter(|r| r.status == 200).count();
    let limited = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((passed, limited), (10, 40));
    let refused = replies.iter().find(|r| r.status == 429).expect("a 429");
    assert_eq!(refused.json()["error_code"], "RATE_LIMITED");
    assert_eq!(refused.header("x-ratelimit-remaining"), "0");
    assert_eq!(
        refused.header("ratelimit-policy"),
        "\"user-free\";q=11;w=60"
    );
}

#[tokio::test]
async fn a_revoked_token_past_its_users_quota_is_401_and_counted_per_address() {
    let id = Identity::start_with(&[
        ("RATE_LIMIT_TIER_FREE", "3"),
        ("RATE_LIMIT_DEFAULT", "1000000"),
        ("RATE_LIMIT_WINDOW", "60"),
    ])
    .await;
    e2e::align_to_window(60, 20).await;
    let account = id.signup().await;
    let other = id.login(&account.username, &account.password).await.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let ip = format!("2001:db8::{}", &unique()[..4]);
    // Signup's GET /me was the first of the user's three.
    assert_eq!(me_from(&id, &ip, &other).await.status, 200);
    assert_eq!(me_from(&id, &ip, &other).await.status, 200);
    assert_eq!(
        me_from(&id, &ip, &other).await.status,
        429,
        "the user's 3 used"
    );
    let logout = id
        .post_auth("logout", &serde_json::json!({}), Some(&account.access))
        .await;
    assert_eq!(logout.status, 200);

    let ended = me_from(&id, &ip, &account.access).await;

    assert_eq!(
        ended.status, 401,
        "refused on the user item, whatever its quota"
    );
    assert_eq!(ended.json()["error_code"], "INVALID_TOKEN");
    assert_eq!(
        ended.header("ratelimit-policy"),
        "\"default\";q=1000000;w=60",
        "counted as anonymous, per address"
    );
    assert_eq!(
        me_from(&id, &ip, &other).await.status,
        429,
        "the other session lives"
    );
}

#[tokio::test]
async fn logout_ends_only_its_session_on_the_user_item_until_its_tokens_expire() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let second = id.login(&account.username, &account.password).await.json();
    let second = second["access_token"].as_str().expect("access").to_owned();

    let logout = id
        .post_auth("logout", &serde_json::json!({}), Some(&account.access))
        .await;

    assert_eq!(logout.status, 200);
    assert_eq!(id.me(&account.access).await.status, 401);
    assert_eq!(id.me(&second).await.status, 200);
    let item = user_item(&id, &account).await;
    let Some(AttributeValue::M(ended)) = item.get("ended") else {
        panic!("no ended map: {item:?}");
    };
    assert_eq!(ended.len(), 1);
    let until: i64 = ended
        .values()
        .next()
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .expect("until");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 890..=now + 910).contains(&until),
        "kept for an access token's lifetime: {until} vs {now}"
    );
}

#[tokio::test]
async fn a_password_change_keeps_the_callers_access_token_and_ends_the_others() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let other = id.login(&account.username, &account.password).await.json();
    let other = other["access_token"].as_str().expect("access").to_owned();

    let changed = id
        .post_auth(
            "password/change",
            &serde_json::json!({"current_password": account.password,
                                "new_password": "a brand new passphrase"}),
            Some(&account.access),
        )
        .await;

    assert_eq!(
        changed.status,
        200,
        "{}",
        String::from_utf8_lossy(&changed.body)
    );
    assert_eq!(
        id.me(&account.access).await.status,
        200,
        "the caller's session lives"
    );
    assert_eq!(id.me(&other).await.status, 401);
    let logout_all = id
        .post_auth("logout-all", &serde_json::json!({}), Some(&account.access))
        .await;
    assert_eq!(logout_all.status, 200);
    assert_eq!(
        id.me(&account.access).await.status,
        401,
        "a later cut-off ends the kept session too"
    );
}
