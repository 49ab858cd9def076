//! The contract and the server agree: what an outside review found looser on one side than on
//! the other, each reproduced with real requests. Malformed JSON is a 400 even when a field is
//! wrong too.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up should stop the test loudly.

use e2e::{Account, Reply, upload_api::UploadsApi};
use http::Method;

/// `method url` with `body` sent as is, as `content_type`, with an optional Bearer token.
async fn send_raw(
    api: &UploadsApi,
    method: Method,
    url: &str,
    content_type: &str,
    body: &str,
    bearer: Option<&str>,
) -> Reply {
    let auth = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", content_type)];
    if let Some(auth) = auth.as_deref() {
        headers.push(("authorization", auth));
    }
    api.http.send(method, url, &headers, body.to_owned()).await
}

/// The auth, users and uploads functions, an admin, and a user.
async fn stack() -> (UploadsApi, Account, Account) {
    let api = UploadsApi::start().await;
    let admin = api.identity.admin().await;
    let user = api.identity.signup().await;
    (api, admin, user)
}

/// Every route that reads a JSON body: its method, URL and whether it needs the user's or the
/// admin's token.
fn json_routes(api: &UploadsApi, user: &Account) -> Vec<(Method, String, Who)> {
    let auth = |path: &str| format!("{}/api/v1/auth/{path}", api.identity.auth);
    vec![
        (Method::POST, auth("signup"), Who::Nobody),
        (Method::POST, auth("login"), Who::Nobody),
        (Method::POST, auth("refresh"), Who::Nobody),
        (Method::POST, auth("password/forgot"), Who::Nobody),
        (Method::POST, auth("password/reset"), Who::Nobody),
        (Method::POST, auth("password/change"), Who::User),
        (Method::POST, auth("verify-email"), Who::Nobody),
        (Method::POST, auth("verify-email/resend"), Who::Nobody),
        (
            Method::PATCH,
            format!("{}/api/v1/users/me", api.identity.users),
            Who::User,
        ),
        (
            Method::PATCH,
            format!("{}/api/v1/users/{}", api.identity.users, user.id),
            Who::Admin,
        ),
        (
            Method::POST,
            format!("{}/api/v1/uploads", api.base),
            Who::User,
        ),
    ]
}

/// Whose token a route gets.
#[derive(Debug, Clone, Copy)]
enum Who {
    Nobody,
    User,
    Admin,
}

impl Who {
    fn token<'a>(self, admin: &'a Account, user: &'a Account) -> Option<&'a str> {
        match self {
            Who::Nobody => None,
            Who::User => Some(&user.access),
            Who::Admin => Some(&admin.access),
        }
    }
}

// ---------------------------------------------------------------- malformed wins

#[tokio::test]
async fn an_unknown_field_followed_by_trailing_bytes_is_malformed_not_invalid() {
    let (api, admin, user) = stack().await;
    for (method, url, who) in json_routes(&api, &user) {
        for body in [r#"{"bogus": 1} x"#, r#"{"bogus": 1}{}"#, r#"[1] ]"#] {
            let reply = send_raw(
                &api,
                method.clone(),
                &url,
                "application/json",
                body,
                who.token(&admin, &user),
            )
            .await;
            assert_eq!(reply.status, 400, "{method} {url} {body}: {}", reply.text());
            assert_eq!(reply.json()["error_code"], "BAD_REQUEST", "{method} {url}");
        }
    }
}
