//! The README's signed webhook deliveries through the stack, signed with the local secrets that
//! `infra/local/bootstrap.py` seeds (`tests/src/webhook_api.rs`). The first deliveries print
//! their latency through the stack.

use std::time::Instant;

use e2e::webhook_api::{
    GITHUB_SECRET, STRIPE_SECRET, deliver, github_headers, now, stripe_headers,
};

use crate::Smoke;

/// A GitHub push, then the same delivery again.
pub(crate) async fn a_signed_github_delivery_is_202_and_its_repeat_a_duplicate(s: Smoke) {
    let body = br#"{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"}}"#;
    let headers = github_headers(
        GITHUB_SECRET,
        &format!("smoke-{}", e2e::unique()),
        "push",
        body,
    );

    let started = Instant::now();
    let first = deliver(&s.http, &s.base, "github", &headers, body).await;
    let ms = started.elapsed().as_millis();
    println!("github delivery through the stack: {ms} ms");
    let again = deliver(&s.http, &s.base, "github", &headers, body).await;

    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(
        again.status,
        200,
        "the same delivery again: {}",
        again.text()
    );
}

/// A Stripe event, then the same event with its signature's digits zeroed.
pub(crate) async fn a_signed_stripe_delivery_is_202_and_a_wrong_signature_401(s: Smoke) {
    let body = format!(
        r#"{{"id":"evt_smoke{}","object":"event","type":"invoice.paid","created":1795262400,"data":{{"object":{{}}}}}}"#,
        e2e::unique()
    );
    let body = body.as_bytes();
    let headers = stripe_headers(STRIPE_SECRET, now(), body);
    let wrong: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            let (timestamp, signature) = value.split_once(",v1=").expect("t=...,v1=...");
            let zeroed: String = signature
                .chars()
                .map(|c| if c.is_ascii_digit() { '0' } else { c })
                .collect();
            (name.clone(), format!("{timestamp},v1={zeroed}"))
        })
        .collect();

    let started = Instant::now();
    let signed = deliver(&s.http, &s.base, "stripe", &headers, body).await;
    let ms = started.elapsed().as_millis();
    println!("stripe delivery through the stack: {ms} ms");
    let forged = deliver(&s.http, &s.base, "stripe", &wrong, body).await;

    assert_eq!(signed.status, 202, "{}", signed.text());
    assert_eq!(forged.status, 401, "a wrong signature: {}", forged.text());
}
