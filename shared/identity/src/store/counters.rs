//! Fixed-window counters in DynamoDB: password guesses (per identifier and client, and per
//! account), with a progressive delay between failed guesses, and mails per address. Windows
//! expire on their own, so nobody is locked out for good.
//!
//! An attempt is *reserved* with one conditional `ADD` before the work it guards, so concurrent
//! requests cannot all slip under the limit. Subjects are stored hashed: a "username" field
//! often holds a mistyped password, and keys stay short whatever the client sent.

use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};
use shared::{
    clock::fixed_window,
    dynamo::{self, Counted, StoreError, n, opt_n, s},
};

/// What reserving an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; `count` attempts so far in this window, this one included.
    Allowed {
        /// Attempts in the window so far.
        count: i64,
    },
    /// Not counted: the window is full, or a delay runs.
    Refused {
        /// Seconds until the client may try again.
        retry_after_secs: u64,
    },
}

/// A fixed window: `max` events per `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Allowed events per window.
    pub max: i64,
    /// Window length.
    pub window_secs: i64,
}

/// The rate-limits table.
#[derive(Debug, Clone)]
pub struct Counters {
    client: Client,
    table: String,
}

impl Counters {
    /// Repository over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(scope: &str, subject: &str, window: Window, now: i64) -> (String, i64) {
        let (start, end) = fixed_window(now, window.window_secs);
        let digest: String = Sha256::digest(subject.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("{scope}#{digest}#{start}"), end)
    }

    /// Counts one attempt if the window has room. `Some(seconds until the window ends)` when it
    /// is full (nothing is counted then); `None` when the attempt may go ahead.
    pub async fn reserve(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(match self.attempt(scope, subject, window, now).await? {
            Attempt::Allowed { .. } => None,
            Attempt::Refused { retry_after_secs } => Some(retry_after_secs),
        })
    }

    /// Like [`Counters::reserve`], and also refused while a delay set by
    /// [`Counters::hold_off`] runs; says how many attempts the window has counted so far.
    pub async fn attempt(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<Attempt, StoreError> {
        let (pk, ends) = Self::key(scope, subject, window, now);
        let not_delayed = (
            "attribute_not_exists(not_before) OR not_before <= :now",
            &[(":now", n(now))][..],
        );
        let old = match dynamo::count_one(
            &self.client,
            &self.table,
            pk,
            window.max,
            ends,
            Some(not_delayed),
        )
        .await?
        {
            Counted::Added(count) => return Ok(Attempt::Allowed { count }),
            Counted::Refused(old) => old,
        };
        // The window is full until it ends; a running delay until it runs out. Without the old
        // item (a store that does not return it), the window's end is the safe answer.
        let until = match old {
            Some(item) if opt_n(&item, "count")?.unwrap_or(0) < window.max => {
                opt_n(&item, "not_before")?.unwrap_or(ends)
            }
            _ => ends,
        };
        Ok(Attempt::Refused {
            retry_after_secs: u64::try_from(until - now).unwrap_or(0).max(1),
        })
    }

    /// Refuses further attempts of the current window until `until` (epoch seconds): the
    /// progressive delay after a failed guess.
    pub async fn hold_off(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        let (pk, _) = Self::key(scope, subject, window, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("SET not_before = :until")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":until", n(until))
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from)).map(drop)
    }

    /// Gives back one event reserved at `now` whose work did not happen (a mail SES refused), so
    /// that the window counts only what was done and a retry is not refused by its own failures.
    /// Never below zero; a window that has ended is left alone.
    pub async fn release(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<(), StoreError> {
        let (pk, _) = Self::key(scope, subject, window, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("ADD #count :minus_one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        dynamo::applied(result.map_err(StoreError::from)).map(drop)
    }

    /// Clears the current window (a successful login).
    pub async fn reset(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        now: i64,
    ) -> Result<(), StoreError> {
        let (pk, _) = Self::key(scope, subject, window, now);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .send()
            .await?;
        Ok(())
    }
}
