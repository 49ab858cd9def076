//! Conditional requests end to end (issue 24): `ETag` and `If-None-Match` (304) on users,
//! uploads and the docs; `If-Match` (412 `PRECONDITION_FAILED`, nothing changed) on the writes
//! of users and uploads, checked inside the DynamoDB condition, so parallel writers with one
//! tag cannot both win.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use e2e::{
    Client, Identity, Reply, emulator_env, emulator_state, spawn_http,
    upload_api::{Stage, UploadsApi},
};
use http::Method;
use serde_json::{Value, json};

/// `method /api/v1/users<path>` as `token`, with `extra` headers and an optional JSON body.
async fn users(
    id: &Identity,
    method: Method,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    let url = format!("{}/api/v1/users{path}", id.users);
    match body {
        Some(body) => id.http.json(method, &url, &headers, body).await,
        None => id.http.send(method, &url, &headers, "").await,
    }
}

fn etag(reply: &Reply) -> String {
    let tag = reply.header("etag").to_owned();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "a strong ETag: {tag:?} ({})",
        reply.status
    );
    tag
}

fn code(reply: &Reply) -> Value {
    reply.json()["error_code"].clone()
}

#[tokio::test]
async fn get_me_twice_with_if_none_match_is_200_then_a_bodiless_304_with_the_layer_headers() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let first = users(&id, Method::GET, "/me", &account.access, &[], None).await;
    assert_eq!(first.status, 200);
    let tag = etag(&first);
    assert_eq!(first.header("cache-control"), "no-store", "personal data");

    let again = users(
        &id,
        Method::GET,
        "/me",
        &account.access,
        &[("if-none-match", &tag)],
        None,
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty(), "no body: {:?}", again.body);
    assert_eq!(again.header("etag"), tag);
    assert_eq!(again.header("cache-control"), "no-store");
    assert!(!again.header("x-request-id").is_empty());
    assert!(!again.header("x-ratelimit-remaining").is_empty());
    assert!(!again.header("ratelimit-policy").is_empty());

    // Weak comparison, lists and `*` match; another tag does not; a malformed field is ignored.
    for (field, status) in [
        (format!("W/{tag}"), 304),
        (format!("\"nope\", {tag}"), 304),
        ("*".to_owned(), 304),
        ("\"nope\"".to_owned(), 200),
        ("not a tag".to_owned(), 200),
    ] {
        let reply = users(
            &id,
            Method::GET,
            "/me",
            &account.access,
            &[("if-none-match", &field)],
            None,
        )
        .await;
        assert_eq!(reply.status, status, "If-None-Match: {field}");
    }
}

#[tokio::test]
async fn every_write_changes_the_tag_with_or_without_if_match() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let before = etag(&id.me(&account.access).await);
    let patched = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[],
        Some(&json!({"first_name": "Ada"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let after = etag(&id.me(&account.access).await);
    assert_ne!(before, after);
    let stale = users(
        &id,
        Method::GET,
        "/me",
        &account.access,
        &[("if-none-match", &before)],
        None,
    )
    .await;
    assert_eq!(stale.status, 200, "an old tag gets the new body");
    assert_eq!(stale.json()["first_name"], "Ada");

    // With If-Match, the answer names the version the write made: the one GET then shows.
    let conditional = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[("if-match", &after)],
        Some(&json!({"last_name": "Lovelace"})),
    )
    .await;
    assert_eq!(conditional.status, 200, "{:?}", conditional.json());
    assert_eq!(etag(&conditional), etag(&id.me(&account.access).await));
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let read = etag(&id.me(&account.access).await);
    let first = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[("if-match", &read)],
        Some(&json!({"first_name": "First"})),
    )
    .await;
    assert_eq!(first.status, 200);
    let current = id.me(&account.access).await;

    let stale = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[("if-match", &read)],
        Some(&json!({"first_name": "Second", "username": format!("x_{}", e2e::unique())})),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(code(&stale), "PRECONDITION_FAILED");
    let now = id.me(&account.access).await;
    assert_eq!(now.json(), current.json(), "nothing changed");
    assert_eq!(etag(&now), etag(&current));
    assert_eq!(
        id.login(&account.username, &account.password).await.status,
        200,
        "the username was not moved"
    );

    // A weak tag never matches If-Match; a malformed one is a 400.
    let weak = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[("if-match", &format!("W/{}", etag(&now)))],
        Some(&json!({"first_name": "Weak"})),
    )
    .await;
    assert_eq!(weak.status, 412);
    let malformed = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[("if-match", "7")],
        Some(&json!({"first_name": "Bad"})),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(code(&malformed), "BAD_REQUEST");
    assert_eq!(id.me(&account.access).await.json()["first_name"], "First");
}

/// The environment's tiers, which a user can always be moved to.
const ENV_TIERS: [&str; 3] = ["free", "pro", "enterprise"];

/// 20 `PATCH`es of `path` at once, each with `tag` and its own first name: the statuses, and
/// the names each one sent.
async fn race(
    id: &Identity,
    path: &str,
    token: &str,
    tag: &str,
    body: fn(usize) -> Value,
) -> Vec<u16> {
    let calls = (0..20).map(|i| {
        let body = body(i);
        async move {
            users(
                id,
                Method::PATCH,
                path,
                token,
                &[("if-match", tag)],
                Some(&body),
            )
            .await
            .status
        }
    });
    futures::future::join_all(calls).await
}

#[tokio::test]
async fn twenty_parallel_patches_with_the_same_if_match_make_exactly_one_200() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let tag = etag(&id.me(&account.access).await);
    let statuses = race(
        &id,
        "/me",
        &account.access,
        &tag,
        |i| json!({"first_name": format!("Writer{i}")}),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );
    let winner = statuses.iter().position(|s| *s == 200).expect("a winner");
    let now = id.me(&account.access).await;
    assert_eq!(now.json()["first_name"], format!("Writer{winner}"));
}

#[tokio::test]
async fn two_admins_editing_one_user_cannot_overwrite_each_other() {
    let id = Identity::start().await;
    let admin = id.admin().await;
    let user = id.signup().await;
    let path = format!("/{}", user.id);
    let read = users(&id, Method::GET, &path, &admin.access, &[], None).await;
    assert_eq!(read.status, 200);
    let tag = etag(&read);
    let cached = users(
        &id,
        Method::GET,
        &path,
        &admin.access,
        &[("if-none-match", &tag)],
        None,
    )
    .await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // Both admins read `tag`; the first one's change wins, the second one's is refused.
    let first = users(
        &id,
        Method::PATCH,
        &path,
        &admin.access,
        &[("if-match", &tag)],
        Some(&json!({"tier": "pro"})),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.json());
    let new_tag = etag(&first);
    assert_ne!(new_tag, tag);
    let second = users(
        &id,
        Method::PATCH,
        &path,
        &admin.access,
        &[("if-match", &tag)],
        Some(&json!({"tier": "enterprise"})),
    )
    .await;
    assert_eq!(second.status, 412);
    assert_eq!(code(&second), "PRECONDITION_FAILED");
    let now = users(&id, Method::GET, &path, &admin.access, &[], None).await;
    assert_eq!(now.json()["tier"], "pro");
    assert_eq!(etag(&now), new_tag, "the PATCH answered the tag GET shows");

    // 20 at once with the current tag: one wins.
    let statuses = race(
        &id,
        &path,
        &admin.access,
        &new_tag,
        // Tiers that exist (the environment's): a PATCH to an unknown tier is 409.
        |i| json!({"tier": ENV_TIERS[i % 3]}),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );

    // DELETE: a stale tag keeps the user; the current one deletes it.
    let stale = users(
        &id,
        Method::DELETE,
        &path,
        &admin.access,
        &[("if-match", &new_tag)],
        None,
    )
    .await;
    assert_eq!(stale.status, 412);
    let live = users(&id, Method::GET, &path, &admin.access, &[], None).await;
    assert_eq!(live.status, 200, "still there");
    let deleted = users(
        &id,
        Method::DELETE,
        &path,
        &admin.access,
        &[("if-match", &etag(&live))],
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = users(&id, Method::GET, &path, &admin.access, &[], None).await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn delete_me_with_a_stale_if_match_is_412_and_the_account_lives() {
    let id = Identity::start().await;
    let account = id.signup().await;
    let read = etag(&id.me(&account.access).await);
    let patched = users(
        &id,
        Method::PATCH,
        "/me",
        &account.access,
        &[],
        Some(&json!({"first_name": "Changed"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let stale = users(
        &id,
        Method::DELETE,
        "/me",
        &account.access,
        &[("if-match", &read)],
        None,
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(id.me(&account.access).await.status, 200, "not deleted");
    let current = etag(&id.me(&account.access).await);
    let deleted = users(
        &id,
        Method::DELETE,
        "/me",
        &account.access,
        &[("if-match", &current)],
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(id.me(&account.access).await.status, 401);
}

async fn uploads_call(
    api: &UploadsApi,
    method: Method,
    id: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    let url = format!("{}/api/v1/uploads/{id}", api.base);
    api.http.send(method, &url, &headers, "").await
}

#[tokio::test]
async fn an_upload_answers_its_tag_and_a_delete_with_a_stale_one_changes_nothing() {
    let api = UploadsApi::start().await;
    let account = api.identity.signup().await;
    let id = api.arrange(&account, Stage::Created).await;
    let pending = uploads_call(&api, Method::GET, &id, &account.access, &[]).await;
    assert_eq!(pending.status, 200);
    let pending_tag = etag(&pending);
    let cached = uploads_call(
        &api,
        Method::GET,
        &id,
        &account.access,
        &[("if-none-match", &pending_tag)],
    )
    .await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // Completed since the client read it: its delete with the old tag is refused, and the
    // file is still there to download.
    let posted = api
        .arrange(&account, Stage::Posted(e2e::upload_api::PNG))
        .await;
    let before = etag(&uploads_call(&api, Method::GET, &posted, &account.access, &[]).await);
    let done = api.complete(&account.access, &posted).await;
    assert_eq!(done.status, 200);
    let stale = uploads_call(
        &api,
        Method::DELETE,
        &posted,
        &account.access,
        &[("if-match", &before)],
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(code(&stale), "PRECONDITION_FAILED");
    let ready = uploads_call(&api, Method::GET, &posted, &account.access, &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    let url = ready.json()["download"]["url"]
        .as_str()
        .expect("a download link")
        .to_owned();
    let file = Client::new().get(&url, &[]).await;
    assert_eq!(file.status, 200, "the file was not touched");

    // With the current tag: deleted, and gone.
    let deleted = uploads_call(
        &api,
        Method::DELETE,
        &posted,
        &account.access,
        &[("if-match", &etag(&ready))],
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = uploads_call(&api, Method::GET, &posted, &account.access, &[]).await;
    assert_eq!(gone.status, 404);

    // A pending one with its current tag too (its form still lives: kept as deleted).
    let deleted = uploads_call(
        &api,
        Method::DELETE,
        &id,
        &account.access,
        &[("if-match", &pending_tag)],
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        uploads_call(&api, Method::GET, &id, &account.access, &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_public_documents_revalidate_with_their_tag_and_may_be_kept_by_caches() {
    let state = docs::init(emulator_state().await, emulator_env(&[]))
        .await
        .expect("docs state");
    let base = spawn_http(docs::router(state)).await;
    let http = Client::new();
    for path in [
        "/openapi.json",
        "/api/v1/openapi.json",
        "/docs",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
        "/redoc",
        "/redoc/redoc.standalone.js",
    ] {
        let url = format!("{base}{path}");
        let full = http.get(&url, &[]).await;
        assert_eq!(full.status, 200, "{path}");
        let tag = etag(&full);
        assert_eq!(
            full.header("cache-control"),
            "public, max-age=300",
            "{path}"
        );
        let again = http.get(&url, &[("if-none-match", &tag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        assert_eq!(again.header("etag"), tag, "{path}");
        assert_eq!(
            again.header("cache-control"),
            "public, max-age=300",
            "{path}"
        );
        let other = http.get(&url, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(other.status, 200, "{path}");
        assert_eq!(other.body, full.body, "{path}");
    }
    let doc = http.get(&format!("{base}/openapi.json"), &[]).await;
    let api = http.get(&format!("{base}/api/v1/openapi.json"), &[]).await;
    assert_eq!(etag(&doc), etag(&api), "one document, one tag");
    let css = http.get(&format!("{base}/docs/swagger-ui.css"), &[]).await;
    assert_ne!(etag(&doc), etag(&css), "each file its own tag");
}

#[tokio::test]
async fn the_document_declares_the_conditional_headers_and_answers() {
    let doc: Value = serde_json::to_value(docs::document()).expect("document");
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let header_params = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "header")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (path, method) in [
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/uploads/{id}", "get"),
        ("/openapi.json", "get"),
        ("/docs/{file}", "get"),
    ] {
        let op = op(path, method);
        // If-None-Match is described by the 304 (it is not a parameter: see
        // shared/core/src/conditional.rs).
        assert!(
            op["responses"]["304"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("If-None-Match")),
            "{method} {path}"
        );
        assert!(
            op["responses"]["200"]["headers"]["ETag"].is_object(),
            "{method} {path}"
        );
    }
    for (path, method) in [
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/uploads/{id}", "delete"),
    ] {
        let op = op(path, method);
        assert!(
            header_params(&op).contains(&"If-Match".to_owned()),
            "{method} {path}"
        );
        assert!(op["responses"]["412"].is_object(), "{method} {path}");
    }
}

#[tokio::test]
async fn a_conditional_delete_of_an_upload_whose_form_expired_removes_it_and_its_share_at_once() {
    let api =
        UploadsApi::start_with(&[("UPLOAD_QUOTA_FILES", "1"), ("UPLOAD_FORM_TTL_SECS", "10")])
            .await;
    let account = api.identity.signup().await;
    let id = api.arrange(&account, Stage::Ready).await;
    let tag = etag(&uploads_call(&api, Method::GET, &id, &account.access, &[]).await);
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let deleted = uploads_call(
        &api,
        Method::DELETE,
        &id,
        &account.access,
        &[("if-match", &tag)],
    )
    .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.json());
    let bucket = api
        .identity
        .app
        .config
        .resources
        .bucket
        .clone()
        .expect("bucket");
    let listed = api
        .identity
        .app
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("files/{}/{id}/", account.id))
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty(), "the copies are gone");
    // The record and its share went with it: the one file the quota allows fits again.
    let fits = api
        .create(&account.access, "next.png", "image/png", 70)
        .await;
    assert_eq!(fits.status, 201, "{:?}", fits.json());
}
