//! The static wiring checks: what no request to the local stack can show, read from the
//! repository itself. No emulator, no AWS, no network: `cargo test -p e2e --test wiring` (the
//! consistency check runs the local gateway's `--routes`, from `.venv`, which `make test` makes).
//!
//! - [`consistency`]: every route group is wired in every place that lists it (`Cargo.toml`,
//!   `tests/Cargo.toml`, `template.yaml` and its CORS preflights, the local gateway's route table,
//!   `events/`, the measure probe, the OpenAPI documents), and every worker (a function an event
//!   source mapping invokes, with no route) in the places a worker is listed;
//! - [`iam`]: `template.yaml` grants each function exactly the AWS calls its
//!   `functions/<group>/iam.toml` lists (the emulator enforces no IAM);
//! - [`managed_instances`]: under `ManagedInstances=true` every function runs on the capacity
//!   provider, at a memory size Lambda Managed Instances accept;
//! - [`template`]: the template's operational settings (access logs, log retention, reserved
//!   concurrency) are there for every function;
//! - [`queues`]: every queue and every SQS event source mapping is wired as AWS advises (batch
//!   item failures, visibility six times the function's timeout, a dead-letter queue after a
//!   parameter's receives, encryption at rest, no SAM `SQS` event and its `"*"` policy);
//! - [`users_index`]: UsersTable's listing index reads whole users and carries nothing every
//!   authenticated request writes;
//! - [`paths`]: every repository path quoted in the README, the guide and the comments exists;
//! - [`version`]: `Cargo.toml`'s version is what `/health` reports and the changelog's newest;
//! - [`repo`]: reads the repository for all of them (one `template.yaml` parser).
//!
//! Each check is a pure function from what it read to a list of problems, and has negative tests
//! that break one piece and expect it reported: a check that cannot fail proves nothing.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a broken checkout should stop the test loudly.

mod consistency;
mod iam;
mod managed_instances;
mod paths;
mod queues;
mod repo;
mod template;
mod users_index;
mod version;

/// Fails, listing them all, when `problems` is not empty.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what} ({} problems):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// Runs `run` on every case of a table, then fails naming every case that failed (each one's
/// own message is above, in the captured output), not only the first.
fn each_case<C>(cases: &[C], name: impl Fn(&C) -> &str, run: impl Fn(&C)) {
    assert!(!cases.is_empty(), "an empty table tests nothing");
    let failed: Vec<&str> = cases
        .iter()
        .filter(|case| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)));
            outcome.is_err()
        })
        .map(&name)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n  - {}",
        failed.len(),
        cases.len(),
        failed.join("\n  - ")
    );
}

/// A change to the real data of a check, and the problems it must then report.
struct Change<M> {
    /// What is changed, as a sentence: "a route without events is reported".
    case: &'static str,
    /// The problems it must add (each absent before the change).
    expected: &'static [&'static str],
    change: fn(&mut M),
}

/// Applies each change to a copy of `real` and fails unless `problems` then reports every one of
/// its expected problems, none of which it reported before.
fn each_change_is_reported<M: Clone>(
    real: &M,
    problems: fn(&M) -> Vec<String>,
    changes: &[Change<M>],
) {
    let before = problems(real);
    each_case(
        changes,
        |c| c.case,
        |c| {
            let mut changed = real.clone();
            (c.change)(&mut changed);
            let after = problems(&changed);
            for expected in c.expected {
                assert!(
                    after.iter().any(|p| p == expected) && !before.iter().any(|p| p == expected),
                    "expected the new problem\n    {expected}\namong:\n  - {}",
                    after.join("\n  - ")
                );
            }
        },
    );
}
