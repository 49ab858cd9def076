//! The jobs, and the envelope they travel in. The body of every message on the jobs queue is one
//! [`Envelope`] as JSON: `{"v": 1, "id": "...", "enqueued_at": 1700000000, "job": {"kind": ...}}`.
//!
//! `v` is the envelope's version: a change a worker of the previous version could not read gets a
//! new number, and the worker keeps reading the old one until the queue holds none (deploy the
//! worker first). Adding a kind is such a change for the old worker, which sends what it does not
//! know to the dead-letter queue, from where a redrive brings it back once the new worker runs.
//!
//! Messages hold no secret and no link: the worker issues tokens and renders mail itself.

use serde::{Deserialize, Serialize};

/// The envelope version this crate writes and reads.
pub const VERSION: u32 = 1;

/// The longest a sample task may ask to run: well under the worker's timeout.
pub const SAMPLE_MAX_DELAY_MS: u64 = 10_000;

/// One job. The worker matches on it exhaustively: a kind added here does not compile until the
/// worker handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    /// The verification link of a new account (signup).
    VerifyEmail {
        /// The account.
        user_id: String,
    },
    /// A verification link again, if the account exists and is not verified yet. Enqueued for
    /// every request, whatever the address: the worker looks the account up.
    ResendVerification {
        /// Whose link.
        to: ResendTo,
    },
    /// A password reset link, if an active account has this address. Enqueued for every request.
    PasswordReset {
        /// The address as given (parsed, not looked up).
        email: String,
    },
    /// The notice after a password change.
    PasswordChanged {
        /// The account.
        user_id: String,
        /// When (RFC 3339), as the request saw it.
        changed_at: String,
    },
    /// The notice after a login with a recovery code.
    RecoveryCodeUsed {
        /// The account.
        user_id: String,
        /// When (RFC 3339), as the request saw it.
        used_at: String,
    },
    /// A verified webhook's effect: the user's tier from a subscription event, applied only if
    /// no event at least as new was (`created` orders them, whatever order they arrive in).
    SubscriptionTier {
        /// The user in the subscription's metadata.
        user_id: String,
        /// `pro` or `free`.
        tier: String,
        /// The event's `created` (seconds since the epoch).
        event_created: i64,
    },
    /// The sample job of `POST /api/v1/tasks`.
    Sample {
        /// The task record (`TASK#<id>`) it reports to.
        task_id: String,
        /// Its owner: only they read it.
        owner: String,
        /// Echoed in the result.
        message: String,
        /// How long it works, at most [`SAMPLE_MAX_DELAY_MS`].
        delay_ms: u64,
        /// Fails on purpose (the task ends `failed`, with an error).
        fail: bool,
    },
}

/// Whom a resend is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ResendTo {
    /// The authenticated caller.
    User(String),
    /// Whoever holds this address, if anyone.
    Email(String),
}

impl Job {
    /// The kind, as in the JSON and the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::VerifyEmail { .. } => "verify_email",
            Job::ResendVerification { .. } => "resend_verification",
            Job::PasswordReset { .. } => "password_reset",
            Job::PasswordChanged { .. } => "password_changed",
            Job::RecoveryCodeUsed { .. } => "recovery_code_used",
            Job::SubscriptionTier { .. } => "subscription_tier",
            Job::Sample { .. } => "sample",
        }
    }
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`VERSION`].
    pub v: u32,
    /// The job's id, and its idempotency key: every copy of a message has it, and a producer
    /// that may send one job twice (a webhook redelivered) derives it from its own id.
    pub id: String,
    /// Seconds since the epoch, when it was sent.
    pub enqueued_at: i64,
    /// What to do.
    pub job: Job,
}

/// A body the worker cannot read: not JSON, another envelope version, an unknown kind, a missing
/// or extra field. It goes to the dead-letter queue as it came, with this reason.
#[derive(Debug, thiserror::Error)]
#[error("malformed job message: {0}")]
pub struct Malformed(pub String);

impl Envelope {
    /// A new envelope for `job` with id `id`, stamped now.
    pub fn new(id: String, job: Job) -> Self {
        Self {
            v: VERSION,
            id,
            enqueued_at: shared::clock::now_s(),
            job,
        }
    }

    /// Reads a message body: the version first, so a newer envelope is named as such.
    pub fn parse(body: &str) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Version {
            v: Option<u32>,
        }
        let version: Version =
            serde_json::from_str(body).map_err(|e| Malformed(format!("not a JSON object: {e}")))?;
        match version.v {
            Some(VERSION) => {}
            Some(other) => {
                return Err(Malformed(format!(
                    "envelope version {other}, not {VERSION}"
                )));
            }
            None => return Err(Malformed("no envelope version `v`".to_owned())),
        }
        let envelope: Envelope =
            serde_json::from_str(body).map_err(|e| Malformed(e.to_string()))?;
        if envelope.id.is_empty() || envelope.id.len() > 200 {
            return Err(Malformed(
                "the id is empty or longer than 200 bytes".to_owned(),
            ));
        }
        Ok(envelope)
    }

    /// The message body.
    pub fn to_body(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_envelope_reads_back_what_it_wrote() {
        let envelope = Envelope::new(
            "id-1".into(),
            Job::ResendVerification {
                to: ResendTo::Email("a@example.com".into()),
            },
        );
        assert_eq!(Envelope::parse(&envelope.to_body()).unwrap(), envelope);
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let body = r#"{"v":1,"id":"t1","enqueued_at":5,"job":{"kind":"password_reset","email":"a@example.com"}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(
            envelope.job,
            Job::PasswordReset {
                email: "a@example.com".into()
            }
        );
        assert_eq!(envelope.job.kind(), "password_reset");
    }

    #[test]
    fn unknown_kinds_versions_and_fields_are_malformed() {
        for body in [
            "not json",
            "[]",
            r#"{"id":"x","enqueued_at":1,"job":{"kind":"verify_email","user_id":"u"}}"#,
            r#"{"v":2,"id":"x","enqueued_at":1,"job":{"kind":"verify_email","user_id":"u"}}"#,
            r#"{"v":1,"id":"x","enqueued_at":1,"job":{"kind":"launch_rockets"}}"#,
            r#"{"v":1,"id":"x","enqueued_at":1,"job":{"kind":"verify_email","user_id":"u","extra":1}}"#,
            r#"{"v":1,"id":"","enqueued_at":1,"job":{"kind":"verify_email","user_id":"u"}}"#,
            r#"{"v":1,"id":"x","enqueued_at":1}"#,
        ] {
            assert!(Envelope::parse(body).is_err(), "{body} was read");
        }
    }
}
