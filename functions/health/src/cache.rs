//! The probe cache: `/health` and `/health/readiness` are unauthenticated, and one round of
//! probes is about ten AWS calls (some billed, e.g. Secrets Manager's DescribeSecret). So a
//! sandbox probes at most once per interval (`HEALTH_CACHE_SECONDS`, default 5; 0 probes on
//! every request), and concurrent requests wait for the round in flight instead of starting
//! their own: a flood costs one round per sandbox per interval.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

/// The last round's results, and when it started.
#[derive(Debug)]
pub struct ProbeCache<T> {
    ttl: Duration,
    // An async mutex, held across the round: whoever finds the entry stale probes, and everyone
    // arriving meanwhile waits for that round's results.
    last: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> ProbeCache<T> {
    /// A cache whose entries are fresh for `ttl` (zero: never reused).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: Mutex::new(None),
        }
    }

    /// The cached results while fresh; otherwise runs `probe` and keeps its results.
    pub async fn get_or_probe<F, Fut>(&self, probe: F) -> Arc<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, results)) = last.as_ref()
            && at.elapsed() < self.ttl
        {
            return results.clone();
        }
        let started = Instant::now();
        let results = Arc::new(probe().await);
        *last = Some((started, results.clone()));
        results
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn probe(count: &AtomicUsize) -> usize {
        tokio::time::sleep(Duration::from_millis(20)).await;
        count.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[tokio::test]
    async fn twenty_concurrent_requests_share_one_round_of_probes() {
        let cache = ProbeCache::new(Duration::from_secs(60));
        let count = AtomicUsize::new(0);

        let results =
            futures::future::join_all((0..20).map(|_| cache.get_or_probe(|| probe(&count)))).await;

        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(results.iter().all(|r| **r == 1));
    }

    #[tokio::test]
    async fn a_stale_entry_is_probed_again() {
        let cache = ProbeCache::new(Duration::from_millis(30));
        let count = AtomicUsize::new(0);

        cache.get_or_probe(|| probe(&count)).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let second = cache.get_or_probe(|| probe(&count)).await;

        assert_eq!(*second, 2);
    }

    #[tokio::test]
    async fn a_zero_interval_probes_on_every_request() {
        let cache = ProbeCache::new(Duration::ZERO);
        let count = AtomicUsize::new(0);

        for _ in 0..3 {
            cache.get_or_probe(|| probe(&count)).await;
        }

        assert_eq!(count.load(Ordering::SeqCst), 3);
    }
}
