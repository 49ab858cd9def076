//! The end-to-end tests: every function over real HTTP (or as API Gateway hands it a request)
//! against the local emulator, in one test binary with one module per area, so they are compiled
//! and linked once. The helpers they share are the `e2e` library (`tests/src/lib.rs`).
//!
//! Run them through `make test`, which starts the emulator and exports its environment; by hand,
//! the same as the script does (see `infra/scripts/lib.sh`'s `local_aws`), then
//! `cargo test -p e2e --test e2e [-- <module>::]`.

mod cold_start;
mod concurrent_state;
mod conditional;
mod contract;
mod docs;
mod hardening;
mod health;
mod identity;

mod lockout;
mod lookalike;
mod mail;
mod mfa;
mod no_panic;
mod passkeys;
mod ratelimit;
mod rotation;
mod roundtrip;
mod secrets;
mod tasks;
mod tiers;
mod uploads;
mod uploads_lifecycle;
mod webhooks;
mod worker;
