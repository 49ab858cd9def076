//! A function that cold-starts while its dependencies are unreachable must not fail its init
//! (deployed: a bare 502 on every request; locally: `cargo lambda watch` stops). It answers the
//! 503 envelope fast until Secrets Manager is back, then recovers without a restart.
//!
//! The test runs an emulator of its own, on a port nothing listens on at first.

#![allow(clippy::expect_used)] // Set-up helpers: a failed start must stop the test loudly.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{Client, emulator_env, repo_root, spawn_http, unique};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The emulator, killed when dropped.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.0.kill());
        drop(self.0.wait());
    }
}

async fn start_emulator(port: u16) -> Emulator {
    let python = repo_root().join(".venv/bin/python");
    let child = Command::new(&python)
        .arg(repo_root().join("infra/local/emulator.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator (run through `make test`, which installs .venv)");
    let emulator = Emulator(child);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = Command::new(&python)
        .arg(repo_root().join("infra/local/bootstrap.py"))
        .args(["--endpoint", &format!("http://127.0.0.1:{port}")])
        .args([
            "--env-out",
            &std::env::temp_dir()
                .join(format!("cold-{port}.env"))
                .to_string_lossy(),
        ])
        .output()
        .expect("bootstrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    emulator
}

#[tokio::test]
async fn a_function_started_while_secrets_manager_is_down_answers_503_then_recovers() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let env = emulator_env(&[("AWS_ENDPOINT_URL", &endpoint), ("AWS_MAX_ATTEMPTS", "1")]);
    let app = shared::AppState::from_env(&env, "users", "0.0.0")
        .await
        .expect("config");

    // Init makes no network call, so it succeeds with nothing listening.
    let users = users::init(app.clone(), env.clone())
        .await
        .expect("init survives an unreachable Secrets Manager");
    let users_url = spawn_http(users::router(users)).await;
    let http = Client::new();
    let forged = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.e30.c2ln";
    let bearer = format!("Bearer {forged}");
    let started = Instant::now();
    let down = http
        .get(
            &format!("{users_url}/api/v1/users/me"),
            &[("authorization", &bearer)],
        )
        .await;
    let took = started.elapsed();

    assert_eq!(down.status, 503, "{:?}", down.json());
    assert_eq!(down.json()["error_code"], "SERVICE_UNAVAILABLE");
    assert!(down.json()["request_id"].is_string(), "the envelope");
    assert!(took < Duration::from_secs(3), "fast: {took:?}");

    // The dependency comes back; the same running function recovers.
    let _emulator = start_emulator(port).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the failed read's retry gap
    let auth = auth::init(app, env).await.expect("auth state");
    let auth_url = spawn_http(auth::router(auth)).await;
    let tag = unique();
    let signup = http
        .json(
            http::Method::POST,
            &format!("{auth_url}/api/v1/auth/signup"),
            &[],
            &json!({"username": format!("cold_{tag}"), "email": format!("{tag}@example.com"),
                    "password": "violet tractor sunrise", "first_name": "C", "last_name": "S"}),
        )
        .await;
    assert_eq!(signup.status, 201, "{:?}", signup.json());
    let access = format!(
        "Bearer {}",
        signup.json()["access_token"].as_str().expect("token")
    );
    let up = http
        .get(
            &format!("{users_url}/api/v1/users/me"),
            &[("authorization", &access)],
        )
        .await;

    assert_eq!(up.status, 200, "{:?}", up.json());
}

/// How a rotated key ring reaches a running function: an unknown `kid` asks for the keys again,
/// and the secret is read again only when the cached copy is older than asked (so a stream of
/// forged `kid`s cannot make every request call Secrets Manager).
#[tokio::test]
async fn a_cached_secret_is_read_again_only_when_older_than_asked() {
    use secrecy::ExposeSecret as _;
    let app = e2e::emulator_state().await;
    let id = format!("e2e/refresh-{}", unique());
    let put = |value: &'static str| {
        let secrets = app.secrets.clone();
        let id = id.clone();
        async move {
            secrets
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await
                .expect("write the secret");
        }
    };
    app.secrets
        .create_secret()
        .name(&id)
        .secret_string("v1")
        .send()
        .await
        .expect("create the secret");
    let secret = shared::secrets::LazySecret::new(app.secrets.clone(), id.clone(), |s| {
        Ok(s.expose_secret().to_owned())
    });
    assert_eq!(*secret.get().await.expect("first read"), "v1");

    put("v2").await;
    assert_eq!(
        *secret.get().await.expect("cached"),
        "v1",
        "get keeps the cache"
    );
    assert_eq!(
        *secret
            .refresh(Duration::from_secs(30))
            .await
            .expect("young"),
        "v1",
        "a copy younger than asked is not read again"
    );

    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        *secret
            .refresh(Duration::from_millis(50))
            .await
            .expect("old"),
        "v2",
        "an older copy is read again"
    );
    assert_eq!(*secret.get().await.expect("cached"), "v2", "and cached");
}
