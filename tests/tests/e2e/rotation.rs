//! Rotation reaches running functions within `SECRETS_CACHE_SECS`: the reproducer of issue 20
//! (5), where 31 s after `k1` was removed from both key secrets, `k1` tokens still got 200 and
//! new logins were still signed with `k1`, because a sandbox kept its keys for life. Each test
//! rotates secrets of its own, so the other tests' keys never change.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use std::time::{Duration, Instant};

use e2e::unique;
use e2e::webhook_api::{WebhooksApi, github_headers};
use identity::jwt::Verifier;
use serde_json::{Value, json};

/// The cache bound the functions run with here: small, so the test is quick.
const BOUND_SECS: u64 = 2;

/// A new secret holding `value`; returns its name.
async fn create_secret(app: &shared::AppState, what: &str, value: &Value) -> String {
    let name = format!("e2e-{what}-{}", unique());
    app.secrets
        .create_secret()
        .name(&name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret");
    name
}

async fn put_secret(app: &shared::AppState, name: &str, value: &Value) {
    app.secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("write secret");
}

/// The verifying-keys document of a signing ring, as `auth` publishes it.
fn public_keys(ring: &Value) -> Value {
    let signer = identity::jwt::Signer::from_secret_json(
        &ring.to_string().into(),
        identity::jwt::TokenSettings::from_env(&shared::Env::from_pairs(&[]))
            .expect("token settings"),
    )
    .expect("a usable ring");
    serde_json::from_str(&signer.public_keys_json()).expect("JSON")
}

/// A key string as Secrets Manager generates them.
fn key() -> String {
    format!(
        "{}{}{}{}{}",
        unique(),
        unique(),
        unique(),
        unique(),
        unique()
    )
}

/// Polls `check` until it gives a value, for at most the bound and a margin (a read in flight,
/// a slow emulator), and returns that value.
async fn within_the_bound<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let limit = Duration::from_secs(BOUND_SECS + 3);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: still not so {:?} after the rotation (SECRETS_CACHE_SECS={BOUND_SECS})",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_removed_signing_key_stops_verifying_and_the_new_key_signs_within_the_cache_bound() {
    let app = e2e::emulator_state().await;
    let first = json!({"active_kid": "k1", "k1": key()});
    let signing = create_secret(&app, "signing-keys", &first).await;
    let verifying = create_secret(&app, "verifying-keys", &public_keys(&first)).await;
    let bound = BOUND_SECS.to_string();
    let identity = e2e::Identity::start_with(&[
        ("SIGNING_KEYS_SECRET_ID", &signing),
        ("VERIFYING_KEYS_SECRET_ID", &verifying),
        ("SECRETS_CACHE_SECS", &bound),
    ])
    .await;
    let user = identity.signup().await;
    assert_eq!(Verifier::kid_of(&user.access).as_deref(), Some("k1"));
    assert_eq!(identity.me(&user.access).await.status, 200);

    // The operator removes k1 from both secrets and makes k2 the active key.
    let second = json!({"active_kid": "k2", "k2": key()});
    put_secret(&app, &signing, &second).await;
    put_secret(&app, &verifying, &public_keys(&second)).await;

    // users (published keys) refuses k1 tokens.
    within_the_bound("a k1 access token is refused by users", || async {
        (identity.me(&user.access).await.status == 401).then_some(())
    })
    .await;
    // auth (its own ring) refuses k1 refresh tokens, and signs new logins with k2.
    within_the_bound("a k1 refresh token is refused by auth", || async {
        let reply = identity
            .post_auth("refresh", &json!({"refresh_token": user.refresh}), None)
            .await;
        (reply.status == 401).then_some(())
    })
    .await;
    let fresh = within_the_bound("a new login is signed with k2", || async {
        let reply = identity.login(&user.username, &user.password).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let access = reply.json()["access_token"]
            .as_str()
            .expect("access token")
            .to_owned();
        (Verifier::kid_of(&access).as_deref() == Some("k2")).then_some(access)
    })
    .await;
    assert_eq!(
        identity.me(&fresh).await.status,
        200,
        "users verifies the k2 token"
    );
}

#[tokio::test]
async fn a_webhook_secret_removed_from_the_document_stops_verifying_within_the_cache_bound() {
    let app = e2e::emulator_state().await;
    let name = create_secret(&app, "webhook-secrets", &json!({"github": ["old", "new"]})).await;
    let bound = BOUND_SECS.to_string();
    let api = WebhooksApi::start_with(&[
        ("WEBHOOK_SECRETS_SECRET_ID", &name),
        ("SECRETS_CACHE_SECS", &bound),
    ])
    .await;
    let body = br#"{"zen":"Mind your words, they are important."}"#;
    let signed_with = |secret: &'static str| {
        let api = &api;
        async move {
            api.deliver(
                "github",
                &github_headers(secret, &unique(), "push", body),
                body,
            )
            .await
            .status
        }
    };
    assert_eq!(signed_with("old").await, 202);

    put_secret(&app, &name, &json!({"github": ["new"]})).await;

    within_the_bound(
        "a delivery signed with the removed secret is refused",
        || async { (signed_with("old").await == 401).then_some(()) },
    )
    .await;
    assert_eq!(signed_with("new").await, 202);
}
