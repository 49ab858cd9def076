//! Look-alike identities (outside review), where the store decides: a fullwidth spelling of a
//! taken email local part or username is the same account (409), a fullwidth local part logs in
//! to the ASCII account, a Cyrillic letter in the domain is a separate account stored as visible
//! punycode, and RLO / ZWSP in a field is a 422 naming that field — through HTTP against the
//! emulator.
//!
//! What the parsers decide alone (each invisible or direction-changing character, each field's
//! kind of error, normalization) is covered by the unit tests in `shared/identity/src/domain.rs`;
//! here each field is sent once, for what only a request shows: the 422 envelope and the field the
//! handler names.

use e2e::{Identity, Reply, unique};
use http::Method;
use serde_json::{Value, json};

/// RIGHT-TO-LEFT OVERRIDE.
const RLO: char = '\u{202E}';
/// ZERO WIDTH SPACE.
const ZWSP: char = '\u{200B}';
/// CYRILLIC SMALL LETTER A, drawn like the Latin `a`.
const CYRILLIC_A: char = '\u{0430}';

/// The fullwidth form (U+FF01–U+FF5E) of printable ASCII, as an IME types it.
fn fullwidth(ascii: &str) -> String {
    ascii
        .chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

async fn signup(id: &Identity, username: &str, email: &str, first_name: &str) -> Reply {
    id.post_auth(
        "signup",
        &json!({"username": username, "email": email, "password": "violet tractor sunrise",
                "first_name": first_name, "last_name": "Doe"}),
        None,
    )
    .await
}

/// The `(field, type)` of each entry of a 422's `detail`.
fn failures(reply: &Reply) -> Vec<(String, String)> {
    reply.json()["detail"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    (
                        e["loc"][1].as_str().unwrap_or_default().to_owned(),
                        e["type"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn body(reply: &Reply) -> Value {
    reply.json()
}

/// The username and email of a first signup and of its look-alike, made from a unique tag.
type TwoSignups = fn(&str) -> [String; 4];

/// A signup's username, email and first name, made from a unique tag.
type SignupFields = fn(&str) -> [String; 3];

#[tokio::test]
async fn a_fullwidth_spelling_of_a_taken_email_local_part_or_username_is_409_user_exists() {
    let id = Identity::start().await;
    // (what is spelled fullwidth, username and email of the first signup, of the look-alike)
    let cases: [(&str, TwoSignups); 2] = [
        ("email local part", |tag| {
            [
                format!("a_{tag}"),
                format!("jane{tag}@example.com"),
                format!("b_{tag}"),
                format!("{}@example.com", fullwidth(&format!("jane{tag}"))),
            ]
        }),
        ("username", |tag| {
            [
                format!("jane_{tag}"),
                format!("{tag}@example.com"),
                fullwidth(&format!("jane_{tag}")),
                format!("{tag}@example.org"),
            ]
        }),
    ];
    for (what, accounts) in cases {
        let [username, email, lookalike_username, lookalike_email] = accounts(&unique());
        let first = signup(&id, &username, &email, "Jane").await;

        let lookalike = signup(&id, &lookalike_username, &lookalike_email, "Jane").await;

        assert_eq!(first.status, 201, "{what}: {}", body(&first));
        assert_eq!(lookalike.status, 409, "{what}: {}", body(&lookalike));
        assert_eq!(lookalike.json()["error_code"], "USER_EXISTS", "{what}");
    }
}

#[tokio::test]
async fn a_fullwidth_local_part_logs_in_to_the_ascii_account() {
    let id = Identity::start().await;
    let tag = unique();
    let created = signup(
        &id,
        &format!("l_{tag}"),
        &format!("{tag}@example.com"),
        "Jo",
    )
    .await;

    let login = id
        .login(
            &format!("{}@example.com", fullwidth(&tag)),
            "violet tractor sunrise",
        )
        .await;

    assert_eq!(created.status, 201, "{}", body(&created));
    assert_eq!(login.status, 200, "{}", body(&login));
}

#[tokio::test]
async fn a_cyrillic_domain_is_a_separate_account_stored_as_punycode() {
    let id = Identity::start().await;
    let tag = unique();
    let ascii = signup(
        &id,
        &format!("a_{tag}"),
        &format!("{tag}@example.com"),
        "Jane",
    )
    .await;

    let cyrillic = signup(
        &id,
        &format!("c_{tag}"),
        &format!("{tag}@ex{CYRILLIC_A}mple.com"),
        "Jane",
    )
    .await;

    assert_eq!(ascii.status, 201, "{}", body(&ascii));
    assert_eq!(cyrillic.status, 201, "{}", body(&cyrillic));
    let access = cyrillic.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = id.me(&access).await;
    assert_eq!(me.status, 200, "{}", body(&me));
    assert_eq!(me.json()["email"], format!("{tag}@xn--exmple-4nf.com"));
}

#[tokio::test]
async fn an_rlo_or_zwsp_in_a_signup_field_is_a_422_naming_that_field() {
    let id = Identity::start().await;
    // (the field, the signup's username, email and first name given a unique tag, the error type)
    let cases: [(&str, SignupFields, &str); 3] = [
        (
            "email",
            |tag| {
                [
                    format!("e_{tag}"),
                    format!("jane{tag}{RLO}@example.com"),
                    "Jane".to_owned(),
                ]
            },
            "value_error.email",
        ),
        (
            "username",
            |tag| {
                [
                    format!("u_{tag}{ZWSP}"),
                    format!("{tag}@example.com"),
                    "Jane".to_owned(),
                ]
            },
            "value_error.pattern",
        ),
        (
            "first_name",
            |tag| {
                [
                    format!("n_{tag}"),
                    format!("{tag}@example.com"),
                    format!("{RLO}enaJ"),
                ]
            },
            "value_error",
        ),
    ];
    for (field, signup_fields, kind) in cases {
        let [username, email, first_name] = signup_fields(&unique());

        let reply = signup(&id, &username, &email, &first_name).await;

        assert_eq!(reply.status, 422, "{field}: {}", body(&reply));
        assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR", "{field}");
        assert_eq!(
            failures(&reply),
            [(field.to_owned(), kind.to_owned())],
            "{field}"
        );
    }
}

#[tokio::test]
async fn renaming_oneself_with_an_rlo_is_422_and_changes_nothing() {
    let id = Identity::start().await;
    let account = id.signup().await;

    let reply = id
        .users_call(
            Method::PATCH,
            "/me",
            Some(&account.access),
            Some(&json!({ "last_name": format!("{RLO}eoD") })),
        )
        .await;

    assert_eq!(reply.status, 422, "{}", body(&reply));
    assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR");
    assert_eq!(id.me(&account.access).await.json()["last_name"], "User");
}
