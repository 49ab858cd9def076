//! The profile of a call by layer: an interceptor stamps the time at every read hook of the
//! smithy orchestrator, so a call's wall time splits into the orchestrator's phases. On a
//! current-thread runtime with the server in another process, wall time outside `transmit` is
//! this thread's CPU (no other work runs in between); `transmit` includes the server's answer.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use aws_sdk_dynamodb::config::{
    ConfigBag, Intercept, RuntimeComponents,
    interceptors::{
        AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
        BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
        FinalizerInterceptorContextRef,
    },
};
use aws_smithy_runtime_api::box_error::BoxError;

/// The hooks stamped, in the order the orchestrator calls them.
pub const HOOKS: [&str; 12] = [
    "before_execution",
    "before_serialization",
    "after_serialization",
    "before_attempt",
    "before_signing",
    "after_signing",
    "before_transmit",
    "after_transmit",
    "before_deserialization",
    "after_deserialization",
    "after_attempt",
    "after_execution",
];

/// What happens between two successive stamps (and before the first, after the last).
pub const PHASES: [&str; 13] = [
    "fluent builder, input build, orchestrator entry (runtime plugins, config bag)",
    "modify_before_serialization interceptors",
    "serialization (JSON body, headers)",
    "retry loop set-up (retry strategy, timeouts, partition)",
    "endpoint resolution, identity (credentials cache), modify_before_signing",
    "SigV4 signing",
    "modify_before_transmit interceptors (user agent, recursion detection, ...)",
    "transmit: HTTP client, socket, the server's answer",
    "modify_before_deserialization",
    "deserialization (JSON to output struct)",
    "attempt completion (retry classification, token bucket)",
    "completion interceptors",
    "output conversion, orchestrator exit",
];

/// Stamps of the current call; `take` empties it.
#[derive(Debug, Clone, Default)]
pub struct LayerClock(Arc<Mutex<Vec<(usize, Instant)>>>);

impl LayerClock {
    fn stamp(&self, hook: usize) {
        let now = Instant::now();
        if let Ok(mut stamps) = self.0.lock() {
            stamps.push((hook, now));
        }
    }

    /// The call's stamps, first to last; empties the clock.
    pub fn take(&self) -> Vec<(usize, Instant)> {
        self.0
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

macro_rules! stamp {
    ($name:ident, $ctx:ty, $i:expr) => {
        fn $name(
            &self,
            _context: &$ctx,
            _rc: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.stamp($i);
            Ok(())
        }
    };
}

impl Intercept for LayerClock {
    fn name(&self) -> &'static str {
        "LayerClock"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.stamp(0);
        Ok(())
    }

    stamp!(
        read_before_serialization,
        BeforeSerializationInterceptorContextRef<'_>,
        1
    );
    stamp!(
        read_after_serialization,
        BeforeTransmitInterceptorContextRef<'_>,
        2
    );
    stamp!(
        read_before_attempt,
        BeforeTransmitInterceptorContextRef<'_>,
        3
    );
    stamp!(
        read_before_signing,
        BeforeTransmitInterceptorContextRef<'_>,
        4
    );
    stamp!(
        read_after_signing,
        BeforeTransmitInterceptorContextRef<'_>,
        5
    );
    stamp!(
        read_before_transmit,
        BeforeTransmitInterceptorContextRef<'_>,
        6
    );
    stamp!(
        read_after_transmit,
        BeforeDeserializationInterceptorContextRef<'_>,
        7
    );
    stamp!(
        read_before_deserialization,
        BeforeDeserializationInterceptorContextRef<'_>,
        8
    );
    stamp!(
        read_after_deserialization,
        AfterDeserializationInterceptorContextRef<'_>,
        9
    );
    stamp!(read_after_attempt, FinalizerInterceptorContextRef<'_>, 10);
    stamp!(read_after_execution, FinalizerInterceptorContextRef<'_>, 11);
}

/// Per-phase nanoseconds of one call, given its start and end around `send().await`.
pub fn phases(start: Instant, stamps: &[(usize, Instant)], end: Instant) -> Option<[u64; 13]> {
    if stamps.len() != HOOKS.len() || stamps.iter().enumerate().any(|(i, (h, _))| *h != i) {
        return None; // a retried or failed call: not a profile sample
    }
    let mut times = Vec::with_capacity(14);
    times.push(start);
    times.extend(stamps.iter().map(|(_, t)| *t));
    times.push(end);
    let mut out = [0u64; 13];
    for (i, w) in times.windows(2).enumerate() {
        out[i] = u64::try_from(w[1].saturating_duration_since(w[0]).as_nanos()).unwrap_or(u64::MAX);
    }
    Some(out)
}
