//! The contract and the server agree: what an outside review found looser on one side than on
//! the other, each reproduced with real requests. A 422 names every failing field at once; a
//! JSON body that is not an object is refused on every JSON route; malformed JSON is a 400 even
//! when a field is wrong too.

#![allow(clippy::expect_used)] // Helpers outside #[test] fns: a failed set-up should stop the test loudly.

use e2e::{Account, Reply, upload_api::UploadsApi};
use http::Method;
use serde_json::{Value, json};

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

/// `(["body", field], type)`, as [`failures`] lists them.
fn at(field: &str, kind: &str) -> (Vec<String>, String) {
    (vec!["body".to_owned(), field.to_owned()], kind.to_owned())
}

/// The auth, users and uploads functions, an admin, and a user.
async fn stack() -> (UploadsApi, Account, Account) {
    // Boxed: starting three functions is a large future.
    let api = Box::pin(UploadsApi::start()).await;
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

// ---------------------------------------------------------------- every failing field at once

#[tokio::test]
async fn a_signup_with_several_wrong_fields_names_every_one_of_them_at_once() {
    let (api, _, _) = stack().await;
    let reply = api
        .identity
        .post_auth(
            "signup",
            &json!({"username": 5, "email": "not an email", "first_name": "", "nickname": "x"}),
            None,
        )
        .await;

    // The shape first, in the order the body lists its fields, unknown fields after them; then
    // the rules of the fields whose shape was right.
    assert_eq!(
        failures(&reply),
        [
            at("username", "value_error"),
            at("password", "missing"),
            at("last_name", "missing"),
            at("nickname", "extra_forbidden"),
            at("email", "value_error.email"),
            at("first_name", "value_error.length"),
        ]
    );
}

#[tokio::test]
async fn an_empty_signup_names_every_missing_field() {
    let (api, _, _) = stack().await;
    let reply = api.identity.post_auth("signup", &json!({}), None).await;

    assert_eq!(
        failures(&reply),
        [
            at("username", "missing"),
            at("email", "missing"),
            at("password", "missing"),
            at("first_name", "missing"),
            at("last_name", "missing"),
        ]
    );
}

#[tokio::test]
async fn a_signup_form_names_every_failing_field_too() {
    let (api, _, _) = stack().await;
    let reply = send_raw(
        &api,
        Method::POST,
        &format!("{}/api/v1/auth/signup", api.identity.auth),
        "application/x-www-form-urlencoded",
        "username=ab&email=nowhere",
        None,
    )
    .await;

    assert_eq!(
        failures(&reply),
        [
            at("password", "missing"),
            at("first_name", "missing"),
            at("last_name", "missing"),
            at("username", "value_error.length"),
            at("email", "value_error.email"),
        ]
    );
}

#[tokio::test]
async fn an_upload_with_a_wrong_type_a_missing_field_and_a_broken_rule_names_all_three() {
    let (api, _, user) = stack().await;
    let reply = api
        .call(
            Method::POST,
            "",
            &user.access,
            Some(&json!({"filename": 7, "size": 0})),
        )
        .await;

    assert_eq!(
        failures(&reply),
        [
            at("filename", "value_error"),
            at("content_type", "missing"),
            at("size", "value_error.range"),
        ]
    );
}

#[tokio::test]
async fn a_profile_change_names_every_failing_field() {
    let (api, _, user) = stack().await;
    let reply = api
        .identity
        .users_call(
            Method::PATCH,
            "/me",
            Some(&user.access),
            Some(&json!({"username": 12, "first_name": " ", "last_name": "Doe\u{202E}"})),
        )
        .await;

    assert_eq!(
        failures(&reply),
        [
            at("username", "value_error"),
            at("first_name", "value_error.length"),
            at("last_name", "value_error"),
        ]
    );
}

#[tokio::test]
async fn an_admin_change_names_every_failing_field() {
    let (api, admin, user) = stack().await;
    let reply = api
        .identity
        .users_call(
            Method::PATCH,
            &format!("/{}", user.id),
            Some(&admin.access),
            Some(&json!({"roles": [], "tier": "Gold!", "disabled": "yes"})),
        )
        .await;

    assert_eq!(
        failures(&reply),
        [
            at("disabled", "value_error"),
            at("roles", "value_error"),
            at("tier", "value_error"),
        ]
    );
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

#[tokio::test]
async fn a_repeated_field_is_refused_once_and_the_rest_still_checked() {
    let (api, _, _) = stack().await;
    let reply = send_raw(
        &api,
        Method::POST,
        &format!("{}/api/v1/auth/signup", api.identity.auth),
        "application/json",
        r#"{"username": "jane_doe", "username": "jane", "email": "x"}"#,
        None,
    )
    .await;
    let detail: Value = reply.json()["detail"].clone();

    assert_eq!(
        failures(&reply),
        [
            at("username", "value_error"),
            at("password", "missing"),
            at("first_name", "missing"),
            at("last_name", "missing"),
            at("email", "value_error.email"),
        ]
    );
    assert_eq!(detail[0]["msg"], "duplicate field `username`");
}
