//! Webhook secrets left at a placeholder or empty are *not configured*: the source answers 503
//! `SERVICE_UNAVAILABLE` (never verifies anything), and readiness names it. The reproducer of
//! issue 20 (1): the template's published placeholder signed a `customer.subscription.created`
//! that made an account `pro`.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use e2e::unique;
use e2e::webhook_api::{
    GITHUB_SECRET, STRIPE_SECRET, WebhooksApi, github_headers, now, stripe_headers,
};
use serde_json::{Value, json};

/// The webhook secret as `template.yaml` creates it: its `SecretStringTemplate`, with the
/// `GenerateStringKey` set to a random value as Secrets Manager would.
fn templates_webhook_secret() -> Value {
    let text = std::fs::read_to_string(e2e::repo_root().join("template.yaml")).expect("template");
    let template: yaml_serde::Value = yaml_serde::from_str(&text).expect("template.yaml parses");
    let generate =
        &template["Resources"]["WebhookSecretsSecret"]["Properties"]["GenerateSecretString"];
    let mut value: Value = match generate["SecretStringTemplate"].as_str() {
        Some(json) => serde_json::from_str(json).expect("SecretStringTemplate is JSON"),
        None => {
            let literal =
                template["Resources"]["WebhookSecretsSecret"]["Properties"]["SecretString"]
                    .as_str()
                    .expect("WebhookSecretsSecret has a SecretStringTemplate or a SecretString");
            serde_json::from_str(literal).expect("SecretString is JSON")
        }
    };
    if let Some(key) = generate["GenerateStringKey"].as_str() {
        value[key] = json!(format!("{}{}", unique(), unique()));
    }
    value
}

/// A new secret in the emulator holding `value`; returns its name.
async fn secret_holding(value: &Value) -> String {
    let app = e2e::emulator_state().await;
    let name = format!("e2e-webhook-secrets-{}", unique());
    app.secrets
        .create_secret()
        .name(&name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret");
    name
}

fn subscription_created(user_id: &str) -> Vec<u8> {
    json!({
        "id": format!("evt_{}", unique()), "object": "event",
        "type": "customer.subscription.created", "created": now(),
        "data": {"object": {"id": "sub_1", "object": "subscription", "status": "active",
                            "metadata": {"user_id": user_id}}}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_subscription_event_signed_with_the_templates_placeholder_is_refused_and_changes_no_tier()
{
    let secret = templates_webhook_secret();
    let placeholder = secret["stripe"]
        .as_str()
        .expect("the template ships a stripe placeholder")
        .to_owned();
    let name = secret_holding(&secret).await;
    let identity = e2e::Identity::start().await;
    let user = identity.signup().await;
    let api = WebhooksApi::start_with(&[("WEBHOOK_SECRETS_SECRET_ID", &name)]).await;

    let body = subscription_created(&user.id);
    let reply = api
        .deliver("stripe", &stripe_headers(&placeholder, now(), &body), &body)
        .await;

    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "SERVICE_UNAVAILABLE");
    assert_eq!(identity.me(&user.access).await.json()["tier"], "free");
}

#[tokio::test]
async fn an_empty_or_placeholder_secret_leaves_only_its_own_source_not_configured() {
    let name = secret_holding(&json!({
        "github": "",
        "stripe": ["whsec_REPLACE_ME", STRIPE_SECRET],
        "standard": {"svix": "whsec_replace_me"},
    }))
    .await;
    let api = WebhooksApi::start_with(&[("WEBHOOK_SECRETS_SECRET_ID", &name)]).await;
    let push = br#"{"zen":"Design for failure."}"#;

    let github = api
        .deliver("github", &github_headers("", &unique(), "push", push), push)
        .await;
    let body = json!({"id": format!("evt_{}", unique()), "type": "invoice.paid"}).to_string();
    let by_placeholder = api
        .deliver(
            "stripe",
            &stripe_headers("whsec_REPLACE_ME", now(), body.as_bytes()),
            body.as_bytes(),
        )
        .await;
    let by_real = api
        .deliver(
            "stripe",
            &stripe_headers(STRIPE_SECRET, now(), body.as_bytes()),
            body.as_bytes(),
        )
        .await;
    let standard = api.deliver("standard/svix", &[], push).await;
    let unknown = api.deliver("standard/nobody", &[], push).await;

    assert_eq!(github.status, 503, "empty: {}", github.text());
    assert_eq!(
        by_placeholder.status, 401,
        "a placeholder beside a real secret is never a key"
    );
    assert_eq!(by_real.status, 202, "{}", by_real.text());
    assert_eq!(standard.status, 503, "placeholder: {}", standard.text());
    assert_eq!(unknown.status, 401, "a source the secret does not name");
}

#[tokio::test]
async fn readiness_names_each_webhook_source_that_is_not_configured() {
    let name = secret_holding(&json!({
        "github": GITHUB_SECRET,
        "stripe": "whsec_replace_me",
        "rsa": {"partner": ["REPLACE_ME"]},
    }))
    .await;
    let env = e2e::emulator_env(&[("WEBHOOK_SECRETS_SECRET_ID", &name)]);
    let app = shared::AppState::from_env(&env, "e2e", "0.0.0")
        .await
        .expect("test configuration");
    let router = health::router(health::init(app, env).await.expect("health state"));
    let base = e2e::spawn_http(router).await;

    let reply = e2e::Client::new()
        .get(&format!("{base}/health/readiness"), &[])
        .await;

    let body = reply.json();
    assert_eq!(reply.status, 503, "{body}");
    let failed: Vec<(&str, &str)> = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default(),
                c["error"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("webhooks:rsa:partner", "not_configured"),
            ("webhooks:stripe", "not_configured"),
        ],
        "{body}"
    );
    assert!(
        !body.to_string().contains("replace_me") && !body.to_string().contains(GITHUB_SECRET),
        "no value is shown: {body}"
    );
}
