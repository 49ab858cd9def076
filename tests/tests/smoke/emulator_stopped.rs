//! With the emulator stopped (the functions still up): readiness answers 503 naming what failed,
//! and fast, since a load balancer's probe must not hang.

use std::time::{Duration, Instant};

use crate::Smoke;

/// 503, the users table among the failed checks, within 3 s.
pub(crate) async fn readiness_is_503_naming_the_failed_checks_within_3_s(s: Smoke) {
    let started = Instant::now();
    let reply = s.http.get(&s.url("/health/readiness"), &[]).await;
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis();
    println!("readiness with the emulator stopped: {ms} ms");

    assert_eq!(reply.status, 503, "{}", reply.text());
    let body = reply.json();
    let failed = body["checks"].as_array().is_some_and(|checks| {
        checks
            .iter()
            .any(|c| c["name"] == "dynamodb:users" && c["status"] == "fail")
    });
    assert!(failed, "dynamodb:users is not named as failed: {body}");
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?}, more than 3 s"
    );
}
