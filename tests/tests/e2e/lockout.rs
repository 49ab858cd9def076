//! Password guessing from many addresses (outside review, round 3): guesses are counted under
//! the name the account is found by, so a fullwidth or upper-case spelling gets no fresh counter,
//! and the per-account ceiling never refuses the owner's right password from an address the
//! strangers did not use. Each request arrives as API Gateway delivers it, from the address in
//! `requestContext.identity.sourceIp`.

use e2e::{Account, Identity, Reply, unique};
use serde_json::json;

/// A password change by `owner` as API Gateway would deliver it from `ip`.
async fn change_from(id: &Identity, ip: &str, owner: &Account, new_password: &str) -> Reply {
    let body = json!({ "current_password": owner.password, "new_password": new_password });
    let bearer = format!("Bearer {}", owner.access);
    let request = e2e::gateway_request(
        "POST",
        "/api/v1/auth/password/change",
        &[
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ],
        &body.to_string(),
        ip,
    );
    e2e::call(&id.auth_router, request).await
}

/// The fullwidth form (U+FF01–U+FF5E) of printable ASCII, as an IME types it.
fn fullwidth(c: char) -> char {
    match c {
        '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
        other => other,
    }
}

/// The `n`th spelling of `name`: 0 is all fullwidth, then one character fullwidth at a time,
/// then upper case; every one a different string that names the same account.
fn spelling(name: &str, n: usize) -> String {
    match n {
        0 => name.chars().map(fullwidth).collect(),
        n if n <= name.chars().count() => name
            .chars()
            .enumerate()
            .map(|(i, c)| if i + 1 == n { fullwidth(c) } else { c })
            .collect(),
        _ => name.to_uppercase(),
    }
}

/// The `n`th stranger's address (from the 198.51.100.0/24 documentation block onwards).
fn address(n: usize) -> String {
    format!("198.51.{}.{}", 100 + n / 250, 1 + n % 250)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_guesses_in_fullwidth_spellings_from_ten_addresses_do_not_lock_the_owner_out() {
    // The review's reproducer, with the default limits: ten addresses guess ten times each,
    // every guess a new spelling of the owner's username.
    let id = Identity::start().await;
    let owner = id.signup().await;

    let per_address = futures::future::join_all((0..10).map(|a| {
        let (id, owner) = (&id, &owner);
        async move {
            let mut statuses = Vec::new();
            for n in 0..10 {
                let name = spelling(&owner.username, n);
                statuses.push(
                    id.login_from(&address(a), &name, "a wrong guess")
                        .await
                        .status,
                );
            }
            statuses
        }
    }))
    .await;
    let from_home = id
        .login_from("203.0.113.50", &owner.username, &owner.password)
        .await;

    assert_eq!(from_home.status, 200, "{:?}", from_home.json());
    for statuses in &per_address {
        assert!(
            statuses.iter().all(|s| [401, 429].contains(s)),
            "{per_address:?}"
        );
        assert!(
            statuses.iter().filter(|s| **s == 401).count() <= 5,
            "every spelling is one name: at most LOGIN_MAX_FAILURES checks per address \
             {per_address:?}"
        );
    }
}

#[tokio::test]
async fn a_fullwidth_or_upper_case_spelling_shares_the_lock_of_its_name() {
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BACKOFF_SECS", "0")]).await;
    let owner = id.signup().await;
    let ip = "198.51.100.60";
    for _ in 0..3 {
        id.login_from(ip, &owner.username, "a wrong guess").await;
    }
    for _ in 0..3 {
        id.login_from(ip, &owner.email, "a wrong guess").await;
    }

    let mut spelled = Vec::new();
    for name in [0, 2, 40].map(|n| spelling(&owner.username, n)) {
        spelled.push(id.login_from(ip, &name, "a wrong guess").await);
    }
    for email in [0, 40].map(|n| spelling(&owner.email, n)) {
        spelled.push(id.login_from(ip, &email, "a wrong guess").await);
    }
    let padded = id
        .login_from(ip, &format!("\u{3000}{}  ", owner.username), "x")
        .await;
    let right_password = id
        .login_from(ip, &spelling(&owner.username, 0), &owner.password)
        .await;
    let elsewhere = id
        .login_from(
            "203.0.113.60",
            &spelling(&owner.username, 0),
            &owner.password,
        )
        .await;

    for reply in spelled.iter().chain([&padded, &right_password]) {
        assert_eq!(reply.status, 429, "{:?}", reply.json());
        assert!(reply.header("retry-after").parse::<u64>().is_ok());
    }
    assert_eq!(
        elsewhere.status,
        200,
        "the fullwidth spelling logs the owner in: {:?}",
        elsewhere.json()
    );
}

#[tokio::test]
async fn past_the_account_ceiling_the_owner_still_logs_in_from_a_new_address() {
    let id = Identity::start_with(&[
        ("LOGIN_ACCOUNT_MAX_ATTEMPTS", "20"),
        ("LOGIN_BACKOFF_SECS", "0"),
    ])
    .await;
    let owner = id.signup().await;
    let ghost = format!("ghost_{}", unique());

    // Ten addresses, five guesses each (the per-address limit), in new spellings: the first
    // twenty reach the ceiling, the rest find it reached.
    let mut stranger = Vec::new();
    let mut unknown = Vec::new();
    for a in 0..10 {
        for n in 0..5 {
            let (known, ghostly) = (spelling(&owner.username, n), spelling(&ghost, n));
            stranger.push(id.login_from(&address(a), &known, "stuffed").await);
            unknown.push(id.login_from(&address(a), &ghostly, "stuffed").await.status);
        }
    }
    let by_name = id
        .login_from("203.0.113.70", &owner.username, &owner.password)
        .await;
    let by_email = id
        .login_from("203.0.113.71", &owner.email, &owner.password)
        .await;
    // After the owner's logins the ceiling still holds: a new address gets its one check, then
    // is refused before any, even with the right password.
    let new_stranger = id
        .login_from("203.0.113.72", &owner.username, "stuffed")
        .await;
    let then_right = id
        .login_from("203.0.113.72", &owner.username, &owner.password)
        .await;

    let statuses: Vec<u16> = stranger.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..20], [401; 20], "{statuses:?}");
    assert_eq!(statuses[20..], [429; 30], "{statuses:?}");
    assert!(
        stranger[20..]
            .iter()
            .all(|r| r.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1)),
    );
    assert_eq!(
        unknown, statuses,
        "an unknown name answers like the owner's, guess for guess"
    );
    assert_eq!(by_name.status, 200, "{:?}", by_name.json());
    assert_eq!(by_email.status, 200, "{:?}", by_email.json());
    assert_eq!(new_stranger.status, 429, "{:?}", new_stranger.json());
    assert_eq!(new_stranger.json()["error_code"], "RATE_LIMITED");
    assert_eq!(then_right.status, 429, "{:?}", then_right.json());
}

#[tokio::test]
async fn past_the_account_ceiling_the_owner_still_changes_the_password() {
    let id = Identity::start_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_ACCOUNT_MAX_ATTEMPTS", "6"),
        ("LOGIN_BACKOFF_SECS", "0"),
    ])
    .await;
    let owner = id.signup().await;
    for a in 0..3 {
        for _ in 0..3 {
            id.login_from(&address(80 + a), &owner.username, "stuffed")
                .await;
        }
    }
    let ceiling = id
        .login_from(&address(83), &owner.username, "stuffed")
        .await;

    let changed = change_from(&id, "203.0.113.80", &owner, "a brand new passphrase").await;

    assert_eq!(ceiling.status, 429, "{:?}", ceiling.json());
    assert_eq!(changed.status, 200, "{:?}", changed.json());
    assert_eq!(
        id.login_from("203.0.113.81", &owner.username, "a brand new passphrase")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_block_count_as_one_client() {
    let id =
        Identity::start_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BACKOFF_SECS", "0")]).await;
    let owner = id.signup().await;

    let mut block = Vec::new();
    for n in 1..=5 {
        let ip = format!("2001:db8:7:7::{n:x}");
        block.push(
            id.login_from(&ip, &owner.username, "a wrong guess")
                .await
                .status,
        );
    }
    let next_block = id
        .login_from("2001:db8:7:8::1", &owner.username, &owner.password)
        .await;

    assert_eq!(block, [401, 401, 401, 429, 429]);
    assert_eq!(next_block.status, 200, "{:?}", next_block.json());
}
