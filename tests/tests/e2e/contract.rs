//! The contract and the server agree: what an outside review found looser on one side than on
//! the other, each reproduced with real requests. A JSON body that is not an object is refused
//! on every JSON route; malformed JSON is a 400 even when a field is wrong too.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up should stop the test loudly.

use e2e::{Account, Reply, upload_api::UploadsApi};
use http::Method;
use serde_json::json;

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

/// The `(loc, type)` of every entry of a 422's `detail`, in order.
fn failures(reply: &Reply) -> Vec<(Vec<String>, String)> {
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR");
    reply.json()["detail"]
        .as_array()
        .expect("a 422's detail is a list")
        .iter()
        .map(|entry| {
            let loc = entry["loc"]
                .as_array()
                .expect("loc")
                .iter()
                .map(|part| part.as_str().expect("loc part").to_owned())
                .collect();
            (loc, entry["type"].as_str().expect("type").to_owned())
        })
        .collect()
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

// ---------------------------------------------------------------- a body is a JSON object

#[tokio::test]
async fn a_json_array_is_not_read_by_field_position() {
    let (api, _, user) = stack().await;
    let tag = e2e::unique();
    let signup = api
        .identity
        .post_auth(
            "signup",
            &json!([
                format!("user_{tag}"),
                format!("{tag}@example.com"),
                format!("lantern {tag} orbit"),
                "Test",
                "User"
            ]),
            None,
        )
        .await;
    let login = api
        .identity
        .post_auth("login", &json!([user.username, user.password]), None)
        .await;
    let upload = api
        .call(
            Method::POST,
            "",
            &user.access,
            Some(&json!(["photo.png", "image/png", 70])),
        )
        .await;

    for (name, reply) in [("signup", signup), ("login", login), ("upload", upload)] {
        assert_eq!(
            failures(&reply),
            [(vec!["body".to_owned()], "value_error".to_owned())],
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_json_route_refuses_a_body_that_is_not_an_object() {
    let (api, admin, user) = stack().await;
    for (method, url, who) in json_routes(&api, &user) {
        for body in ["[]", "[1, 2]", "\"text\"", "5", "true", "null"] {
            let reply = send_raw(
                &api,
                method.clone(),
                &url,
                "application/json",
                body,
                who.token(&admin, &user),
            )
            .await;
            assert_eq!(reply.status, 422, "{method} {url} {body}: {}", reply.text());
            assert_eq!(
                reply.json()["detail"],
                json!([{
                    "loc": ["body"],
                    "msg": "the body must be a JSON object",
                    "type": "value_error"
                }]),
                "{method} {url} {body}"
            );
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
