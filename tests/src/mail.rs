//! The mail the emulator's SES accepted, read back through `infra/local/emulator.py`, and the
//! links in it.

use crate::Client;

/// Messages the emulator's SES accepted for `address`: moto's `ses` → `Message` records, read
/// through `infra/local/emulator.py`'s `/_local/ses/messages` (data.json dumps every backend: slow).
pub async fn mail_to(address: &str) -> Vec<serde_json::Value> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let data = Client::new()
        .get(&format!("{endpoint}/_local/ses/messages"), &[])
        .await
        .json();
    data.as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| {
                    m["destinations"]["ToAddresses"]
                        .as_array()
                        .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(address)))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The mails to `address` once there are at least `count` (polling for up to 5 s): mail is a
/// job, sent by the worker a moment after the request that enqueued it.
pub async fn mail_at_least(address: &str, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..50 {
        let mails = mail_to(address).await;
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    mail_to(address).await
}

/// The `token=` value of the first link in a mail body.
pub fn token_in(message: &serde_json::Value) -> Option<String> {
    let body = message["body"].as_str()?;
    let start = body.find("token=")? + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Makes the emulator's SES refuse (`true`) or accept again (`false`) mail to `address`, through
/// `infra/local/emulator.py`'s `/_local/ses/refuse` seam: SendEmail to it answers SES's
/// `TooManyRequestsException` and records nothing.
pub async fn refuse_mail_to(address: &str, refuse: bool) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let reply = Client::new()
        .json(
            http::Method::POST,
            &format!("{endpoint}/_local/ses/refuse"),
            &[],
            &serde_json::json!({ "address": address, "refuse": refuse }),
        )
        .await;
    assert_eq!(reply.status, 200, "the emulator's SES refusal seam");
}
