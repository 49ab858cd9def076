//! Many requests at once in one process, as under Lambda Managed Instances
//! (`AWS_LAMBDA_MAX_CONCURRENCY`): the users and auth routers, each over one state, on a
//! multi-thread runtime, against the emulator. Every request must get its own user, and the
//! state they share (the verifying keys, read again once older than `SECRETS_CACHE_SECS`, the
//! tier rules, the limiter's counters, argon2 in the logins) must never answer one request with
//! another's data or fail under the load. The unit-level checks of the same state, with counted
//! reads, are in `shared/identity/tests/concurrent_state.rs`.

use e2e::{Account, Identity};
use futures::future::join_all;

/// Requests in flight per user, in each wave.
const PER_USER: usize = 8;

/// Each account's `GET /users/me`, `PER_USER` times at once; the accounts' requests interleaved.
async fn wave(id: &Identity, accounts: &[Account]) {
    let requests = accounts
        .iter()
        .flat_map(|account| std::iter::repeat_n(account, PER_USER))
        .map(|account| async move { (account, id.me(&account.access).await) });
    for (account, reply) in join_all(requests).await {
        assert_eq!(
            reply.status,
            200,
            "{}: {}",
            account.username,
            String::from_utf8_lossy(&reply.body)
        );
        let me = reply.json();
        assert_eq!(me["id"], account.id.as_str(), "another user's answer");
        assert_eq!(me["username"], account.username.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_in_one_process_each_get_their_own_user_across_a_key_renewal() {
    // Keys older than a second are read again: the second wave renews them while it runs.
    let id = Identity::start_with(&[("SECRETS_CACHE_SECS", "1")]).await;
    let accounts: Vec<Account> = join_all((0..6).map(|_| id.signup())).await;

    wave(&id, &accounts).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    wave(&id, &accounts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_through_the_argon2_pool_each_get_their_own_tokens() {
    let id = Identity::start().await;
    let accounts: Vec<Account> = join_all((0..4).map(|_| id.signup())).await;

    // Each account logs in twice at once, once with a wrong password.
    let logins = accounts.iter().flat_map(|account| {
        [
            (account, account.password.clone(), true),
            (account, format!("{}!", account.password), false),
        ]
    });
    let id = &id;
    let replies = join_all(logins.map(|(account, password, right)| async move {
        (account, right, id.login(&account.username, &password).await)
    }))
    .await;

    for (account, right, reply) in replies {
        if !right {
            assert_eq!(reply.status, 401, "{}: a wrong password", account.username);
            continue;
        }
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let access = reply.json()["access_token"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        let me = id.me(&access).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.json()["id"], account.id.as_str(), "another user's token");
    }
}
