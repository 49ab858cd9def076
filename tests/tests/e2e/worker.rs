//! Background jobs end to end: producers enqueue through the real SDK into the emulator's SQS,
//! and the worker (`functions/jobs`) works the queue as the event source mapping runs it.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a missing message must fail the test.

use std::time::Duration;

use e2e::{Identity, TestQueues, mail_at_least, mail_to, refuse_mail_to, unique};
use queue::{Envelope, Job};
use serde_json::json;

/// Signs up an account with `email` (so the test can arrange SES for the address first).
async fn signup_as(id: &Identity, email: &str) -> serde_json::Value {
    let reply = id
        .post_auth(
            "signup",
            &json!({"username": format!("job_{}", unique()), "email": email,
                    "password": "violet tractor sunrise", "first_name": "J", "last_name": "Q"}),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    reply.json()
}

/// Sends `body` to the queue as a producer would.
async fn send_raw(queues: &TestQueues, body: &str) -> String {
    queues
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(body)
        .send()
        .await
        .expect("send")
        .message_id
        .expect("message id")
}

/// The user id of `email`'s account.
async fn user_id(id: &Identity, email: &str) -> String {
    id.identity
        .store
        .users
        .find_by_login(email)
        .await
        .expect("lookup")
        .expect("the account")
        .id
}

#[tokio::test]
async fn a_mail_ses_refuses_is_retried_and_arrives_once_ses_is_back() {
    let id = Identity::start().await;
    let email = format!("{}@example.com", unique());
    refuse_mail_to(&email, true).await;
    signup_as(&id, &email).await;

    // Refused on the first receives (retries 1 s, 2 s apart): nothing arrives meanwhile.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(mail_to(&email).await.is_empty());
    refuse_mail_to(&email, false).await;

    let mails = mail_at_least(&email, 1).await;
    assert_eq!(mails.len(), 1, "the retry sends it: {mails:?}");
    // Settled: the job completed, and nothing sends it again.
    assert_eq!(id.mail_to(&email).await.len(), 1);
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dead_letter_queue_after_max_receive_count() {
    // Retries at once, so the fixture's five receives pass quickly.
    let id = Identity::start_with(&[("JOBS_RETRY_BASE_SECS", "0")]).await;
    let email = format!("{}@example.com", unique());
    refuse_mail_to(&email, true).await;
    signup_as(&id, &email).await;

    // Worked five times (the fixture's maxReceiveCount), then moved by SQS's redrive policy.
    id.queues.settled().await;
    let dead = id.queues.dead_letters().await;
    let jobs: Vec<Envelope> = dead
        .iter()
        .filter_map(|m| Envelope::parse(m.body.as_deref().unwrap_or_default()).ok())
        .collect();
    assert_eq!(jobs.len(), 1, "{dead:?}");
    assert_eq!(jobs[0].job.kind(), "verify_email");
    assert!(mail_to(&email).await.is_empty());
    refuse_mail_to(&email, false).await;
}

#[tokio::test]
async fn the_same_job_delivered_twice_or_ten_times_at_once_has_one_effect() {
    let id = Identity::start().await;
    let account = id.signup().await;
    id.queues.settled().await;
    let before = mail_to(&account.email).await.len();
    let envelope = Envelope::new(
        format!("dup-{}", unique()),
        Job::PasswordChanged {
            user_id: account.id.clone(),
            changed_at: "2026-12-05T12:00:00Z".to_owned(),
        },
    );
    let body = envelope.to_body();

    // Ten copies at once: one batch, worked concurrently; one claims, nine wait and then see it
    // completed.
    futures::future::join_all((0..10).map(|_| send_raw(&id.queues, &body))).await;
    id.queues.settled().await;
    assert_eq!(mail_to(&account.email).await.len(), before + 1);
    assert!(e2e::job_completed(&id.app, &envelope.id, 1).await);

    // Delivered again later: acknowledged without running.
    send_raw(&id.queues, &body).await;
    id.queues.settled().await;
    assert_eq!(mail_to(&account.email).await.len(), before + 1);
}

#[tokio::test]
async fn in_a_batch_with_one_failing_message_only_that_one_is_reported_for_retry() {
    let id = Identity::start().await;
    let good = id.signup().await;
    id.queues.settled().await;
    let refused = format!("{}@example.com", unique());
    refuse_mail_to(&refused, true).await;
    // Its verification mail is refused too, on the fixture's own queue, away from this batch.
    signup_as(&id, &refused).await;
    let refused_id = user_id(&id, &refused).await;

    // A queue pair of the test's own, worked by hand: one batch, its answer read.
    let queues = TestQueues::create(&id.app, 5, 30).await;
    let queue_env = queues.env();
    let overrides: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let worker = jobs::init(id.app.clone(), e2e::emulator_env(&overrides))
        .await
        .expect("worker");
    let notice = |user_id: &str| {
        Envelope::new(
            format!("batch-{}", unique()),
            Job::PasswordChanged {
                user_id: user_id.to_owned(),
                changed_at: "2026-12-05T12:00:00Z".to_owned(),
            },
        )
        .to_body()
    };
    let before = mail_to(&good.email).await.len();
    send_raw(&queues, &notice(&good.id)).await;
    let failing = send_raw(&queues, &notice(&refused_id)).await;
    let mut records = Vec::new();
    for _ in 0..10 {
        records.extend(queues.receive(&queues.url, 30).await);
        if records.len() == 2 {
            break;
        }
    }
    assert_eq!(records.len(), 2, "both messages in one batch");
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = records;
    let response = e2e::jobs::run_batch(&worker, event).await;

    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [failing.as_str()]);
    assert_eq!(mail_to(&good.email).await.len(), before + 1);
    assert!(mail_to(&refused).await.is_empty());
    refuse_mail_to(&refused, false).await;
}

#[tokio::test]
async fn an_unreadable_message_goes_to_the_dead_letter_queue_at_once_with_its_reason() {
    let id = Identity::start().await;
    for body in [
        "not json".to_owned(),
        json!({"v": 1, "id": "x", "enqueued_at": 1, "job": {"kind": "launch_rockets"}}).to_string(),
        json!({"v": 9, "id": "x", "enqueued_at": 1, "job": {"kind": "verify_email", "user_id": "u"}})
            .to_string(),
    ] {
        send_raw(&id.queues, &body).await;
    }
    id.queues.settled().await;
    let dead = id.queues.dead_letters().await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    // The worker moved them on their first receive: never retried.
    for message in &dead {
        let body = message.body.as_deref().unwrap_or_default();
        assert!(Envelope::parse(body).is_err(), "{body}");
    }
}
