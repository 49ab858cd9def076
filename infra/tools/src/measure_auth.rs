//! Login latency split (argon2 vs DynamoDB) and DynamoDB calls per request, through the real
//! routers against the emulator; `make bench MODE=auth` runs it. Prints numbers; asserts nothing.

#![allow(clippy::print_stdout, clippy::expect_used)] // A measurement tool: stdout is its output.

use std::time::{Duration, Instant};

use axum::{body::Body, http::Request};
use secrecy::SecretString;
use shared::{AppState, Env};
use tower::ServiceExt;

const RUNS: usize = 15;

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::process();
    let state = AppState::from_env(&env, "measure", env!("CARGO_PKG_VERSION")).await?;
    // Both functions over one AppState, so one DynamoDB call counter sees them.
    let auth_state = auth::init(state.clone(), env.clone()).await?;
    let users_state = users::init(state.clone(), env).await?;
    let auth = auth_state.auth.clone();
    let password = SecretString::from("measure horse battery staple".to_owned());

    let mut hash_t = Vec::new();
    let mut verify_t = Vec::new();
    let mut hash = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        hash = auth.passwords.hash(&password).await?;
        hash_t.push(t.elapsed());
        let t = Instant::now();
        auth.passwords.verify(&password, Some(hash.clone())).await?;
        verify_t.push(t.elapsed());
    }
    drop(hash);

    let app_auth = auth::router(auth_state);
    let app_users = users::router(users_state);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let signup = format!(
        r#"{{"username":"m_{}","email":"{}@example.com","password":"measure horse battery staple","first_name":"M","last_name":"X"}}"#,
        &tag[..12],
        &tag[..12]
    );
    let post = |path: &str, body: String, ctype: &str| {
        Request::post(path)
            .header("content-type", ctype)
            .body(Body::from(body))
            .expect("request")
    };
    let response = app_auth
        .clone()
        .oneshot(post("/api/v1/auth/signup", signup, "application/json"))
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "signup failed: {}",
        response.status()
    );

    let mut login_t = Vec::new();
    let mut login_calls = 0;
    let mut access = String::new();
    for _ in 0..RUNS {
        let before = state.dynamo_calls.get();
        let t = Instant::now();
        let response = app_auth
            .clone()
            .oneshot(post(
                "/api/v1/auth/login",
                format!(
                    "username=m_{}&password=measure horse battery staple",
                    &tag[..12]
                ),
                "application/x-www-form-urlencoded",
            ))
            .await?;
        login_t.push(t.elapsed());
        login_calls = state.dynamo_calls.get() - before;
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes)?;
        access = json["access_token"].as_str().unwrap_or_default().to_owned();
    }

    let mut me_t = Vec::new();
    let mut me_calls = 0;
    for _ in 0..RUNS {
        let before = state.dynamo_calls.get();
        let t = Instant::now();
        let response = app_users
            .clone()
            .oneshot(
                Request::get("/api/v1/users/me")
                    .header("authorization", format!("Bearer {access}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await?;
        me_t.push(t.elapsed());
        me_calls = state.dynamo_calls.get() - before;
        anyhow::ensure!(response.status() == 200, "/me failed");
    }

    let (h, v, l, m) = (
        median(hash_t),
        median(verify_t),
        median(login_t),
        median(me_t),
    );
    println!("median of {RUNS} runs, against the local emulator:");
    println!("  argon2id hash (m=19 MiB, t=2, p=1)   {h:8.1} ms");
    println!("  argon2id verify                       {v:8.1} ms");
    println!("  POST /auth/login total                {l:8.1} ms  ({login_calls} DynamoDB calls)");
    println!("    of which argon2 verify              {v:8.1} ms");
    println!("    of which DynamoDB + rest            {:8.1} ms", l - v);
    println!("  GET /users/me total                   {m:8.1} ms  ({me_calls} DynamoDB call)");
    Ok(())
}
