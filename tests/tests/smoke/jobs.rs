//! Background jobs through the stack: mail sent by the worker (`cargo lambda watch` runs it;
//! `infra/local/poller.py` hands it the queue's batches, as the event source mapping does), and
//! `forgot` answering alike whatever the address, with no response floor to sleep to, and a task
//! of `/api/v1/tasks` run to its end.

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

pub(crate) async fn forgot_answers_alike_for_a_known_and_an_unknown_address(s: Smoke) {
    let known = signup(&s).await;
    let unknown = format!("nobody_{}@example.com", e2e::unique());
    let mut samples: [Vec<Duration>; 2] = Default::default();
    // Interleaved, so drift in the machine's load falls on both alike.
    for _ in 0..30 {
        for (i, email) in [&known, &unknown].into_iter().enumerate() {
            let started = Instant::now();
            let reply = s
                .http
                .json(
                    Method::POST,
                    &s.api("/auth/password/forgot"),
                    &[],
                    &json!({ "email": email }),
                )
                .await;
            samples[i].push(started.elapsed());
            assert_eq!(reply.status, 202, "forgot: {}", reply.text());
        }
    }
    let median = |s: &mut Vec<Duration>| {
        s.sort();
        s[s.len() / 2]
    };
    let (known_median, unknown_median) = (median(&mut samples[0]), median(&mut samples[1]));
    println!("forgot medians: known {known_median:?}, unknown {unknown_median:?}");
    assert!(
        known_median.abs_diff(unknown_median) <= Duration::from_millis(10),
        "medians differ: known {known_median:?}, unknown {unknown_median:?}"
    );
    // The old floor made every answer take 600 ms; now it is one enqueue away.
    assert!(
        known_median < Duration::from_millis(600) && unknown_median < Duration::from_millis(600),
        "an answer still waits for a floor: {known_median:?} / {unknown_median:?}"
    );
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
