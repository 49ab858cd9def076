//! Tiers and per-path rate limits as data (functions/tiers, shared/core/src/tiers.rs) against
//! the emulator, each test over a tiers table of its own: an admin's rule limits one route of a
//! tier's users while their other routes keep their own limits; the limiter's cache reads the
//! table at most once per period and sees a change within it; the seed; validation, conflicts,
//! roles and preconditions of the admin routes.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up must stop the test.

use std::time::{Duration, Instant};

use e2e::{Account, Client, Reply, call, gateway_request, unique, upload_api::UploadsApi};
use serde_json::{Value, json};

/// The identity and uploads functions, the tiers function over HTTP and a users function of the
/// test's own (to count its limiter's reads), all over one tiers table of the test's own.
struct World {
    up: UploadsApi,
    tiers: String,
    users: axum::Router,
    users_state: users::State,
    http: Client,
    env: Vec<(String, String)>,
}

impl World {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let table = e2e::fresh_table_like("TIERS_TABLE").await;
        let mut env: Vec<(String, String)> = vec![("TIERS_TABLE".to_owned(), table)];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // Boxed: the fixture's future is large (clippy::large_futures).
        let up = Box::pin(UploadsApi::start_with(&pairs)).await;
        let app = up.identity.app.clone();
        let tiers_state = tiers::init(app.clone(), e2e::emulator_env(&pairs))
            .await
            .expect("tiers state");
        let users_state = users::init(app, e2e::emulator_env(&pairs))
            .await
            .expect("users state");
        Self {
            tiers: e2e::spawn_http(tiers::router(tiers_state)).await,
            users: users::router(users_state.clone()),
            users_state,
            up,
            http: Client::new(),
            env,
        }
    }

    /// A second tiers function over the same table: another sandbox.
    async fn another_tiers_sandbox(&self) -> String {
        let pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let state = tiers::init(self.up.identity.app.clone(), e2e::emulator_env(&pairs))
            .await
            .expect("tiers state");
        e2e::spawn_http(tiers::router(state)).await
    }

    async fn call_at(
        &self,
        base: &str,
        method: http::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        let url = format!("{base}/api/v1/tiers{path}");
        match body {
            Some(body) => self.http.json(method, &url, &headers, body).await,
            None => self.http.send(method, &url, &headers, "").await,
        }
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        self.call_at(&self.tiers, method, path, token, body, &[])
            .await
    }

    /// A tier of a unique name with one rule; its name and the rule's id.
    async fn tier_with_rule(&self, admin: &Account, path: &str, limit: i64) -> (String, String) {
        let name = format!("pro-{}", unique());
        let created = self
            .call(
                http::Method::POST,
                "",
                &admin.access,
                Some(&json!({"name": name})),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.json());
        let rule = self
            .call(
                http::Method::POST,
                &format!("/{name}/rate-limits"),
                &admin.access,
                Some(&json!({"path": path, "limit": limit, "period": 60})),
            )
            .await;
        assert_eq!(rule.status, 201, "{:?}", rule.json());
        let id = rule.json()["id"].as_str().expect("id").to_owned();
        (name, id)
    }

    /// Moves `user` to `tier` (the users admin route) and refreshes its tokens, so its access
    /// token says so; returns that token.
    async fn move_to(&self, admin: &Account, user: &mut Account, tier: &str) -> String {
        let id = &self.up.identity;
        let moved = id
            .users_call(
                http::Method::PATCH,
                &format!("/{}", user.id),
                Some(&admin.access),
                Some(&json!({"tier": tier})),
            )
            .await;
        assert_eq!(moved.status, 200, "{:?}", moved.json());
        let refreshed = id
            .post_auth("refresh", &json!({"refresh_token": user.refresh}), None)
            .await;
        assert_eq!(refreshed.status, 200, "{:?}", refreshed.json());
        let tokens = refreshed.json();
        user.refresh = tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        user.access = tokens["access_token"].as_str().expect("access").to_owned();
        user.access.clone()
    }

    /// `GET /api/v1/users/me` through this world's own users function.
    async fn me(&self, token: &str) -> Reply {
        let bearer = format!("Bearer {token}");
        let request = gateway_request(
            "GET",
            "/api/v1/users/me",
            &[("authorization", bearer.as_str())],
            "",
            "198.51.100.7",
        );
        call(&self.users, request).await
    }

    /// The `Scan`s of the tiers table this world's users function has made.
    fn reads(&self) -> u64 {
        self.users_state
            .limiter
            .rule_cache()
            .expect("a limiter that reads tier rules")
            .reads()
    }
}

#[tokio::test]
async fn an_admins_rule_makes_the_fourth_upload_of_a_minute_429_while_other_routes_keep_their_limits()
 {
    let world = World::start(&[("RATE_LIMIT_WINDOW", "60")]).await;
    let admin = world.up.identity.admin().await;
    let mut user = world.up.identity.signup().await;
    let (tier, id) = world
        .tier_with_rule(&admin, "POST /api/v1/uploads", 3)
        .await;
    let access = world.move_to(&admin, &mut user, &tier).await;
    e2e::align_to_window(60, 30).await;

    let mut creates = Vec::new();
    for i in 0..4 {
        creates.push(
            world
                .up
                .create(&access, &format!("photo{i}.png"), "image/png", 70)
                .await,
        );
    }
    let listing = world.up.call(http::Method::GET, "", &access, None).await;
    let me = world.up.identity.me(&access).await;

    let statuses: Vec<u16> = creates.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 201, 201, 429]);
    let policy = format!("\"{tier}:{id}\";q=3;w=60");
    assert_eq!(creates[0].header("ratelimit-policy"), policy);
    assert_eq!(creates[2].header("x-ratelimit-remaining"), "0");
    assert_eq!(
        creates[3].header("ratelimit-policy"),
        policy,
        "the 429 names the rule"
    );
    assert_eq!(creates[3].json()["error_code"], "RATE_LIMITED");
    // The tier has no rule for these: the environment's per-user policy (an unknown tier's).
    assert_eq!(listing.status, 200);
    assert_eq!(me.status, 200);
    assert!(
        me.header("ratelimit-policy").starts_with("\"user\";"),
        "{}",
        me.header("ratelimit-policy")
    );
    assert!(listing.header("ratelimit-policy").starts_with("\"user\";"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warm_sandbox_reads_the_tier_table_at_most_once_per_cache_period_over_a_thousand_requests()
 {
    let world = World::start(&[("RATE_LIMITS_CACHE_SECS", "30")]).await;
    let admin = world.up.identity.admin().await;
    let mut user = world.up.identity.signup().await;
    let (tier, id) = world
        .tier_with_rule(&admin, "GET /api/v1/users/me", 1_000_000)
        .await;
    let access = world.move_to(&admin, &mut user, &tier).await;
    let before = world.reads();

    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut policies = Vec::new();
    // Ten clients at a time, so the first requests also meet the read in flight.
    for _ in 0..100 {
        let replies = futures::future::join_all((0..10).map(|_| world.me(&access))).await;
        for reply in replies {
            statuses.push(reply.status);
            policies.push(reply.header("ratelimit-policy").to_owned());
        }
    }
    let elapsed = started.elapsed();
    let reads = world.reads() - before;

    assert_eq!(statuses.len(), 1_000);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let rule = format!("\"{tier}:{id}\";q=1000000;w=60");
    assert!(
        policies.iter().all(|p| *p == rule),
        "every request under the rule"
    );
    let periods = elapsed.as_secs() / 30 + 1;
    assert!(
        (1..=periods).contains(&reads),
        "{reads} scans in {elapsed:?} (at most one per 30 s period)"
    );
}

#[tokio::test]
async fn a_rule_change_reaches_a_warm_sandbox_within_the_cache_ttl_and_not_before() {
    let world = World::start(&[("RATE_LIMITS_CACHE_SECS", "3")]).await;
    let admin = world.up.identity.admin().await;
    let mut user = world.up.identity.signup().await;
    let (tier, id) = world
        .tier_with_rule(&admin, "GET /api/v1/users/*", 100)
        .await;
    let access = world.move_to(&admin, &mut user, &tier).await;

    let first = world.me(&access).await;
    let read_at = Instant::now();
    let changed = world
        .call(
            http::Method::PATCH,
            &format!("/{tier}/rate-limits/{id}"),
            &admin.access,
            Some(&json!({"limit": 50})),
        )
        .await;
    let stale = world.me(&access).await;
    let stale_within_ttl = read_at.elapsed() < Duration::from_millis(2_500);
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let fresh = world.me(&access).await;

    assert_eq!(first.header("x-ratelimit-limit"), "100");
    assert_eq!(changed.status, 200, "{:?}", changed.json());
    assert_eq!(changed.json()["limit"], 50);
    if stale_within_ttl {
        assert_eq!(
            stale.header("x-ratelimit-limit"),
            "100",
            "cached for the TTL"
        );
    }
    assert_eq!(
        fresh.header("x-ratelimit-limit"),
        "50",
        "seen after the TTL"
    );
}

#[tokio::test]
async fn malformed_tiers_and_rules_are_422_naming_each_field() {
    let world = World::start(&[]).await;
    let admin = world.up.identity.admin().await;
    let (tier, _) = world.tier_with_rule(&admin, "*", 10).await;

    let bad_name = world
        .call(
            http::Method::POST,
            "",
            &admin.access,
            Some(&json!({"name": "Pro Tier"})),
        )
        .await;
    let unknown = world
        .call(
            http::Method::POST,
            "",
            &admin.access,
            Some(&json!({"name": "ok", "quota": 3})),
        )
        .await;
    let bad_rule = world
        .call(
            http::Method::POST,
            &format!("/{tier}/rate-limits"),
            &admin.access,
            Some(&json!({"path": "FETCH api/v1//x", "limit": 0, "period": 90_000})),
        )
        .await;
    let mut patterns = Vec::new();
    for path in ["/api/v1/{id}", "/api/v1/", "post /x", "/x*", ""] {
        patterns.push(
            world
                .call(
                    http::Method::POST,
                    &format!("/{tier}/rate-limits"),
                    &admin.access,
                    Some(&json!({"path": path, "limit": 1, "period": 1})),
                )
                .await
                .status,
        );
    }

    assert_eq!(bad_name.status, 422);
    assert_eq!(bad_name.json()["error_code"], "VALIDATION_ERROR");
    assert_eq!(bad_name.json()["detail"][0]["loc"], json!(["body", "name"]));
    assert_eq!(unknown.status, 422);
    assert_eq!(bad_rule.status, 422);
    let locs: Vec<Value> = bad_rule.json()["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [
            json!(["body", "path"]),
            json!(["body", "limit"]),
            json!(["body", "period"])
        ]
    );
    assert_eq!(patterns, [422; 5]);
}

#[tokio::test]
async fn a_duplicate_is_409_and_a_tier_users_still_have_cannot_be_deleted() {
    let world = World::start(&[]).await;
    let admin = world.up.identity.admin().await;
    let mut user = world.up.identity.signup().await;
    let (tier, _) = world
        .tier_with_rule(&admin, "POST /api/v1/uploads", 5)
        .await;
    world.move_to(&admin, &mut user, &tier).await;

    let again = world
        .call(
            http::Method::POST,
            "",
            &admin.access,
            Some(&json!({"name": tier})),
        )
        .await;
    let same_pattern = world
        .call(
            http::Method::POST,
            &format!("/{tier}/rate-limits"),
            &admin.access,
            Some(&json!({"path": "POST /api/v1/uploads", "limit": 9, "period": 9})),
        )
        .await;
    let in_use = world
        .call(
            http::Method::DELETE,
            &format!("/{tier}"),
            &admin.access,
            None,
        )
        .await;
    world.move_to(&admin, &mut user, "free").await;
    let deleted = world
        .call(
            http::Method::DELETE,
            &format!("/{tier}"),
            &admin.access,
            None,
        )
        .await;
    let rules_after = world
        .call(
            http::Method::GET,
            &format!("/{tier}/rate-limits"),
            &admin.access,
            None,
        )
        .await;

    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error_code"], "TIER_EXISTS");
    assert_eq!(same_pattern.status, 409);
    assert_eq!(in_use.status, 409);
    assert_eq!(in_use.json()["error_code"], "TIER_IN_USE");
    assert_eq!(deleted.status, 204, "nobody has it any more");
    assert_eq!(rules_after.status, 404, "its rules went with it");
}

#[tokio::test]
async fn every_tiers_route_is_403_for_a_user_and_401_without_a_token() {
    let world = World::start(&[]).await;
    let user = world.up.identity.signup().await;
    let body = json!({"name": "x"});
    let routes = [
        (http::Method::GET, "", None),
        (http::Method::POST, "", Some(&body)),
        (http::Method::GET, "/pro", None),
        (http::Method::PATCH, "/pro", Some(&body)),
        (http::Method::DELETE, "/pro", None),
        (http::Method::GET, "/pro/rate-limits", None),
        (http::Method::POST, "/pro/rate-limits", Some(&body)),
        (http::Method::PATCH, "/pro/rate-limits/all", Some(&body)),
        (http::Method::DELETE, "/pro/rate-limits/all", None),
    ];
    let mut as_user = Vec::new();
    for (method, path, body) in &routes {
        as_user.push(
            world
                .call(method.clone(), path, &user.access, *body)
                .await
                .status,
        );
    }
    let anonymous = world
        .http
        .send(
            http::Method::GET,
            &format!("{}/api/v1/tiers", world.tiers),
            &[],
            "",
        )
        .await;

    assert_eq!(as_user, [403; 9]);
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing_and_if_none_match_is_304() {
    let world = World::start(&[]).await;
    let admin = world.up.identity.admin().await;
    let (tier, id) = world.tier_with_rule(&admin, "*", 10).await;
    let path = format!("/{tier}");

    let read = world
        .call(http::Method::GET, &path, &admin.access, None)
        .await;
    let etag = read.header("etag").to_owned();
    let first = world
        .call_at(
            &world.tiers,
            http::Method::PATCH,
            &path,
            &admin.access,
            Some(&json!({"description": "first"})),
            &[("if-match", etag.as_str())],
        )
        .await;
    let second = world
        .call_at(
            &world.tiers,
            http::Method::PATCH,
            &path,
            &admin.access,
            Some(&json!({"description": "second"})),
            &[("if-match", etag.as_str())],
        )
        .await;
    let stale_delete = world
        .call_at(
            &world.tiers,
            http::Method::DELETE,
            &format!("{path}/rate-limits/{id}"),
            &admin.access,
            None,
            &[("if-match", "\"7\"")],
        )
        .await;
    let now = world
        .call(http::Method::GET, &path, &admin.access, None)
        .await;
    let current = now.header("etag").to_owned();
    let unchanged = world
        .call_at(
            &world.tiers,
            http::Method::GET,
            &path,
            &admin.access,
            None,
            &[("if-none-match", current.as_str())],
        )
        .await;

    assert_eq!(read.json()["version"], 2, "created, then a rule created");
    assert_eq!(etag, "\"2\"");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("etag"), "\"3\"");
    assert_eq!(second.status, 412);
    assert_eq!(second.json()["error_code"], "PRECONDITION_FAILED");
    assert_eq!(stale_delete.status, 412);
    assert_eq!(
        now.json()["description"],
        "first",
        "the stale write changed nothing"
    );
    assert_eq!(now.json()["rate_limits"], 1, "nor did the stale delete");
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());
}

#[tokio::test]
async fn the_environment_seeds_its_tiers_once_and_an_admins_edits_survive_other_sandboxes() {
    // Users of their own too: other tests' users may have `enterprise` (a billing webhook).
    let users = e2e::fresh_table_like("USERS_TABLE").await;
    let world = World::start(&[
        ("USERS_TABLE", users.as_str()),
        ("RATE_LIMIT_TIER_PRO", "1234"),
        ("RATE_LIMIT_WINDOW", "60"),
    ])
    .await;
    let admin = world.up.identity.admin().await;

    let listed = world.call(http::Method::GET, "", &admin.access, None).await;
    let pro_rules = world
        .call(http::Method::GET, "/pro/rate-limits", &admin.access, None)
        .await;
    let edited = world
        .call(
            http::Method::PATCH,
            "/pro/rate-limits/all",
            &admin.access,
            Some(&json!({"limit": 7})),
        )
        .await;
    let gone = world
        .call(http::Method::DELETE, "/enterprise", &admin.access, None)
        .await;
    let other = world.another_tiers_sandbox().await;
    let relisted = world
        .call_at(&other, http::Method::GET, "", &admin.access, None, &[])
        .await;
    let pro_again = world
        .call_at(
            &other,
            http::Method::GET,
            "/pro/rate-limits",
            &admin.access,
            None,
            &[],
        )
        .await;

    let names = |reply: &Reply| -> Vec<String> {
        reply.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(&listed), ["enterprise", "free", "pro"]);
    let seed = &pro_rules.json()["items"][0];
    assert_eq!(
        (
            &seed["path"],
            &seed["limit"],
            &seed["period"],
            &seed["seed"],
            &seed["policy"]
        ),
        (
            &json!("*"),
            &json!(1234),
            &json!(60),
            &json!(true),
            &json!("user-pro")
        )
    );
    assert_eq!(edited.status, 200);
    assert_eq!(
        (&edited.json()["seed"], &edited.json()["policy"]),
        (&json!(false), &json!("pro:all"))
    );
    assert_eq!(gone.status, 204);
    assert_eq!(names(&relisted), ["free", "pro"], "not seeded again");
    assert_eq!(
        pro_again.json()["items"][0]["limit"],
        7,
        "the edit survives"
    );
}

#[tokio::test]
async fn a_user_moves_only_to_a_tier_that_exists_or_one_of_the_environments() {
    let world = World::start(&[]).await;
    let admin = world.up.identity.admin().await;
    let mut user = world.up.identity.signup().await;
    let (tier, _) = world
        .tier_with_rule(&admin, "GET /api/v1/users/me", 50)
        .await;

    let unknown = world
        .up
        .identity
        .users_call(
            http::Method::PATCH,
            &format!("/{}", user.id),
            Some(&admin.access),
            Some(&json!({"tier": format!("nosuch{}", e2e::unique())})),
        )
        .await;

    assert_eq!(unknown.status, 409, "{:?}", unknown.json());
    assert_eq!(unknown.json()["error_code"], "UNKNOWN_TIER");
    // A tier of the table, and one of the environment's (known before any seed is written).
    world.move_to(&admin, &mut user, &tier).await;
    world.move_to(&admin, &mut user, "enterprise").await;
}
