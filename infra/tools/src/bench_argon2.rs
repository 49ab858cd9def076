//! Prints the median argon2id hash time at the configured cost: the CPU-bound part of a login,
//! printed by `make bench MODE=auth` and used to compare release opt-levels
//! (`infra/scripts/compare-opt-levels.sh`).

#![allow(clippy::print_stdout)] // A measurement tool: stdout is its output.

use std::time::Instant;

use identity::password::{HashCost, Passwords};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let passwords = Passwords::new(HashCost::default())?;
    let password = SecretString::from("bench horse battery staple".to_owned());
    let mut samples = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        passwords.hash(&password).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    println!("{:.1}", samples[samples.len() / 2]);
    Ok(())
}
