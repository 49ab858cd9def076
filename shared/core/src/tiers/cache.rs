//! The per-sandbox cache of every tier rule ([`RuleCache`]): one `Scan` per TTL, single-flight,
//! keeping the last good set when a read fails. Kept apart from the rules themselves because its
//! concern is time and concurrency, not what a rule means.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::Client;

use super::rules::{RuleSet, read_rules};

/// What the cache holds: the last good set and when it was last read (or tried).
#[derive(Debug, Default)]
struct Snapshot {
    rules: Arc<RuleSet>,
    read_at: Option<Instant>,
}

/// The rules of `TIERS_TABLE`, read with one `Scan` at most once per `ttl` per sandbox.
///
/// - Fresh (read less than `ttl` ago): no DynamoDB call.
/// - Expired: the first request to notice reads (single-flight); the requests that arrive while
///   it reads use the previous set. With nothing read yet, they wait for that one read.
/// - A failed read keeps the last good set (empty at first: the environment's policies apply)
///   and is tried again after `ttl`.
/// - `ttl` zero: every request reads (one at a time).
#[derive(Debug)]
pub struct RuleCache {
    client: Client,
    table: String,
    ttl: Duration,
    timeout: Duration,
    snapshot: Mutex<Snapshot>,
    reading: tokio::sync::Mutex<()>,
    reads: AtomicU64,
}

impl RuleCache {
    /// A cache of `table`'s rules, read again after `ttl`, each read bounded by `timeout`.
    pub fn new(client: Client, table: String, ttl: Duration, timeout: Duration) -> Self {
        Self {
            client,
            table,
            ttl,
            timeout,
            snapshot: Mutex::new(Snapshot::default()),
            reading: tokio::sync::Mutex::new(()),
            reads: AtomicU64::new(0),
        }
    }

    /// The `Scan`s this cache started (tests count them).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The set read less than `ttl` ago (`None`: expired or never read), and the last good one.
    fn cached(&self) -> (Option<Arc<RuleSet>>, Arc<RuleSet>, bool) {
        // A poisoned lock only means a panic elsewhere while holding it; the snapshot is whole.
        let snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = snapshot
            .read_at
            .is_some_and(|at| !self.ttl.is_zero() && at.elapsed() < self.ttl);
        (
            fresh.then(|| snapshot.rules.clone()),
            snapshot.rules.clone(),
            snapshot.read_at.is_some(),
        )
    }

    /// The rules to apply now.
    pub async fn current(&self) -> Arc<RuleSet> {
        let (fresh, last, ever_read) = self.cached();
        if let Some(rules) = fresh {
            return rules;
        }
        // Single flight: one request reads; while it does, the others use the last set
        // (or, before the first read and with `ttl` zero, wait for it).
        let _reading = if ever_read && !self.ttl.is_zero() {
            match self.reading.try_lock() {
                Ok(guard) => guard,
                Err(_) => return last,
            }
        } else {
            self.reading.lock().await
        };
        // Another request may have read while this one waited.
        if let (Some(rules), _, _) = self.cached() {
            return rules;
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let read = tokio::time::timeout(self.timeout, read_rules(&self.client, &self.table)).await;
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        snapshot.read_at = Some(Instant::now());
        match read {
            Ok(Ok(rules)) => snapshot.rules = Arc::new(rules),
            Ok(Err(err)) => {
                tracing::warn!(error = ?err, table = %self.table, "reading the tier rules failed; the last rules apply");
            }
            Err(_) => {
                tracing::warn!(table = %self.table, "reading the tier rules timed out; the last rules apply");
            }
        }
        snapshot.rules.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_read_leaves_no_rules_and_is_retried_after_the_ttl_not_per_request() {
        // No credentials and a closed port: every read fails at once.
        let client = Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let cache = RuleCache::new(
            client,
            "tiers".to_owned(),
            Duration::from_millis(300),
            Duration::from_millis(500),
        );
        for _ in 0..5 {
            assert!(
                cache.current().await.is_empty(),
                "the environment's policies apply"
            );
        }
        assert_eq!(cache.reads(), 1, "one read per TTL, failed or not");
        tokio::time::sleep(Duration::from_millis(350)).await;
        cache.current().await;
        assert_eq!(cache.reads(), 2, "tried again after the TTL");
    }
}
