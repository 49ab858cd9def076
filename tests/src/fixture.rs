//! The identity fixture: the auth and users functions served over HTTP over one core state
//! ([`Identity`]), the accounts they create ([`Account`]), and token signers with other settings.

use axum::Router;
use identity::IdentityState;
use shared::AppState;

use crate::{Client, Reply, emulator::app_with, emulator_env, spawn_http, unique};

/// The token signer of an auth function with some variables overridden (another issuer...).
pub async fn signer_with(overrides: &[(&str, &str)]) -> std::sync::Arc<identity::jwt::Signer> {
    let env = emulator_env(overrides);
    auth::AuthContext::from_env(&app_with(&env).await, &env)
        .expect("auth settings")
        .signer()
        .await
        .expect("signing keys from the emulator")
}

/// The auth and users functions, each served over HTTP, over one core state (so one DynamoDB
/// call counter sees both) and one identity.
pub struct Identity {
    /// Base URL of the auth function.
    pub auth: String,
    /// Base URL of the users function.
    pub users: String,
    /// The core state (the DynamoDB call counter).
    pub app: AppState,
    /// Identity as the users function has it (public keys; for arranging data directly, e.g.
    /// promoting an admin).
    pub identity: IdentityState,
    /// What only auth has (the token signer, for issuing tokens directly).
    pub auth_context: auth::AuthContext,
    /// The auth router itself, for requests that must look like API Gateway's (a `sourceIp`).
    pub auth_router: Router,
    /// The users router itself, likewise.
    pub users_router: Router,
    /// HTTP client.
    pub http: Client,
    /// This fixture's jobs queues: auth enqueues its mail here.
    pub queues: crate::TestQueues,
    /// The job worker over them, as the event source mapping runs it (mail arrives as deployed:
    /// a moment after the request).
    pub worker: crate::RunningWorker,
}

/// A registered user: credentials and the tokens signup returned.
#[derive(Debug, Clone)]
pub struct Account {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Email as given at signup.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl Identity {
    /// Both functions with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Both functions with overridden variables.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let app = app_with(&emulator_env(overrides)).await;
        let queues = crate::TestQueues::create(&app, 5, 30).await;
        // The queues, and retries a second apart unless the test says otherwise.
        let queue_env = queues.env();
        let mut all: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.push(("JOBS_RETRY_BASE_SECS", "1"));
        all.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        all.extend_from_slice(overrides);
        let env = emulator_env(&all);
        // The worker's own core state: its DynamoDB calls are not the functions' (the call counter
        // the cost tests read counts only requests).
        let worker =
            crate::RunningWorker::spawn(app_with(&env).await, env.clone(), queues.clone()).await;
        // Each function's state as its own `init` builds it, over one AppState.
        let auth_state = auth::init(app.clone(), env.clone())
            .await
            .expect("auth state");
        let users_state = users::init(app.clone(), env).await.expect("users state");
        Self {
            identity: users_state.identity.clone(),
            auth_context: auth_state.auth.clone(),
            auth_router: auth::router(auth_state.clone()),
            auth: spawn_http(auth::router(auth_state)).await,
            users_router: users::router(users_state.clone()),
            users: spawn_http(users::router(users_state)).await,
            app,
            http: Client::new(),
            queues,
            worker,
        }
    }

    /// `POST /api/v1/auth/<path>` with a JSON body.
    pub async fn post_auth(
        &self,
        path: &str,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Reply {
        let auth_header = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth_header
            .as_deref()
            .map(|h| vec![("authorization", h)])
            .unwrap_or_default();
        self.http
            .json(
                http::Method::POST,
                &format!("{}/api/v1/auth/{path}", self.auth),
                &headers,
                body,
            )
            .await
    }

    /// `method /api/v1/users<path>` with an optional bearer and JSON body.
    pub async fn users_call(
        &self,
        method: http::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Reply {
        let auth_header = bearer.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(h) = auth_header.as_deref() {
            headers.push(("authorization", h));
        }
        let url = format!("{}/api/v1/users{path}", self.users);
        match body {
            Some(body) => self.http.json(method, &url, &headers, body).await,
            None => {
                self.http
                    .send(method, &url, &headers, bytes::Bytes::new())
                    .await
            }
        }
    }

    /// `GET /api/v1/users/me` with `token`.
    pub async fn me(&self, token: &str) -> Reply {
        self.users_call(http::Method::GET, "/me", Some(token), None)
            .await
    }

    /// Signs up a fresh user and returns its credentials and tokens.
    pub async fn signup(&self) -> Account {
        let tag = unique();
        let username = format!("user_{tag}");
        let email = format!("{tag}@example.com");
        let password = format!("lantern {tag} orbit");
        let reply = self
            .post_auth(
                "signup",
                &serde_json::json!({
                    "username": username, "email": email, "password": password,
                    "first_name": "Test", "last_name": "User"
                }),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            201,
            "signup: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let tokens = reply.json();
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let me = self.me(&access).await.json();
        Account {
            id: me["id"].as_str().expect("id").to_owned(),
            username,
            email,
            password,
            access,
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Logs in with JSON; returns the reply.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_auth(
            "login",
            &serde_json::json!({ "username": username, "password": password }),
            None,
        )
        .await
    }

    /// A JSON login as API Gateway would deliver it from `ip` (`requestContext.identity.sourceIp`),
    /// for the tests that count guesses per client address.
    pub async fn login_from(&self, ip: &str, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let request = crate::gateway_request(
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "application/json")],
            &body,
            ip,
        );
        crate::call(&self.auth_router, request).await
    }

    /// The mails the emulator's SES accepted for `address` once every job enqueued so far has
    /// been worked: what was sent, with nothing still on its way.
    pub async fn mail_to(&self, address: &str) -> Vec<serde_json::Value> {
        self.queues.settled().await;
        crate::mail_to(address).await
    }

    /// `POST /api/v1/auth/password/forgot` for `email`.
    pub async fn forgot(&self, email: &str) -> Reply {
        self.post_auth(
            "password/forgot",
            &serde_json::json!({ "email": email }),
            None,
        )
        .await
    }

    /// Signs up a user and grants it the admin role directly in the store.
    pub async fn admin(&self) -> Account {
        let account = self.signup().await;
        self.identity
            .store
            .users
            .admin_update(
                &account.id,
                &identity::store::users::AdminChanges {
                    roles: Some(vec!["admin".to_owned(), "user".to_owned()]),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("promote");
        account
    }
}
