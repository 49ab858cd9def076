//! Peak RSS and CPU time of what `auth` does with passwords: N signups (hashes), then N logins
//! (verifies, every tenth an unknown user against the dummy), through `Passwords` at the default
//! cost, from several tasks at once on a multi-thread runtime, as concurrent traffic would.
//!
//! `measure-argon2-rss [N=200] [CONCURRENCY=4] [KEEP_ALIVE_MS]`. KEEP_ALIVE_MS shortens tokio's
//! idle blocking-thread keep-alive (10 s by default) so threads exit and are replaced between
//! operations, as they do in a sandbox with idle gaps between requests. `make bench MODE=auth`
//! runs it with the defaults (N=40 when `QUICK=1`).

#![allow(clippy::print_stdout)] // A measurement tool: stdout is its output.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use identity::password::{HashCost, Passwords, Verified};
use secrecy::SecretString;
use tokio::{sync::Semaphore, task::JoinSet};

/// A `/proc/self/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} not in /proc/self/status"))
}

/// User and system CPU time of the whole process (all threads, exited ones included), in ms.
fn cpu_ms() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').context("/proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; in clock
    // ticks, 100 per second on Linux (USER_HZ).
    let tick = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("/proc/self/stat")?.parse::<f64>()? * 10.0)
    };
    Ok((tick(11)?, tick(12)?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn run(n: usize, concurrency: usize) -> anyhow::Result<()> {
    let passwords = Passwords::new(HashCost::default())?;
    let limit = Arc::new(Semaphore::new(concurrency));
    let start_hwm = status_kib("VmHWM")?;
    let cpu0 = cpu_ms()?;

    let mut signups = JoinSet::new();
    for i in 0..n {
        let (passwords, limit) = (passwords.clone(), limit.clone());
        signups.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let password = SecretString::from(format!("measure horse battery staple {i}"));
            anyhow::Ok((i, passwords.hash(&password).await?))
        });
    }
    let mut hashes = vec![String::new(); n];
    while let Some(done) = signups.join_next().await {
        let (i, hash) = done??;
        hashes[i] = hash;
    }
    let cpu1 = cpu_ms()?;
    let signup_hwm = status_kib("VmHWM")?;

    let mut logins = JoinSet::new();
    for (i, hash) in hashes.into_iter().enumerate() {
        let (passwords, limit) = (passwords.clone(), limit.clone());
        logins.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let password = SecretString::from(format!("measure horse battery staple {i}"));
            let known = i % 10 != 0;
            let verified = passwords.verify(&password, known.then_some(hash)).await?;
            anyhow::ensure!(
                verified
                    == if known {
                        Verified::Yes { rehash: None }
                    } else {
                        Verified::No
                    },
                "login {i}: unexpected {verified:?}"
            );
            anyhow::Ok(())
        });
    }
    while let Some(done) = logins.join_next().await {
        done??;
    }
    let cpu2 = cpu_ms()?;

    let per = |a: (f64, f64), b: (f64, f64)| {
        let (user, sys) = (b.0 - a.0, b.1 - a.1);
        format!(
            "{:6.1} ms CPU each ({:.1} user + {:.1} sys)",
            (user + sys) / n as f64,
            user / n as f64,
            sys / n as f64
        )
    };
    println!("{n} signups + {n} logins, {concurrency} at a time, argon2id m=19 MiB t=2 p=1:");
    println!("  VmHWM at start           {:7.1} MiB", mib(start_hwm));
    println!("  VmHWM after signups      {:7.1} MiB", mib(signup_hwm));
    println!(
        "  VmHWM after logins       {:7.1} MiB",
        mib(status_kib("VmHWM")?)
    );
    println!(
        "  VmRSS at the end         {:7.1} MiB",
        mib(status_kib("VmRSS")?)
    );
    println!("  hash   {}", per(cpu0, cpu1));
    println!("  verify {}", per(cpu1, cpu2));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let arg = |i: usize| {
        std::env::args()
            .nth(i)
            .map(|a| a.parse::<u64>())
            .transpose()
    };
    let n = arg(1)?.unwrap_or(200).try_into()?;
    let concurrency = arg(2)?.unwrap_or(4).try_into()?;
    // The same runtime as `#[tokio::main]` (what `auth` runs on), unless told otherwise.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(ms) = arg(3)? {
        builder.thread_keep_alive(Duration::from_millis(ms));
    }
    builder.build()?.block_on(run(n, concurrency))
}
