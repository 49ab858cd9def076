//! The contract and the server agree: what an outside review found looser on one side than on
//! the other, each reproduced with real requests. A 422 names every failing field at once; a
//! JSON body that is not an object is refused on every JSON route; malformed JSON is a 400 even
//! when a field is wrong too; the OpenAPI document refuses what the server refuses (checked with
//! the JSON Schema validator schemathesis uses, on the served document); the CORS headers are the
//! ones the contract lists; a refresh is limited per session, not per client address; every docs
//! page runs only the scripts its origin serves.

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

// ---------------------------------------------------------------- the document is as strict

/// Where a case's value goes: the JSON body, or a query parameter.
#[derive(Debug, Clone, Copy)]
enum In {
    Body,
    Query(&'static str),
}

/// For each `(path, method, where, value)`, whether the document's schema for it (the request
/// body's, or the query parameter's) accepts the value: the JSON Schema 2020-12 validator of the
/// `jsonschema` package (schemathesis's), formats checked, patterns by Python's `re`.
fn document_accepts(cases: &[(&str, &str, In, Value)]) -> Vec<bool> {
    const CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
doc = json.load(open(sys.argv[1]))
out = []
for path, method, where, name, value in json.load(sys.stdin):
    op = doc["paths"][path][method]
    if where == "body":
        schema = op["requestBody"]["content"]["application/json"]["schema"]
    else:
        schema = next(p["schema"] for p in op["parameters"] if p["in"] == "query" and p["name"] == name)
    root = dict(schema, components=doc["components"])
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    out.append(validator.is_valid(value))
print(json.dumps(out))
"#;
    use std::io::Write as _;
    let file = std::env::temp_dir().join(format!("openapi-{}.json", e2e::unique()));
    std::fs::write(
        &file,
        serde_json::to_vec(&docs::document()).expect("document"),
    )
    .expect("write the document");
    let input: Vec<Value> = cases
        .iter()
        .map(|(path, method, place, value)| match place {
            In::Body => json!([path, method, "body", null, value]),
            In::Query(name) => json!([path, method, "query", name, value]),
        })
        .collect();
    let mut child = std::process::Command::new(e2e::venv_tool("python"))
        .arg("-c")
        .arg(CHECK)
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python from .venv (make test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(&input).expect("cases"))
        .expect("send the cases");
    let out = child.wait_with_output().expect("the validator");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "the validator failed");
    serde_json::from_slice(&out.stdout).expect("one verdict per case")
}

#[tokio::test]
async fn the_document_refuses_every_body_the_review_found_it_allowed_and_the_server_refused() {
    let (api, admin, user) = stack().await;
    let auth = |path: &str| format!("{}/api/v1/auth/{path}", api.identity.auth);
    let me = format!("{}/api/v1/users/me", api.identity.users);
    let admin_patch = format!("{}/api/v1/users/{}", api.identity.users, user.id);
    let uploads = format!("{}/api/v1/uploads", api.base);
    let upload = |filename: &str, content_type: &str, size: u64| json!({"filename": filename, "content_type": content_type, "size": size});
    // (the document's path and method, the URL, who calls, the body as sent)
    let cases: Vec<(&str, &str, String, Who, Value)> = vec![
        (
            "/api/v1/users/me",
            "patch",
            me.clone(),
            Who::User,
            json!({"username": ""}),
        ),
        (
            "/api/v1/users/me",
            "patch",
            me.clone(),
            Who::User,
            json!({"first_name": " "}),
        ),
        (
            "/api/v1/users/me",
            "patch",
            me,
            Who::User,
            json!({"last_name": "Doe\u{202E}"}),
        ),
        (
            "/api/v1/users/{id}",
            "patch",
            admin_patch.clone(),
            Who::Admin,
            json!({"roles": []}),
        ),
        (
            "/api/v1/users/{id}",
            "patch",
            admin_patch.clone(),
            Who::Admin,
            json!({"roles": ["root"]}),
        ),
        (
            "/api/v1/users/{id}",
            "patch",
            admin_patch,
            Who::Admin,
            json!({"tier": "Gold!"}),
        ),
        (
            "/api/v1/auth/login",
            "post",
            auth("login"),
            Who::Nobody,
            json!({"username": user.username, "password": user.password, "grant_type": "client_credentials"}),
        ),
        (
            "/api/v1/auth/login",
            "post",
            auth("login"),
            Who::Nobody,
            json!({"username": user.username, "password": user.password, "grant_type": null}),
        ),
        (
            "/api/v1/auth/verify-email/resend",
            "post",
            auth("verify-email/resend"),
            Who::User,
            json!({"email": "not an address"}),
        ),
        (
            "/api/v1/auth/refresh",
            "post",
            auth("refresh"),
            Who::Nobody,
            Value::Null,
        ),
        (
            "/api/v1/auth/refresh",
            "post",
            auth("refresh"),
            Who::Nobody,
            json!({}),
        ),
        (
            "/api/v1/auth/refresh",
            "post",
            auth("refresh"),
            Who::Nobody,
            json!({"refresh_token": null}),
        ),
        (
            "/api/v1/auth/verify-email/resend",
            "post",
            auth("verify-email/resend"),
            Who::Nobody,
            Value::Null,
        ),
        (
            "/api/v1/auth/verify-email/resend",
            "post",
            auth("verify-email/resend"),
            Who::Nobody,
            json!({"email": "not an address"}),
        ),
        (
            "/api/v1/auth/signup",
            "post",
            auth("signup"),
            Who::Nobody,
            json!({"username": "ab", "email": "x@example.com", "password": "lantern orbit 2026",
                   "first_name": "A", "last_name": "B"}),
        ),
        (
            "/api/v1/uploads",
            "post",
            uploads.clone(),
            Who::User,
            upload("", "", 1),
        ),
        (
            "/api/v1/uploads",
            "post",
            uploads.clone(),
            Who::User,
            upload("a.png", "text/html", 1),
        ),
        (
            "/api/v1/uploads",
            "post",
            uploads.clone(),
            Who::User,
            upload("a.png", "image/png", 10 * 1024 * 1024 + 1),
        ),
        (
            "/api/v1/uploads",
            "post",
            uploads.clone(),
            Who::User,
            upload("photos/", "image/png", 1),
        ),
        (
            "/api/v1/uploads",
            "post",
            uploads,
            Who::User,
            upload("a/..", "image/png", 1),
        ),
    ];

    let mut refused = Vec::new();
    for (path, method, url, who, body) in &cases {
        let reply = send_raw(
            &api,
            method.to_uppercase().parse().expect("a method"),
            url,
            "application/json",
            &body.to_string(),
            who.token(&admin, &user),
        )
        .await;
        assert!(
            [400, 413, 415, 422].contains(&reply.status),
            "the server refuses {method} {path} {body}: {} {}",
            reply.status,
            reply.text()
        );
        refused.push((*path, *method, In::Body, body.clone()));
    }
    let verdicts = document_accepts(&refused);
    for ((path, method, _, body), accepted) in refused.iter().zip(verdicts) {
        assert!(!accepted, "the document allows {method} {path} {body}");
    }
}

#[tokio::test]
async fn the_document_refuses_an_empty_cursor_as_both_listings_do() {
    let (api, admin, user) = stack().await;
    let users = api
        .identity
        .users_call(Method::GET, "?cursor=", Some(&admin.access), None)
        .await;
    let uploads = api.call(Method::GET, "?cursor=", &user.access, None).await;

    assert_eq!(users.status, 400, "{}", users.text());
    assert_eq!(uploads.status, 400, "{}", uploads.text());
    let verdicts = document_accepts(&[
        ("/api/v1/users", "get", In::Query("cursor"), json!("")),
        ("/api/v1/uploads", "get", In::Query("cursor"), json!("")),
    ]);
    assert_eq!(verdicts, [false, false]);
}

#[tokio::test]
async fn the_documents_patterns_and_the_servers_rules_agree_on_every_sample() {
    use identity::domain::{PersonName, Username};
    let (api, admin, user) = stack().await;
    let usernames = [
        "jane",
        "ab",
        "j.a-n_e",
        " jane ",
        "\u{3000}jane\t",
        "ja ne",
        "jane!",
        "jane\u{200B}",
        "",
        "   ",
    ];
    let long_ok = "a".repeat(50);
    let too_long = "a".repeat(51);
    let spaced = format!(" {long_ok}\n");
    let names = [
        "Jane",
        " Jane ",
        "\tJane\n",
        "Mary Ann",
        "Zoë",
        "李",
        "Jane\u{2028}Doe",
        "Jane\u{85}",
        "",
        " ",
        "Ja\u{7}ne",
        "Ja\u{85}ne",
        "Jane\u{202E}",
        "\u{2066}Jane",
        "Ja\u{AD}ne",
        &long_ok,
        &too_long,
        &spaced,
    ];
    let tiers = [
        "gold",
        "gold-1_2",
        "",
        "Gold",
        "go ld",
        &"t".repeat(32),
        &"t".repeat(33),
    ];
    let filenames = [
        "a.png",
        " a.png ",
        "\ta.png\n",
        "dir/a.png",
        "dir\\a.png",
        "...",
        ". .",
        "a/ b",
        "",
        " ",
        ".",
        "..",
        "a/",
        "a/..",
        "a/ . ",
        "a\u{7}.png",
        "\u{202E}gnp.exe",
        "a\u{2028}b",
        "a\tb.png",
    ];

    let passkey_names = [
        "Laptop",
        "  Work key  ",
        "Zoë",
        "",
        "   ",
        "a\u{1}b",
        "a\rb",
        "x\u{9f}",
        "\u{85}key",
        "key\u{202E}",
        &"k".repeat(64),
        &"k".repeat(65),
    ];
    let usernames: Vec<&str> = usernames
        .iter()
        .copied()
        .chain([long_ok.as_str(), too_long.as_str()])
        .collect();
    // The route that takes a field, the field, its samples, and the server's rule for it.
    type Field<'a> = (&'a str, &'a str, &'a [&'a str], fn(&str) -> bool);
    let fields: [Field; 3] = [
        ("/api/v1/users/me", "username", &usernames, |n| {
            Username::parse(n).is_ok()
        }),
        ("/api/v1/users/me", "first_name", &names, |n| {
            PersonName::parse(n, "first_name").is_ok()
        }),
        (
            "/api/v1/auth/passkeys/{id}",
            "name",
            &passkey_names,
            auth::is_valid_passkey_name,
        ),
    ];

    let mut cases = Vec::new();
    let mut server = Vec::new();
    for (path, field, samples, rule) in fields {
        for name in samples {
            cases.push((path, "patch", In::Body, json!({ field: name })));
            server.push(rule(name));
        }
    }
    for tier in tiers {
        let reply = api
            .identity
            .users_call(
                Method::PATCH,
                &format!("/{}", user.id),
                Some(&admin.access),
                Some(&json!({"tier": tier})),
            )
            .await;
        // 409 UNKNOWN_TIER: a name the rules allow, which no tier has (yet): a state the request
        // conflicts with, not a rule of the body.
        let unknown = reply.status == 409 && reply.json()["error_code"] == "UNKNOWN_TIER";
        assert!(
            reply.status == 200 || reply.status == 422 || unknown,
            "{tier:?}: {}",
            reply.text()
        );
        cases.push((
            "/api/v1/users/{id}",
            "patch",
            In::Body,
            json!({"tier": tier}),
        ));
        server.push(reply.status != 422);
    }
    for filename in filenames {
        let body = json!({"filename": filename, "content_type": "image/png", "size": 1});
        let reply = api.call(Method::POST, "", &user.access, Some(&body)).await;
        assert!(
            [201, 422].contains(&reply.status),
            "{filename:?}: {}",
            reply.text()
        );
        cases.push(("/api/v1/uploads", "post", In::Body, body));
        server.push(reply.status == 201);
    }

    let document = document_accepts(&cases);
    let disagree: Vec<String> = cases
        .iter()
        .zip(server.iter().zip(document))
        .filter(|(_, (server, document))| **server != *document)
        .map(|((path, method, _, body), (server, document))| {
            format!("{method} {path} {body}: server accepts {server}, document {document}")
        })
        .collect();
    assert!(disagree.is_empty(), "{disagree:#?}");
}

// ---------------------------------------------------------------- CORS as the contract says

/// The header names the contract's CORS paragraph lists after `label` (its next backticked
/// span), lower-cased.
fn contract_cors_list(label: &str) -> std::collections::BTreeSet<String> {
    let api = std::fs::read_to_string(e2e::repo_root().join("functions/docs/guide/api.md"))
        .expect("functions/docs/guide/api.md");
    let cors = api
        .split("**CORS**")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the contract's CORS paragraph")
        .replace('\n', " ");
    let after = cors
        .split(label)
        .nth(1)
        .expect("the label in the CORS paragraph");
    let listed = after.split('`').nth(1).expect("a backticked list");
    listed
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect()
}

/// A comma-separated header value as lower-cased names.
fn header_list(reply: &Reply, name: &str) -> std::collections::BTreeSet<String> {
    reply
        .header(name)
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

#[tokio::test]
async fn the_cors_headers_the_contract_lists_are_the_ones_a_browser_is_allowed_and_shown() {
    let origin = "http://localhost:3000";
    let id = Box::pin(e2e::Identity::start_with(&[(
        "CORS_ALLOWED_ORIGINS",
        origin,
    )]))
    .await;
    let account = id.signup().await;
    let preflight = id
        .http
        .send(
            Method::OPTIONS,
            &format!("{}/api/v1/users/me", id.users),
            &[
                ("origin", origin),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization,x-api-key"),
            ],
            "",
        )
        .await;
    let bearer = format!("Bearer {}", account.access);
    let me = id
        .http
        .get(
            &format!("{}/api/v1/users/me", id.users),
            &[("origin", origin), ("authorization", &bearer)],
        )
        .await;

    let allowed = header_list(&preflight, "access-control-allow-headers");
    assert!(allowed.contains("x-api-key"), "{allowed:?}");
    assert_eq!(contract_cors_list("allowed request headers"), allowed);
    assert_eq!(
        contract_cors_list("exposed headers"),
        header_list(&me, "access-control-expose-headers")
    );
}

// ---------------------------------------------------------------- refresh, per session

/// `POST /api/v1/auth/refresh` with `token` in the body, as API Gateway hands it over from
/// client `ip`.
async fn refresh_from(id: &e2e::Identity, ip: &str, token: &str) -> Reply {
    let request = e2e::gateway_request(
        "POST",
        "/api/v1/auth/refresh",
        &[("content-type", "application/json")],
        &json!({ "refresh_token": token }).to_string(),
        ip,
    );
    e2e::call(&id.auth_router, request).await
}

#[tokio::test]
async fn an_office_behind_one_address_refreshes_more_sessions_than_the_strict_quota_allows() {
    let signups = Box::pin(e2e::Identity::start()).await;
    let office = Box::pin(e2e::Identity::start_with(&[
        ("RATE_LIMIT_STRICT", "3"),
        ("RATE_LIMIT_WINDOW", "60"),
    ]))
    .await;
    let mut colleagues = Vec::new();
    for _ in 0..5 {
        colleagues.push(signups.signup().await);
    }
    let ip = format!("office-{}", e2e::unique());
    e2e::align_to_window(60, 20).await;

    for colleague in &colleagues {
        let reply = refresh_from(&office, &ip, &colleague.refresh).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.header("ratelimit-policy").starts_with("\"refresh\";"),
            "{}",
            reply.header("ratelimit-policy")
        );
    }
    // A token that does not verify is what a script sends: strict, per address, as before.
    let statuses: Vec<u16> =
        futures::future::join_all((0..4).map(|_| refresh_from(&office, &ip, "not-a-token")))
            .await
            .iter()
            .map(|reply| reply.status)
            .collect();
    let mut sorted = statuses.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [401, 401, 401, 429], "{statuses:?}");
}

#[tokio::test]
async fn one_session_refreshing_past_its_quota_is_refused_under_the_refresh_policy() {
    let id = Box::pin(e2e::Identity::start_with(&[
        ("RATE_LIMIT_REFRESH", "2"),
        ("RATE_LIMIT_WINDOW", "60"),
    ]))
    .await;
    let account = id.signup().await;
    let ip = format!("laptop-{}", e2e::unique());
    e2e::align_to_window(60, 20).await;

    let first = refresh_from(&id, &ip, &account.refresh).await;
    let second = refresh_from(
        &id,
        &ip,
        first.json()["refresh_token"].as_str().unwrap_or(""),
    )
    .await;
    let third = refresh_from(
        &id,
        &ip,
        second.json()["refresh_token"].as_str().unwrap_or(""),
    )
    .await;

    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{}",
        second.text()
    );
    assert_eq!(third.status, 429, "{}", third.text());
    assert_eq!(third.json()["error_code"], "RATE_LIMITED");
    assert_eq!(third.header("ratelimit-policy"), "\"refresh\";q=2;w=60");
    assert!(!third.header("retry-after").is_empty());
}

// ---------------------------------------------------------------- the docs pages' policy

#[tokio::test]
async fn every_docs_page_carries_a_policy_that_runs_only_scripts_this_origin_serves() {
    let state = docs::init(e2e::emulator_state().await, e2e::emulator_env(&[]))
        .await
        .expect("docs state");
    let base = e2e::spawn_http(docs::router(state)).await;
    let client = e2e::Client::new();
    for path in [
        "/docs",
        "/redoc",
        "/docs/index.html",
        "/docs/oauth2-redirect.html",
    ] {
        let page = client.get(&format!("{base}{path}"), &[]).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{path}"
        );
        let csp = page.header("content-security-policy");
        let directive = |name: &str| -> Vec<String> {
            csp.split(';')
                .map(str::trim)
                .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
                .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        assert_eq!(directive("default-src"), ["'self'"], "{path}: {csp}");
        assert_eq!(directive("script-src"), ["'self'"], "{path}: {csp}");
        assert_eq!(directive("connect-src"), ["'self'"], "{path}: {csp}");
        assert_eq!(directive("object-src"), ["'none'"], "{path}: {csp}");
        assert_eq!(directive("base-uri"), ["'self'"], "{path}: {csp}");
        assert_eq!(directive("frame-ancestors"), ["'none'"], "{path}: {csp}");
        assert_eq!(directive("form-action"), ["'none'"], "{path}: {csp}");
    }
}

#[tokio::test]
async fn a_size_written_with_a_zero_fraction_is_the_whole_number_the_document_allows() {
    let (api, _, user) = stack().await;
    let create = |size: Value| {
        let body = json!({"filename": "a.png", "content_type": "image/png", "size": size});
        let api = &api;
        let token = user.access.clone();
        async move { api.call(Method::POST, "", &token, Some(&body)).await }
    };
    let whole = create(json!(2.0)).await;
    let fraction = create(json!(2.5)).await;

    assert_eq!(whole.status, 201, "{}", whole.text());
    assert_eq!(failures(&fraction), [at("size", "value_error")]);
    let verdicts = document_accepts(&[
        (
            "/api/v1/uploads",
            "post",
            In::Body,
            json!({"filename": "a.png", "content_type": "image/png", "size": 2.0}),
        ),
        (
            "/api/v1/uploads",
            "post",
            In::Body,
            json!({"filename": "a.png", "content_type": "image/png", "size": 2.5}),
        ),
    ]);
    assert_eq!(verdicts, [true, false]);
}
