//! Uploads over time, end to end against the emulator: a verified file cannot change under its
//! record, and a form's object never outlives its record (nor escapes the quota) past the sweep.
//!
//! The emulator does not enforce a form's policy (its expiry included): these tests post forms
//! after they expired, and after their upload was deleted, as an attacker who kept the form
//! would, and check what the server controls: which keys forms write, what `complete` copies,
//! and what the sweep deletes. That S3 refuses a form past its expiry only AWS shows.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use std::time::Duration;

use e2e::upload_api::{HTML, PNG, Stage, UploadsApi};
use http::Method;

/// Whether `key` is in the bucket.
async fn exists(api: &UploadsApi, key: &str) -> bool {
    let bucket = bucket(api);
    api.identity
        .app
        .s3
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// The uploads bucket's name.
fn bucket(api: &UploadsApi) -> String {
    api.identity
        .app
        .config
        .resources
        .bucket
        .clone()
        .expect("bucket")
}

/// The keys under `files/<user>/<id>/`: the copies `complete` made of upload `id`.
async fn copies(api: &UploadsApi, user: &str, id: &str) -> Vec<String> {
    let listed = api
        .identity
        .app
        .s3
        .list_objects_v2()
        .bucket(bucket(api))
        .prefix(format!("files/{user}/{id}/"))
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// `id`'s download, through `GET /{id}`'s presigned URL.
async fn download(api: &UploadsApi, token: &str, id: &str) -> e2e::Reply {
    let record = api.call(Method::GET, &format!("/{id}"), token, None).await;
    assert_eq!(record.status, 200, "{:?}", record.json());
    let url = record.json()["download"]["url"]
        .as_str()
        .expect("a download URL once ready")
        .to_owned();
    api.http.get(&url, &[]).await
}

#[tokio::test]
async fn posting_the_form_again_after_complete_does_not_change_what_is_downloaded() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let created = api
        .create(&user.access, "photo.png", "image/png", 4096)
        .await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["upload"]["fields"]["key"],
        format!("pending/{}/{id}", user.id),
        "forms write only under pending/"
    );
    assert!(api.post_form(&created, PNG).await.status < 300);
    let done = api.complete(&user.access, &id).await;
    assert_eq!(done.status, 200, "{:?}", done.json());
    assert_eq!(
        copies(&api, &user.id, &id).await.len(),
        1,
        "one verified copy under files/"
    );
    assert!(
        !exists(&api, &format!("pending/{}/{id}", user.id)).await,
        "complete empties the pending key once it has a copy"
    );

    // The review's reproducer: the same form, still valid, posted again with an HTML page.
    assert!(api.post_form(&created, HTML).await.status < 300);
    let served = download(&api, &user.access, &id).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body.as_ref(),
        PNG,
        "the verified bytes, not the re-post"
    );
    assert_eq!(served.header("content-type"), "image/png");

    // A second complete answers the record as it is; it does not verify (or copy) the re-post.
    let again = api.complete(&user.access, &id).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["size"], PNG.len());
    let served = download(&api, &user.access, &id).await;
    assert_eq!(served.body.as_ref(), PNG);
}

#[tokio::test]
async fn a_file_complete_refuses_leaves_neither_its_copy_nor_its_post_behind() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Posted(HTML)).await;
    let refused = api.complete(&user.access, &id).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error_code"], "UPLOAD_CONTENT_MISMATCH");
    assert_eq!(copies(&api, &user.id, &id).await, Vec::<String>::new());
    assert!(!exists(&api, &format!("pending/{}/{id}", user.id)).await);
}

#[tokio::test]
async fn the_form_of_a_deleted_upload_stores_nothing_past_the_sweep_and_is_counted_until_then() {
    let api =
        UploadsApi::start_with(&[("UPLOAD_QUOTA_FILES", "1"), ("UPLOAD_FORM_TTL_SECS", "10")])
            .await;
    let user = api.identity.signup().await;
    let created = api.create(&user.access, "a.png", "image/png", 70).await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let id = created["id"].as_str().expect("id").to_owned();
    let pending = format!("pending/{}/{id}", user.id);

    // The review's reproducer: create, DELETE (204), then post the form.
    let deleted = api
        .call(Method::DELETE, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(deleted.status, 204);
    assert!(api.post_form(&created, PNG).await.status < 300);
    assert!(exists(&api, &pending).await, "the emulator took the post");

    // Invisible on every route, yet counted while its form can still store a file.
    for (method, path) in [
        (Method::GET, format!("/{id}")),
        (Method::POST, format!("/{id}/complete")),
        (Method::DELETE, format!("/{id}")),
    ] {
        let reply = api.call(method.clone(), &path, &user.access, None).await;
        assert_eq!(reply.status, 404, "{method} {path}");
    }
    let listed = api.call(Method::GET, "", &user.access, None).await.json();
    assert_eq!(listed["items"], serde_json::json!([]));
    let over = api.create(&user.access, "b.png", "image/png", 70).await;
    assert_eq!(over.status, 409, "the deleted upload is still counted");
    assert_eq!(over.json()["error_code"], "UPLOAD_QUOTA_EXCEEDED");

    // Once the form has expired, the user's next call sweeps: the object, then the record.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let listed = api.call(Method::GET, "", &user.access, None).await;
    assert_eq!(listed.status, 200);
    assert!(
        !exists(&api, &pending).await,
        "no object stays with no record past the sweep"
    );
    let fits = api.create(&user.access, "c.png", "image/png", 70).await;
    assert_eq!(fits.status, 201, "{:?}", fits.json());
}

#[tokio::test]
async fn an_upload_never_completed_leaves_no_object_once_its_record_expires() {
    let api = UploadsApi::start_with(&[
        ("UPLOAD_FORM_TTL_SECS", "10"),
        ("UPLOAD_PENDING_GRACE_SECS", "0"),
    ])
    .await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Posted(PNG)).await;
    let pending = format!("pending/{}/{id}", user.id);
    assert!(exists(&api, &pending).await);

    tokio::time::sleep(Duration::from_secs(11)).await;
    let created = api.create(&user.access, "next.png", "image/png", 70).await;
    assert_eq!(created.status, 201);
    assert!(
        !exists(&api, &pending).await,
        "the expired upload's object is swept, not left to the lifecycle rule"
    );
    let gone = api
        .call(Method::GET, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn deleting_an_upload_whose_form_expired_gives_its_quota_back_at_once() {
    let api =
        UploadsApi::start_with(&[("UPLOAD_QUOTA_FILES", "1"), ("UPLOAD_FORM_TTL_SECS", "10")])
            .await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Ready).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let deleted = api
        .call(Method::DELETE, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(copies(&api, &user.id, &id).await, Vec::<String>::new());
    let fits = api.create(&user.access, "next.png", "image/png", 70).await;
    assert_eq!(fits.status, 201, "{:?}", fits.json());
}

#[tokio::test]
async fn a_ready_upload_deleted_while_its_form_lives_stays_counted_at_its_declared_size() {
    let api = UploadsApi::start_with(&[("UPLOAD_QUOTA_BYTES", "4100")]).await;
    let user = api.identity.signup().await;
    let created = api
        .create(&user.access, "photo.png", "image/png", 4096)
        .await
        .json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(api.post_form(&created, PNG).await.status < 300);
    assert_eq!(api.complete(&user.access, &id).await.status, 200);
    // Ready, it counts its real size (70 bytes); deleted while its form could still post 4096
    // bytes, it counts those until the form has expired and the sweep has run.
    let deleted = api
        .call(Method::DELETE, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(copies(&api, &user.id, &id).await, Vec::<String>::new());
    let over = api.create(&user.access, "next.png", "image/png", 100).await;
    assert_eq!(over.status, 409, "{:?}", over.json());
    assert_eq!(over.json()["error_code"], "UPLOAD_QUOTA_EXCEEDED");
}
