//! Background jobs through the stack: mail sent by the worker (`cargo lambda watch` runs it;
//! `infra/local/poller.py` hands it the queue's batches, as the event source mapping does), a
//! task of `/api/v1/tasks` run to its end, and (alone, in the timing phase) `forgot` and `resend`
//! answering alike whatever the address, with no response floor to sleep to.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::Smoke;

/// Signs up through the stack; the account's address.
async fn signup(s: &Smoke) -> String {
    let user = format!("smokejob_{}", e2e::unique());
    let email = format!("{user}@example.com");
    let reply = s
        .http
        .json(
            Method::POST,
            &s.api("/auth/signup"),
            &[],
            &json!({"username": user, "email": email, "password": "correct horse battery staple",
                    "first_name": "Smoke", "last_name": "Job"}),
        )
        .await;
    assert_eq!(reply.status, 201, "signup: {}", reply.text());
    email
}

pub(crate) async fn a_signups_verification_mail_arrives_within_seconds(s: Smoke) {
    let email = signup(&s).await;
    let started = Instant::now();
    while e2e::mail_to(&email).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no verification mail to {email} after 10 s: is the poller running (poller.log)?"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = e2e::mail_to(&email).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(e2e::token_in(&mails[0]).is_some(), "a link with a token");
    println!("verification mail after {:?}", started.elapsed());
}

/// Verifies `email`'s account through the link its verification mail carries.
async fn verify(s: &Smoke, email: &str) {
    let started = Instant::now();
    let token = loop {
        if let Some(token) = e2e::mail_to(email).await.first().and_then(e2e::token_in) {
            break token;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no mail to {email}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reply = s
        .http
        .json(
            Method::POST,
            &s.api("/auth/verify-email"),
            &[],
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(reply.status, 200, "verify-email: {}", reply.text());
}

/// The `SMOKE_PHASE=timing` check, run alone (`--test-threads=1`): `forgot` and `resend` only
/// enqueue, so their answer takes as long for an address with no account, an unverified one and
/// a verified one. 30 rounds, each sending all three in an order that rotates per round, so
/// neither drift in the machine's load nor the position in a round falls on one address.
pub(crate) async fn forgot_and_resend_answer_alike_for_unknown_unverified_and_verified(s: Smoke) {
    let unverified = signup(&s).await;
    let verified = signup(&s).await;
    verify(&s, &verified).await;
    let unknown = format!("nobody_{}@example.com", e2e::unique());
    let addresses = [unknown.as_str(), unverified.as_str(), verified.as_str()];
    for path in ["/auth/password/forgot", "/auth/verify-email/resend"] {
        let mut samples: [Vec<Duration>; 3] = Default::default();
        for round in 0..30 {
            for k in 0..3 {
                let i = (round + k) % 3;
                let started = Instant::now();
                let reply = s
                    .http
                    .json(
                        Method::POST,
                        &s.api(path),
                        &[],
                        &json!({ "email": addresses[i] }),
                    )
                    .await;
                samples[i].push(started.elapsed());
                assert_eq!(reply.status, 202, "{path}: {}", reply.text());
            }
        }
        let medians: Vec<Duration> = samples
            .iter_mut()
            .map(|s| {
                s.sort();
                s[s.len() / 2]
            })
            .collect();
        println!("{path} medians (unknown, unverified, verified): {medians:?}");
        let spread = *medians.iter().max().expect("max") - *medians.iter().min().expect("min");
        assert!(
            spread <= Duration::from_millis(10),
            "{path}: medians differ by {spread:?}: {medians:?}"
        );
        // The old floor made every answer take 600 ms; now it is one enqueue away.
        assert!(
            medians.iter().all(|m| *m < Duration::from_millis(600)),
            "{path}: an answer still waits for a floor: {medians:?}"
        );
    }
}

pub(crate) async fn a_task_runs_to_succeeded_and_another_user_gets_404(s: Smoke) {
    let owner = crate::auth::readme_user(&s).await;
    let stranger = crate::auth::readme_user(&s).await;
    let bearer = |token: &str| format!("Bearer {token}");
    let (owner_auth, stranger_auth) = (bearer(&owner), bearer(&stranger));
    let created = s
        .http
        .json(
            Method::POST,
            &s.api("/tasks"),
            &[("authorization", owner_auth.as_str())],
            &json!({"message": "smoke"}),
        )
        .await;
    assert_eq!(created.status, 202, "POST /tasks: {}", created.text());
    let id = created.json()["id"].as_str().expect("task id").to_owned();
    let url = s.api(&format!("/tasks/{id}"));
    let started = Instant::now();
    let task = loop {
        let task = s
            .http
            .get(&url, &[("authorization", owner_auth.as_str())])
            .await;
        assert_eq!(task.status, 200, "GET /tasks/{id}: {}", task.text());
        let task = task.json();
        if task["status"] == "succeeded" {
            break task;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the task is still {} after 15 s: is the poller running (poller.log)?",
            task["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task["result"]["message"], "Task smoke is complete!");
    println!("task succeeded after {:?}", started.elapsed());
    let theirs = s
        .http
        .get(&url, &[("authorization", stranger_auth.as_str())])
        .await;
    assert_eq!(theirs.status, 404, "{}", theirs.text());
}
