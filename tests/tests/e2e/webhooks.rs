//! Webhooks end to end against the emulator, through the real HTTP surface (and, for the
//! base64 case, as API Gateway hands an event over), signed with the seeded local secrets.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use e2e::unique;
use e2e::webhook_api::{
    GITHUB_SECRET, STANDARD_SECRET, STRIPE_SECRET, WebhooksApi, github_headers, now, rsa_headers,
    standard_headers, stripe_headers,
};
use serde_json::json;

/// A route, its headers and its body.
type Case<'a> = (&'a str, Vec<(String, String)>, &'a [u8]);

fn stripe_event(id: &str, kind: &str, created: i64, user_id: &str, status: &str) -> Vec<u8> {
    json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": {"object": {"id": "sub_1", "object": "subscription", "status": status,
                            "metadata": {"user_id": user_id}}}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn each_providers_first_delivery_is_202_and_a_repeat_is_a_duplicate() {
    let api = WebhooksApi::start().await;
    let body = json!({"type": "thing.happened", "data": {"n": 1}}).to_string();
    let body = body.as_bytes();
    let stripe_body = stripe_event(
        &format!("evt_{}", unique()),
        "invoice.paid",
        now(),
        "none",
        "paid",
    );
    let (gh, std_id, rsa_id) = (
        unique(),
        format!("msg_{}", unique()),
        format!("msg_{}", unique()),
    );
    let cases: Vec<Case> = vec![
        (
            "github",
            github_headers(GITHUB_SECRET, &gh, "push", body),
            body,
        ),
        (
            "stripe",
            stripe_headers(STRIPE_SECRET, now(), &stripe_body),
            &stripe_body,
        ),
        (
            "standard/local",
            standard_headers(STANDARD_SECRET, &std_id, now(), body),
            body,
        ),
        ("rsa/local", rsa_headers(&rsa_id, now(), body), body),
    ];
    for (path, headers, body) in cases {
        let first = api.deliver(path, &headers, body).await;
        assert_eq!(first.status, 202, "{path}: {:?}", first.json());
        assert_eq!(first.json()["status"], "accepted");
        let again = api.deliver(path, &headers, body).await;
        assert_eq!(again.status, 200, "{path}");
        assert_eq!(again.json(), json!({"status": "duplicate"}));
    }
}

#[tokio::test]
async fn bad_missing_stale_and_future_signatures_are_401() {
    let api = WebhooksApi::start().await;
    let body = br#"{"type":"x"}"#;
    let id = format!("msg_{}", unique());
    let mut tampered = github_headers(GITHUB_SECRET, &unique(), "push", body);
    tampered[0].1 = hooks::github::sign("not-the-secret", body);
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("github", tampered),
        (
            "github",
            github_headers(GITHUB_SECRET, &unique(), "push", body)[1..].to_vec(),
        ),
        ("stripe", stripe_headers("whsec_wrong", now(), body)),
        ("stripe", vec![]),
        ("stripe", stripe_headers(STRIPE_SECRET, now() - 301, body)),
        ("stripe", stripe_headers(STRIPE_SECRET, now() + 301, body)),
        (
            "standard/local",
            standard_headers(STANDARD_SECRET, &id, now() - 301, body),
        ),
        (
            "standard/local",
            standard_headers(STANDARD_SECRET, &id, now() + 301, body),
        ),
        (
            "standard/unknown-source",
            standard_headers(STANDARD_SECRET, &id, now(), body),
        ),
        ("rsa/local", rsa_headers(&id, now() - 301, body)),
        ("rsa/unknown-source", rsa_headers(&id, now(), body)),
    ];
    for (i, (path, headers)) in cases.into_iter().enumerate() {
        let reply = api.deliver(path, &headers, body).await;
        assert_eq!(reply.status, 401, "case {i} ({path})");
        assert_eq!(reply.json()["error_code"], "INVALID_SIGNATURE", "case {i}");
    }
    // A signed body changed on the way.
    let headers = rsa_headers(&id, now(), body);
    let reply = api.deliver("rsa/local", &headers, br#"{"type":"y"}"#).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn fifty_parallel_copies_of_one_delivery_give_exactly_one_202() {
    let api = WebhooksApi::start().await;
    let body = stripe_event(
        &format!("evt_{}", unique()),
        "invoice.paid",
        now(),
        "none",
        "paid",
    );
    let headers = stripe_headers(STRIPE_SECRET, now(), &body);
    let replies =
        futures::future::join_all((0..50).map(|_| api.deliver("stripe", &headers, &body))).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let duplicates = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        (accepted, duplicates),
        (1, 49),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_base64_encoded_api_gateway_event_verifies_over_the_decoded_bytes() {
    use base64::Engine as _;
    let api = WebhooksApi::start().await;
    // Bytes that are not UTF-8 text: API Gateway hands such a body over base64-encoded.
    let mut body = br#"{"type":"bin","blob":""#.to_vec();
    body.extend_from_slice(b"\xff\xfe");
    body.extend_from_slice(br#""}"#);
    let id = format!("msg_{}", unique());
    let headers = standard_headers(STANDARD_SECRET, &id, now(), &body);
    let mut event_headers = serde_json::Map::new();
    for (k, v) in &headers {
        event_headers.insert(k.clone(), json!(v));
    }
    event_headers.insert("content-type".into(), json!("application/json"));
    let path = "/api/v1/webhooks/standard/local";
    let event = json!({
        "resource": "/api/v1/webhooks/standard/{source}", "path": path, "httpMethod": "POST",
        "headers": event_headers, "multiValueHeaders": {}, "queryStringParameters": null,
        "multiValueQueryStringParameters": null, "pathParameters": {"source": "local"},
        "stageVariables": null,
        "requestContext": {"resourcePath": "/api/v1/webhooks/standard/{source}", "httpMethod": "POST",
            "path": format!("/v1{path}"), "stage": "v1", "requestId": unique(), "accountId": "123456789012",
            "apiId": "abc123def4", "protocol": "HTTP/1.1", "requestTimeEpoch": 0,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "e2e"}},
        "body": base64::engine::general_purpose::STANDARD.encode(&body), "isBase64Encoded": true
    });
    let request = lambda_http::request::from_str(&event.to_string()).expect("event");
    let reply = e2e::call(&api.router, request).await;
    // Verified over the original bytes; the payload is not JSON text, so it is a 400, not a 401.
    assert_eq!(reply.status, 400, "{:?}", reply.json());
    assert_eq!(reply.json()["error_code"], "BAD_REQUEST");

    let json_body = br#"{"type":"ok"}"#;
    let headers = standard_headers(
        STANDARD_SECRET,
        &format!("msg_{}", unique()),
        now(),
        json_body,
    );
    let mut event = event;
    for (k, v) in &headers {
        event["headers"][k] = json!(v);
    }
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(json_body));
    let request = lambda_http::request::from_str(&event.to_string()).expect("event");
    let reply = e2e::call(&api.router, request).await;
    assert_eq!(reply.status, 202, "{:?}", reply.json());
}

#[tokio::test]
async fn a_rotated_second_secret_verifies_as_well_as_the_first() {
    let app = e2e::emulator_state().await;
    let name = format!("e2e-webhook-secrets-{}", unique());
    app.secrets
        .create_secret()
        .name(&name)
        .secret_string(
            json!({"github": ["old-secret", "new-secret"], "stripe": ["whsec_old", "whsec_new"]})
                .to_string(),
        )
        .send()
        .await
        .expect("create secret");
    let api = WebhooksApi::start_with(&[("WEBHOOK_SECRETS_SECRET_ID", &name)]).await;
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    for secret in ["old-secret", "new-secret"] {
        let reply = api
            .deliver(
                "github",
                &github_headers(secret, &unique(), "push", body),
                body,
            )
            .await;
        assert_eq!(reply.status, 202, "{secret}");
    }
    let stripe_body = stripe_event(&format!("evt_{}", unique()), "x", now(), "none", "paid");
    let reply = api
        .deliver(
            "stripe",
            &stripe_headers("whsec_new", now(), &stripe_body),
            &stripe_body,
        )
        .await;
    assert_eq!(reply.status, 202);
    let wrong = api
        .deliver(
            "github",
            &github_headers(GITHUB_SECRET, &unique(), "push", body),
            body,
        )
        .await;
    assert_eq!(wrong.status, 401);
}

/// Delivers a signed Stripe subscription event for `user_id` and waits until the worker has
/// applied its job (the delivery is answered once the job is enqueued).
async fn subscription_applied(
    api: &WebhooksApi,
    identity: &e2e::Identity,
    kind: &str,
    created: i64,
    user_id: &str,
    status: &str,
) {
    let event_id = format!("evt_{}", unique());
    let body = stripe_event(&event_id, kind, created, user_id, status);
    let reply = api
        .deliver(
            "stripe",
            &stripe_headers(STRIPE_SECRET, now(), &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.json());
    assert!(
        e2e::job_completed(&identity.app, &format!("webhook:stripe#{event_id}"), 15).await,
        "the tier job of {event_id} never completed"
    );
}

#[tokio::test]
async fn the_subscription_handler_sets_the_tier_and_an_older_event_arriving_late_does_not_undo_it()
{
    let identity = e2e::Identity::start().await;
    let user = identity.signup().await;
    let queue_env = identity.queues.env();
    let overrides: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let api = WebhooksApi::start_with(&overrides).await;
    let tier = || async { identity.me(&user.access).await.json()["tier"].clone() };
    let t = now();
    let apply = |kind: &'static str, created: i64, status: &'static str| {
        subscription_applied(&api, &identity, kind, created, &user.id, status)
    };
    apply("customer.subscription.created", t, "active").await;
    assert_eq!(tier().await, "pro");
    apply("customer.subscription.deleted", t + 20, "canceled").await;
    assert_eq!(tier().await, "free");
    // Sent before the deletion, delivered after it: applied by the worker, changes nothing.
    apply("customer.subscription.updated", t + 10, "active").await;
    assert_eq!(tier().await, "free");
    apply("customer.subscription.updated", t + 30, "active").await;
    assert_eq!(tier().await, "pro");
}

#[tokio::test]
async fn a_delivery_whose_job_cannot_be_enqueued_answers_503_and_the_redelivery_enqueues_it() {
    let identity = e2e::Identity::start().await;
    let user = identity.signup().await;
    // The same deliveries table, but a jobs queue that does not exist: nothing can be enqueued.
    let missing = format!("{}-no-such-queue", identity.queues.url);
    let broken = WebhooksApi::start_with(&[("JOBS_QUEUE_URL", &missing)]).await;
    let event_id = format!("evt_{}", unique());
    let body = stripe_event(
        &event_id,
        "customer.subscription.created",
        now(),
        &user.id,
        "active",
    );
    let headers = stripe_headers(STRIPE_SECRET, now(), &body);
    let failed = broken.deliver("stripe", &headers, &body).await;
    assert_eq!(failed.status, 503, "{:?}", failed.json());
    assert_eq!(identity.me(&user.access).await.json()["tier"], "free");

    let queue_env = identity.queues.env();
    let overrides: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fixed = WebhooksApi::start_with(&overrides).await;
    let retried = fixed.deliver("stripe", &headers, &body).await;
    assert_eq!(retried.status, 202, "the retry is handled, not a duplicate");
    assert!(e2e::job_completed(&identity.app, &format!("webhook:stripe#{event_id}"), 15).await);
    assert_eq!(identity.me(&user.access).await.json()["tier"], "pro");
    let again = fixed.deliver("stripe", &headers, &body).await;
    assert_eq!(again.json(), json!({"status": "duplicate"}));
}

#[tokio::test]
async fn ping_unknown_types_oversized_and_unparsable_bodies_get_their_answers() {
    let api = WebhooksApi::start_with(&[("WEBHOOK_MAX_BODY_BYTES", "1024")]).await;
    let ping = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let reply = api
        .deliver(
            "github",
            &github_headers(GITHUB_SECRET, &unique(), "ping", ping),
            ping,
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"status": "pong"}))
    );

    let unknown = br#"{"action":"opened"}"#;
    let reply = api
        .deliver(
            "github",
            &github_headers(GITHUB_SECRET, &unique(), "issues", unknown),
            unknown,
        )
        .await;
    assert_eq!(reply.status, 202, "recorded and acknowledged");

    let big = vec![b' '; 1025];
    let reply = api
        .deliver(
            "github",
            &github_headers(GITHUB_SECRET, &unique(), "push", &big),
            &big,
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error_code"], "PAYLOAD_TOO_LARGE");

    let text = b"not json";
    let reply = api
        .deliver(
            "github",
            &github_headers(GITHUB_SECRET, &unique(), "push", text),
            text,
        )
        .await;
    assert_eq!(reply.status, 400, "verified, then unparsable");
    let stripe_no_id = br#"{"type":"x"}"#;
    let reply = api
        .deliver(
            "stripe",
            &stripe_headers(STRIPE_SECRET, now(), stripe_no_id),
            stripe_no_id,
        )
        .await;
    assert_eq!(
        reply.status, 400,
        "a Stripe event without an id cannot be de-duplicated"
    );
}
