//! The job worker: every message on the jobs queue, in the batches the event source mapping
//! hands over. Each message is one [`queue::Envelope`]; it is read, claimed in the idempotency
//! table, run, and marked done. Only the messages that failed are reported back
//! (`SqsBatchResponse`), so one bad message never replays its batch: the failed one comes back
//! after a backoff, and after `maxReceiveCount` receives SQS moves it to the dead-letter queue. A
//! message that cannot be read at all goes there at once.
//!
//! - [`batch`]: one batch, one message, the log line per job;
//! - [`idempotency`]: the Powertools design, so a message delivered twice has its effect once;
//! - [`mail`]: verification, reset and notice mails (the worker looks accounts up, issues the
//!   tokens and renders the mail);
//! - [`effects`]: webhook effects and the sample task;
//! - [`state`]: the worker's state and settings.

pub mod batch;
pub mod effects;
pub mod idempotency;
pub mod mail;
pub mod state;

pub use batch::process;
pub use state::{Worker, WorkerSettings, init};
