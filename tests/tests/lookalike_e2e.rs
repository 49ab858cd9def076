//! Look-alike identities (outside review): a fullwidth local part is the same account as its ASCII
//! spelling, a Cyrillic letter in the domain is stored as visible punycode, and RLO / ZWSP in an
//! email, a username or a name is a 422 — through HTTP against the emulator.

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

#[tokio::test]
async fn a_fullwidth_local_part_after_its_ascii_spelling_is_409_user_exists() {
    let id = Identity::start().await;
    let tag = unique();
    let ascii = format!("jane{tag}@example.com");
    let first = signup(&id, &format!("a_{tag}"), &ascii, "Jane").await;

    let lookalike = signup(
        &id,
        &format!("b_{tag}"),
        &format!("{}@example.com", fullwidth(&format!("jane{tag}"))),
        "Jane",
    )
    .await;

    assert_eq!(first.status, 201, "{}", body(&first));
    assert_eq!(lookalike.status, 409, "{}", body(&lookalike));
    assert_eq!(lookalike.json()["error_code"], "USER_EXISTS");
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
async fn a_fullwidth_username_after_its_ascii_spelling_is_409() {
    let id = Identity::start().await;
    let tag = unique();
    let username = format!("jane_{tag}");
    let first = signup(&id, &username, &format!("{tag}@example.com"), "Jane").await;

    let lookalike = signup(
        &id,
        &fullwidth(&username),
        &format!("{tag}@example.org"),
        "Jane",
    )
    .await;

    assert_eq!(first.status, 201, "{}", body(&first));
    assert_eq!(lookalike.status, 409, "{}", body(&lookalike));
    assert_eq!(lookalike.json()["error_code"], "USER_EXISTS");
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
async fn an_email_with_rlo_or_zwsp_is_422() {
    let id = Identity::start().await;
    for invisible in [RLO, ZWSP] {
        let tag = unique();

        let reply = signup(
            &id,
            &format!("e_{tag}"),
            &format!("jane{tag}{invisible}@example.com"),
            "Jane",
        )
        .await;

        assert_eq!(reply.status, 422, "{invisible:?}: {}", body(&reply));
        assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR");
        assert_eq!(
            failures(&reply),
            [("email".to_owned(), "value_error.email".to_owned())]
        );
    }
}

#[tokio::test]
async fn a_first_name_with_rlo_or_zwsp_is_422() {
    let id = Identity::start().await;
    for first_name in [format!("{RLO}enaJ"), format!("Ja{ZWSP}ne")] {
        let tag = unique();

        let reply = signup(
            &id,
            &format!("n_{tag}"),
            &format!("{tag}@example.com"),
            &first_name,
        )
        .await;

        assert_eq!(reply.status, 422, "{first_name:?}: {}", body(&reply));
        assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR");
        assert_eq!(
            failures(&reply),
            [("first_name".to_owned(), "value_error".to_owned())]
        );
    }
}

#[tokio::test]
async fn a_username_with_rlo_or_zwsp_is_422() {
    let id = Identity::start().await;
    for invisible in [RLO, ZWSP] {
        let tag = unique();

        let reply = signup(
            &id,
            &format!("u_{tag}{invisible}"),
            &format!("{tag}@example.com"),
            "Jane",
        )
        .await;

        assert_eq!(reply.status, 422, "{invisible:?}: {}", body(&reply));
        assert_eq!(reply.json()["error_code"], "VALIDATION_ERROR");
        assert_eq!(
            failures(&reply),
            [("username".to_owned(), "value_error.pattern".to_owned())]
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
