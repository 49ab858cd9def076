//! The state a sandbox shares between requests, used by many requests at once on a multi-thread
//! runtime, as under Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`): the secret cache,
//! the signing and verifying key rings, the argon2 pool and the tier rule cache. Each test starts
//! far more concurrent users of one state than worker threads, against a local endpoint that
//! answers slowly (so they overlap) and counts the calls, and checks single flight (one read for
//! all of them), that nobody sees a half-replaced value, and that every answer is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use identity::{
    jwt::{Signer, TokenError, TokenKind, TokenSettings, Verifier},
    password::{HashCost, Passwords, Verified},
};
use secrecy::{ExposeSecret as _, SecretString};
use shared::{Env, secrets::LazySecret, tiers::RuleCache};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};

/// More tasks than worker threads, so the runtime interleaves them.
const TASKS: usize = 64;

/// A stand-in for an AWS JSON endpoint (Secrets Manager, DynamoDB): answers every call with the
/// current `body` after `delay`, and counts the calls.
#[derive(Clone)]
struct FakeAws {
    url: String,
    calls: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
}

impl FakeAws {
    async fn start(body: String, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self {
            url: format!("http://{}", listener.local_addr().unwrap()),
            calls: Arc::default(),
            body: Arc::new(Mutex::new(body)),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server.clone().answer(socket, delay));
            }
        });
        fake
    }

    /// One request per connection (`Connection: close`): the SDK reconnects, as it does to
    /// an endpoint that does not keep connections alive.
    async fn answer(self, mut socket: tokio::net::TcpStream, delay: Duration) {
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        let body_len = loop {
            let Ok(n) = socket.read(&mut buf).await else {
                return;
            };
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                break end + 4 + length;
            }
        };
        while request.len() < body_len {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        let body = self.body.lock().unwrap().clone();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// What a `GetSecretValue` of `value` answers.
    fn secret_body(value: &str) -> String {
        serde_json::json!({
            "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
            "Name": "s",
            "SecretString": value,
            "VersionId": "v",
        })
        .to_string()
    }

    fn set_secret(&self, value: &str) {
        *self.body.lock().unwrap() = Self::secret_body(value);
    }

    fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&self.url)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .build(),
        )
    }

    fn dynamo_client(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&self.url)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .build(),
        )
    }
}

/// Runs `TASKS` copies of `task(i)` at once and collects their results in order.
async fn all_at_once<T, F, Fut>(task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..TASKS).map(|i| tokio::spawn(task(i))).collect();
    let mut out = Vec::with_capacity(TASKS);
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// A secret whose two halves must always match: a torn read would show two different ones.
fn pair(secret: &SecretString) -> anyhow::Result<(String, String)> {
    let (a, b) = secret
        .expose_secret()
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("not a pair"))?;
    Ok((a.to_owned(), b.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_of_a_secret_read_it_once_and_all_get_it() {
    let aws = FakeAws::start(FakeAws::secret_body("v1:v1"), Duration::from_millis(100)).await;
    let secret = Arc::new(LazySecret::new(aws.secrets_client(), "s".to_owned(), pair));

    let got = all_at_once(|_| {
        let secret = secret.clone();
        async move { secret.get().await.map(|v| (*v).clone()) }
    })
    .await;

    assert_eq!(aws.calls(), 1, "single flight: one GetSecretValue");
    for value in got {
        assert_eq!(value.unwrap(), ("v1".to_owned(), "v1".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_an_expired_secret_renew_it_once_and_see_the_old_or_the_new_whole() {
    let aws = FakeAws::start(FakeAws::secret_body("v1:v1"), Duration::from_millis(100)).await;
    let secret = Arc::new(
        LazySecret::new(aws.secrets_client(), "s".to_owned(), pair)
            .with_max_age(Duration::from_millis(200)),
    );
    secret.get().await.unwrap();
    aws.set_secret("v2:v2");
    tokio::time::sleep(Duration::from_millis(250)).await;

    let got = all_at_once(|_| {
        let secret = secret.clone();
        async move { secret.get().await.map(|v| (*v).clone()) }
    })
    .await;

    assert_eq!(aws.calls(), 2, "the first read, then one renewal for all");
    for (a, b) in got.into_iter().map(Result::unwrap) {
        assert_eq!(a, b, "never half of each copy");
        assert!(a == "v1" || a == "v2", "{a}");
    }
    let (now, _) = (*secret.get().await.unwrap()).clone();
    assert_eq!(now, "v2", "the renewed copy is the one kept");
}

/// The key ring secret with `kids`, the first one active.
fn ring(kids: &[&str]) -> String {
    let mut map = serde_json::Map::new();
    map.insert("active_kid".to_owned(), kids[0].into());
    for kid in kids {
        map.insert(
            (*kid).to_owned(),
            format!("{kid}-{}", "k".repeat(40)).into(),
        );
    }
    serde_json::Value::Object(map).to_string()
}

fn settings() -> TokenSettings {
    TokenSettings::from_env(&Env::from_pairs(&[])).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signing_ring_read_by_concurrent_requests_is_read_once_and_every_token_verifies() {
    let aws = FakeAws::start(
        FakeAws::secret_body(&ring(&["k1"])),
        Duration::from_millis(100),
    )
    .await;
    let signer = Arc::new(LazySecret::new(
        aws.secrets_client(),
        "ring".to_owned(),
        |json| Signer::from_secret_json(json, settings()),
    ));

    // Half the requests sign (login), half check a token against the ring (any other route).
    let got = all_at_once(|i| {
        let signer = signer.clone();
        async move {
            let ring = signer.get().await.unwrap();
            let sub = format!("user-{i}");
            let issued = ring
                .issue(TokenKind::Access, &sub, Some("sid"), now())
                .unwrap();
            let verifier = if i % 2 == 0 {
                signer
                    .refresh(Duration::from_secs(30))
                    .await
                    .unwrap()
                    .verifier()
            } else {
                ring.verifier()
            };
            (sub, verifier.verify(TokenKind::Access, &issued.token))
        }
    })
    .await;

    assert_eq!(
        aws.calls(),
        1,
        "single flight, refreshes of a young ring included"
    );
    for (sub, checked) in got {
        assert_eq!(
            checked.unwrap().sub,
            sub,
            "each request gets its own claims"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_published_keys_read_by_concurrent_checks_are_read_once_and_answer_each_token_right() {
    let signing = Signer::from_secret_json(&SecretString::from(ring(&["k1"])), settings()).unwrap();
    let rotated = Signer::from_secret_json(&SecretString::from(ring(&["k9"])), settings()).unwrap();
    let aws = FakeAws::start(
        FakeAws::secret_body(&signing.public_keys_json()),
        Duration::from_millis(100),
    )
    .await;
    let keys = Arc::new(LazySecret::new(
        aws.secrets_client(),
        "published".to_owned(),
        |json| Verifier::from_public_json(json.expose_secret(), settings()),
    ));
    let known = Arc::new(
        signing
            .issue(TokenKind::Access, "alice", Some("sid"), now())
            .unwrap()
            .token,
    );
    let unknown = Arc::new(
        rotated
            .issue(TokenKind::Access, "mallory", Some("sid"), now())
            .unwrap()
            .token,
    );

    let got = all_at_once(|i| {
        let (keys, known, unknown) = (keys.clone(), known.clone(), unknown.clone());
        async move {
            let token = if i % 2 == 0 { known } else { unknown };
            let checked = keys.get().await.unwrap().verify(TokenKind::Access, &token);
            // What IdentityState does with an unknown kid: read the keys again unless young.
            if checked == Err(TokenError::UnknownKey) {
                return (
                    i,
                    keys.refresh(Duration::from_secs(30))
                        .await
                        .unwrap()
                        .verify(TokenKind::Access, &token),
                );
            }
            (i, checked)
        }
    })
    .await;

    assert_eq!(
        aws.calls(),
        1,
        "one read for every check, unknown kids included"
    );
    for (i, checked) in got {
        if i % 2 == 0 {
            assert_eq!(checked.unwrap().sub, "alice");
        } else {
            assert_eq!(checked.unwrap_err(), TokenError::UnknownKey);
        }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn cheap() -> HashCost {
    HashCost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hashes_from_the_argon2_pool_each_verify_their_own_password_only() {
    let passwords = Passwords::new(cheap()).unwrap();

    let hashes = all_at_once(|i| {
        let passwords = passwords.clone();
        async move {
            let password = SecretString::from(format!("password number {i}"));
            passwords.hash(&password).await.unwrap()
        }
    })
    .await;
    let hashes = Arc::new(hashes);
    let checks = all_at_once(|i| {
        let (passwords, hashes) = (passwords.clone(), hashes.clone());
        async move {
            let own = SecretString::from(format!("password number {i}"));
            let next = SecretString::from(format!("password number {}", (i + 1) % TASKS));
            (
                passwords
                    .verify(&own, Some(hashes[i].clone()))
                    .await
                    .unwrap(),
                passwords
                    .verify(&next, Some(hashes[i].clone()))
                    .await
                    .unwrap(),
            )
        }
    })
    .await;

    for (i, (own, next)) in checks.into_iter().enumerate() {
        assert_eq!(
            own,
            Verified::Yes { rehash: None },
            "hash {i}, its password"
        );
        assert_eq!(next, Verified::No, "hash {i}, another password");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unknown_user_logins_at_a_custom_cost_all_fail_against_one_dummy_hash() {
    let passwords = Passwords::new(cheap()).unwrap();

    let checks = all_at_once(|i| {
        let passwords = passwords.clone();
        async move {
            let guess = SecretString::from(format!("guess {i}"));
            passwords.verify(&guess, None).await.unwrap()
        }
    })
    .await;

    assert!(checks.iter().all(|v| *v == Verified::No));
}

/// One rule of tier `pro` as the tiers table stores it, with `limit`.
fn rules_body(limit: u32) -> String {
    serde_json::json!({
        "Items": [{
            "kind": {"S": "rule"},
            "tier": {"S": "pro"},
            "id": {"S": "r1"},
            "path": {"S": "GET /api/v1/users/me"},
            "limit": {"N": limit.to_string()},
            "period": {"N": "60"},
            "version": {"N": "1"},
            "created_at": {"S": "2026-01-01T00:00:00Z"},
            "updated_at": {"S": "2026-01-01T00:00:00Z"},
        }],
        "Count": 1,
        "ScannedCount": 1,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tier_rule_cache_scans_once_for_concurrent_requests_and_once_more_per_ttl() {
    let aws = FakeAws::start(rules_body(5), Duration::from_millis(100)).await;
    let cache = Arc::new(RuleCache::new(
        aws.dynamo_client(),
        "tiers".to_owned(),
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    let limit = |cache: Arc<RuleCache>| async move {
        cache
            .current()
            .await
            .pick("pro", "GET", "/api/v1/users/me")
            .map(|r| r.limit)
    };

    let first = all_at_once(|_| limit(cache.clone())).await;
    assert_eq!(
        (aws.calls(), cache.reads()),
        (1, 1),
        "one Scan before any answer"
    );
    assert!(first.iter().all(|l| *l == Some(5)), "{first:?}");

    *aws.body.lock().unwrap() = rules_body(7);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let renewed = all_at_once(|_| limit(cache.clone())).await;
    assert_eq!((aws.calls(), cache.reads()), (2, 2), "one Scan per TTL");
    assert!(
        renewed.iter().all(|l| *l == Some(5) || *l == Some(7)),
        "the old set or the new one, never none: {renewed:?}"
    );
    assert_eq!(limit(cache.clone()).await, Some(7));
}
