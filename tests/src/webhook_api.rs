//! The webhooks function over HTTP, and senders' signatures made with the local secrets that
//! `infra/local/bootstrap.py` seeds (the same values `events/webhooks/` are signed with).

use axum::Router;
use base64::Engine as _;

use crate::{Client, Reply, emulator_env, spawn_http};

/// The seeded GitHub secret.
pub const GITHUB_SECRET: &str = "local-github-webhook-secret";
/// The seeded Stripe endpoint secret.
pub const STRIPE_SECRET: &str = "whsec_local_stripe_secret";
/// The seeded Standard Webhooks secret of source `local`.
pub const STANDARD_SECRET: &str = "whsec_bG9jYWwtc3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0";
/// The private key whose public half the seeded RSA source `local` verifies with.
pub const RSA_PRIVATE_PEM: &str = include_str!("../../infra/local/webhook-rsa-local.pem");

/// The webhooks function, served over HTTP.
pub struct WebhooksApi {
    /// Base URL.
    pub base: String,
    /// The router itself (for API Gateway events).
    pub router: Router,
    /// HTTP client.
    pub http: Client,
}

impl WebhooksApi {
    /// The function with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The function with overridden variables.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let env = emulator_env(overrides);
        let app = shared::AppState::from_env(&env, "e2e", "0.0.0")
            .await
            .expect("test configuration");
        let router = webhooks::router(webhooks::init(app, env).await.expect("webhooks state"));
        Self {
            base: spawn_http(router.clone()).await,
            router,
            http: Client::new(),
        }
    }

    /// `POST /api/v1/webhooks/<path>` with `headers` and `body`.
    pub async fn deliver(&self, path: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
        deliver(&self.http, &self.base, path, headers, body).await
    }
}

/// A JSON delivery as a sender makes it: `POST <base>/api/v1/webhooks/<path>` with `headers`
/// (a scheme's, from the functions below) and `body`, sent with `http`.
pub async fn deliver(
    http: &Client,
    base: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    http.send(
        http::Method::POST,
        &format!("{base}/api/v1/webhooks/{path}"),
        &all,
        body.to_vec(),
    )
    .await
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// GitHub's headers for `body` (delivery `id`, event `event`).
pub fn github_headers(secret: &str, id: &str, event: &str, body: &[u8]) -> Vec<(String, String)> {
    pairs(&[
        ("x-hub-signature-256", hooks::github::sign(secret, body)),
        ("x-github-delivery", id.to_owned()),
        ("x-github-event", event.to_owned()),
    ])
}

/// Stripe's header for `body` signed at `t`.
pub fn stripe_headers(secret: &str, t: i64, body: &[u8]) -> Vec<(String, String)> {
    pairs(&[("stripe-signature", hooks::stripe::sign(secret, t, body))])
}

/// Standard Webhooks headers for message `id` at `t`.
pub fn standard_headers(secret: &str, id: &str, t: i64, body: &[u8]) -> Vec<(String, String)> {
    let signature = hooks::standard::sign(secret, id, t, body).expect("a usable secret");
    pairs(&[
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", t.to_string()),
        ("webhook-signature", signature),
    ])
}

/// The RSA scheme's headers for message `id` at `t`, signed with `RSA_PRIVATE_PEM`.
pub fn rsa_headers(id: &str, t: i64, body: &[u8]) -> Vec<(String, String)> {
    pairs(&[
        ("x-webhook-id", id.to_owned()),
        ("x-webhook-timestamp", t.to_string()),
        (
            "x-webhook-signature",
            rsa_sign(&hooks::rsa::signed_content(id, t, body)),
        ),
    ])
}

/// Base64 RSASSA-PKCS1-v1_5 SHA-256 signature of `content` with the local private key.
pub fn rsa_sign(content: &[u8]) -> String {
    use aws_lc_rs::{rand::SystemRandom, signature::RsaKeyPair};
    let der: String = RSA_PRIVATE_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .expect("PEM body");
    let pair = RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key");
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        content,
        &mut signature,
    )
    .expect("sign");
    base64::engine::general_purpose::STANDARD.encode(signature)
}
