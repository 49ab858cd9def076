//! Prints the cost of checking one access token: the HS256 check this project used before
//! (a shared secret every function held) against the Ed25519 check it uses now (public keys
//! only). `make bench MODE=auth` runs it in release; numbers only.

#![allow(clippy::print_stdout, clippy::expect_used)] // A measurement tool: stdout is its output.

use std::time::{Duration, Instant};

use identity::jwt::{SessionStamp, Signer, TokenKind, TokenSettings, TokenTtls, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;

const RUNS: usize = 20_000;

fn per_call(runs: usize, mut f: impl FnMut()) -> Duration {
    // Warm-up, then the mean of `runs` calls, best of five rounds.
    for _ in 0..runs / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..runs {
                f();
            }
            started.elapsed() / u32::try_from(runs).expect("runs fit u32")
        })
        .min()
        .expect("five rounds")
}

fn main() {
    let settings = TokenSettings {
        issuer: "bench".to_owned(),
        audience: "bench-api".to_owned(),
        ttls: TokenTtls {
            access: Duration::from_secs(900),
            refresh: Duration::from_secs(86_400),
            reset: Duration::from_secs(900),
            verify: Duration::from_secs(86_400),
        },
    };
    let secret = SecretString::from(
        r#"{"active_kid":"k1","k1":"bench-key-bench-key-bench-key-bench-key-0123"}"#.to_owned(),
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signer = Signer::from_secret_json(&secret, settings.clone()).expect("ring");
    // An access token as auth issues it (with the session's creation time, `sct`).
    let session = SessionStamp {
        id: "sid",
        created_at_ms: now * 1_000,
        expires_at: now + 86_400,
    };
    let issued = signer
        .issue_access("user", &session, "free", now)
        .expect("token");
    let verifier =
        Verifier::from_public_json(&signer.public_keys_json(), settings).expect("public keys");
    let ed25519 = per_call(RUNS, || {
        verifier
            .verify(TokenKind::Access, &issued.token)
            .expect("verifies");
    });
    let sign = per_call(RUNS / 10, || {
        signer
            .issue_access("user", &session, "free", now)
            .expect("token");
    });

    // The HS256 check as it was: same claims, same validation, a 64-byte shared key.
    let key = b"bench-key-bench-key-bench-key-bench-key-0123";
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("k1".to_owned());
    let hs = jsonwebtoken::encode(&header, &issued.claims, &EncodingKey::from_secret(key))
        .expect("hs256 token");
    let decoding = DecodingKey::from_secret(key);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&["bench"]);
    validation.set_audience(&["bench-api"]);
    let hs256 = per_call(RUNS, || {
        jsonwebtoken::decode::<serde_json::Value>(&hs, &decoding, &validation).expect("verifies");
    });

    println!("access token check, mean of {RUNS} (best of 5 rounds):");
    println!(
        "  HS256 (before: shared secret)       {:>7.1} µs",
        hs256.as_secs_f64() * 1e6
    );
    println!(
        "  Ed25519 (now: public keys only)     {:>7.1} µs",
        ed25519.as_secs_f64() * 1e6
    );
    println!(
        "  Ed25519 signing (auth, per token)   {:>7.1} µs",
        sign.as_secs_f64() * 1e6
    );
}
