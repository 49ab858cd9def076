//! Background jobs, as every producer and the worker share them:
//!
//! - [`job`]: the one typed [`Job`] enum in a versioned [`Envelope`]: a producer cannot enqueue
//!   what the worker cannot read, and the worker refuses (to the dead-letter queue) what it
//!   cannot;
//! - [`queue`]: [`JobQueue`], the producer (`sqs:SendMessage` on the jobs queue, nothing else);
//! - [`tasks`]: the task records of `/api/v1/tasks` (the jobs table, `TASK#<id>`), written by the
//!   tasks function and moved along by the worker.

pub mod job;
pub mod queue;
pub mod tasks;

pub use job::{Envelope, Job, Malformed, ResendTo};
pub use queue::{JobQueue, QueueError};
pub use tasks::{TaskRecord, TaskStatus, Tasks};
