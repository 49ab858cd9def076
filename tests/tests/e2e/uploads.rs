//! Uploads end to end against the emulator, through the real HTTP surface: the function over
//! HTTP, and the file posted to the emulator's S3 as a browser form would post it.
//!
//! The emulator accepts any form POST without checking its policy (size range, type, expiry,
//! signature): what S3 enforces is covered by the policy unit tests in `shared/blob/src/policy.rs`.
//! Here, `complete` is what stands between an upload and a download.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use e2e::upload_api::{HTML, PNG, Stage, UploadsApi};
use http::Method;
use serde_json::Value;

#[tokio::test]
async fn a_png_goes_from_create_to_form_post_to_complete_to_a_download_of_the_same_bytes() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;

    let created = api
        .create(&user.access, "Holiday photo.png", "image/png", 4096)
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let created = created.json();
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["upload"]["method"], "POST");
    let fields = &created["upload"]["fields"];
    assert_eq!(fields["key"], format!("pending/{}/{id}", user.id));
    assert_eq!(fields["Content-Type"], "image/png");
    assert!(
        fields["x-amz-signature"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
    assert!(
        created["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );

    let posted = api.post_form(&created, PNG).await;
    assert!(posted.status < 300, "form post: {}", posted.status);

    let done = api.complete(&user.access, id).await;
    assert_eq!(done.status, 200, "{:?}", done.json());
    let done = done.json();
    assert_eq!(done["status"], "ready");
    assert_eq!(done["size"], PNG.len());
    assert_eq!(done["declared_size"], 4096);
    assert_eq!(done["filename"], "Holiday photo.png");

    let record = api
        .call(Method::GET, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(record.status, 200);
    assert_eq!(record.header("cache-control"), "no-store");
    let url = record.json()["download"]["url"]
        .as_str()
        .expect("a download URL once ready")
        .to_owned();
    let download = api.http.get(&url, &[]).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body.as_ref(), PNG);
    assert_eq!(download.header("content-type"), "image/png");
    assert_eq!(
        download.header("content-disposition"),
        "attachment; filename=\"Holiday photo.png\"; filename*=UTF-8''Holiday%20photo.png"
    );
}

#[tokio::test]
async fn an_html_page_declared_as_png_is_refused_with_422_and_the_object_is_gone() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Posted(HTML)).await;
    let key = format!("pending/{}/{id}", user.id);
    let bucket = api
        .identity
        .app
        .config
        .resources
        .bucket
        .clone()
        .expect("bucket");
    let s3 = &api.identity.app.s3;
    assert!(
        s3.head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .is_ok()
    );

    let refused = api.complete(&user.access, &id).await;
    assert_eq!(refused.status, 422, "{:?}", refused.json());
    assert_eq!(refused.json()["error_code"], "UPLOAD_CONTENT_MISMATCH");
    assert!(
        s3.head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .is_err(),
        "the refused object must be deleted"
    );
    let again = api
        .call(Method::GET, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(again.status, 404, "the refused upload's record is gone too");
}

#[tokio::test]
async fn a_file_larger_than_declared_is_refused_and_removed() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    // Declares 10 bytes; the emulator does not enforce the form's size range, so 70 arrive.
    let created = api
        .create(&user.access, "a.png", "image/png", 10)
        .await
        .json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(api.post_form(&created, PNG).await.status < 300);
    let refused = api.complete(&user.access, &id).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error_code"], "UPLOAD_SIZE_MISMATCH");
    let gone = api.complete(&user.access, &id).await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn complete_before_the_upload_is_409_and_the_upload_can_still_be_completed_after() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let created = api
        .create(&user.access, "late.png", "image/png", PNG.len() as u64)
        .await
        .json();
    let id = created["id"].as_str().expect("id").to_owned();
    let early = api.complete(&user.access, &id).await;
    assert_eq!(early.status, 409, "{:?}", early.json());
    assert_eq!(early.json()["error_code"], "UPLOAD_NOT_RECEIVED");

    assert!(api.post_form(&created, PNG).await.status < 300);
    let done = api.complete(&user.access, &id).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.json()["status"], "ready");
}

#[tokio::test]
async fn a_second_complete_answers_the_same_ready_record() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Ready).await;
    let again = api.complete(&user.access, &id).await;
    assert_eq!(again.status, 200);
    let again = again.json();
    assert_eq!(again["status"], "ready");
    assert_eq!(again["size"], PNG.len());
    assert_eq!(again["id"], id.as_str());
}

#[tokio::test]
async fn oversize_and_disallowed_types_are_refused_up_front_with_413_and_415() {
    let api = UploadsApi::start_with(&[("UPLOAD_MAX_BYTES", "1000")]).await;
    let user = api.identity.signup().await;
    let big = api.create(&user.access, "big.png", "image/png", 1001).await;
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error_code"], "UPLOAD_TOO_LARGE");
    let at_limit = api.create(&user.access, "ok.png", "image/png", 1000).await;
    assert_eq!(at_limit.status, 201);

    for content_type in [
        "text/html",
        "image/svg+xml",
        "application/octet-stream",
        "image/*",
    ] {
        let refused = api.create(&user.access, "x.png", content_type, 10).await;
        assert_eq!(refused.status, 415, "{content_type}");
        assert_eq!(refused.json()["error_code"], "UPLOAD_TYPE_NOT_ALLOWED");
    }
    // The declared type is matched without case, and stored and signed in its canonical form.
    let upper = api.create(&user.access, "x.PNG", "IMAGE/PNG", 10).await;
    assert_eq!(upper.status, 201);
    assert_eq!(
        upper.json()["upload"]["fields"]["Content-Type"],
        "image/png"
    );
}

#[tokio::test]
async fn bad_or_missing_fields_are_422_with_the_field_named() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let cases: [(Value, &str); 7] = [
        (
            serde_json::json!({"content_type": "image/png", "size": 10}),
            "filename",
        ),
        (
            serde_json::json!({"filename": "a.png", "size": 10}),
            "content_type",
        ),
        (
            serde_json::json!({"filename": "a.png", "content_type": "image/png"}),
            "size",
        ),
        (
            serde_json::json!({"filename": "a.png", "content_type": "image/png", "size": -1}),
            "size",
        ),
        (
            serde_json::json!({"filename": "a.png", "content_type": "image/png", "size": 0}),
            "size",
        ),
        (
            serde_json::json!({"filename": "../..", "content_type": "image/png", "size": 10}),
            "filename",
        ),
        (
            serde_json::json!({"filename": "a\u{0}.png", "content_type": "image/png", "size": 10}),
            "filename",
        ),
    ];
    for (body, field) in cases {
        let reply = api.call(Method::POST, "", &user.access, Some(&body)).await;
        assert_eq!(reply.status, 422, "{body}");
        let json = reply.json();
        assert_eq!(json["error_code"], "VALIDATION_ERROR");
        assert_eq!(json["detail"][0]["loc"][1], field, "{body}: {json}");
    }
    let extra = serde_json::json!({"filename": "a.png", "content_type": "image/png", "size": 10, "key": "x"});
    assert_eq!(
        api.call(Method::POST, "", &user.access, Some(&extra))
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn a_filename_with_a_path_keeps_only_its_name_and_never_reaches_the_key() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let created = api
        .create(
            &user.access,
            "../../other-user/secret\\evil.png",
            "image/png",
            70,
        )
        .await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        created["upload"]["fields"]["key"],
        format!("pending/{}/{id}", user.id)
    );
    let record = api
        .call(Method::GET, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(record.json()["filename"], "evil.png");
}

#[tokio::test]
async fn another_users_upload_is_404_on_every_route_and_untouched() {
    let api = UploadsApi::start().await;
    let owner = api.identity.signup().await;
    let other = api.identity.signup().await;
    let id = api.arrange(&owner, Stage::Ready).await;

    for (method, path) in [
        (Method::GET, format!("/{id}")),
        (Method::POST, format!("/{id}/complete")),
        (Method::DELETE, format!("/{id}")),
    ] {
        let reply = api.call(method.clone(), &path, &other.access, None).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.json()["error_code"], "NOT_FOUND");
    }
    let listed = api.call(Method::GET, "", &other.access, None).await.json();
    assert_eq!(listed["items"], Value::Array(vec![]));
    let still = api
        .call(Method::GET, &format!("/{id}"), &owner.access, None)
        .await;
    assert_eq!(still.status, 200);
    assert_eq!(still.json()["status"], "ready");
}

#[tokio::test]
async fn routes_without_a_token_are_401_and_malformed_ids_are_404() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let anonymous = api
        .http
        .get(&format!("{}/api/v1/uploads", api.base), &[])
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
    for id in [
        "not-a-uuid",
        "..%2F..%2Fetc",
        "0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d",
    ] {
        let reply = api
            .call(Method::GET, &format!("/{id}"), &user.access, None)
            .await;
        assert_eq!(reply.status, 404, "{id}");
    }
}

#[tokio::test]
async fn delete_is_204_then_404_and_removes_the_object() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let id = api.arrange(&user, Stage::Ready).await;
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
        .bucket(&bucket)
        .prefix(format!("files/{}/{id}/", user.id))
        .send()
        .await
        .expect("list");
    let key = listed
        .contents()
        .first()
        .and_then(|o| o.key())
        .expect("the verified copy")
        .to_owned();

    let deleted = api
        .call(Method::DELETE, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let again = api
        .call(Method::DELETE, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(again.status, 404);
    let get = api
        .call(Method::GET, &format!("/{id}"), &user.access, None)
        .await;
    assert_eq!(get.status, 404);
    let head = api
        .identity
        .app
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await;
    assert!(head.is_err(), "the object must be gone");
}

#[tokio::test]
async fn the_listing_is_mine_newest_first_paged_with_a_signed_cursor_and_link() {
    let api = UploadsApi::start().await;
    let user = api.identity.signup().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(api.arrange(&user, Stage::Created).await);
    }
    ids.reverse();

    let first = api.call(Method::GET, "?limit=2", &user.access, None).await;
    assert_eq!(first.status, 200);
    let link = first.header("link").to_owned();
    let page = first.json();
    let got: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    assert_eq!(link, format!("<?limit=2&cursor={cursor}>; rel=\"next\""));

    let second = api
        .call(
            Method::GET,
            &format!("?limit=2&cursor={cursor}"),
            &user.access,
            None,
        )
        .await
        .json();
    let got: Vec<&str> = second["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, [ids[2].as_str()]);

    // Another user's cursor is signed by us but is not a position in this user's list.
    let other = api.identity.signup().await;
    let foreign = api
        .call(
            Method::GET,
            &format!("?limit=2&cursor={cursor}"),
            &other.access,
            None,
        )
        .await;
    assert_eq!(foreign.status, 400);
    assert_eq!(foreign.json()["error_code"], "INVALID_CURSOR");
    let edited = api
        .call(
            Method::GET,
            &format!("?cursor={}x", &cursor),
            &user.access,
            None,
        )
        .await;
    assert_eq!(edited.status, 400);
    let bad_limit = api
        .call(Method::GET, "?limit=101", &user.access, None)
        .await;
    assert_eq!(bad_limit.status, 422);
}

#[tokio::test]
async fn twenty_parallel_creates_never_exceed_the_file_quota() {
    let api = UploadsApi::start_with(&[("UPLOAD_QUOTA_FILES", "5")]).await;
    let user = api.identity.signup().await;
    let replies = futures::future::join_all((0..20).map(|i| {
        let (api, token) = (&api, user.access.clone());
        async move {
            api.create(&token, &format!("f{i}.png"), "image/png", 100)
                .await
        }
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&e2e::Reply> = replies.iter().filter(|r| r.status != 201).collect();
    assert_eq!(created, 5, "{:?}", refused.first().map(|r| r.json()));
    for reply in &refused {
        assert_eq!(reply.status, 409);
        assert_eq!(reply.json()["error_code"], "UPLOAD_QUOTA_EXCEEDED");
    }
    let listed = api
        .call(Method::GET, "?limit=100", &user.access, None)
        .await
        .json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn the_byte_quota_counts_declared_sizes_and_deleting_gives_room_back() {
    // Deleting gives room back at once when the upload's form has expired (until then, a deleted
    // upload stays counted: uploads_lifecycle.rs).
    let api = UploadsApi::start_with(&[
        ("UPLOAD_QUOTA_BYTES", "250"),
        ("UPLOAD_FORM_TTL_SECS", "10"),
    ])
    .await;
    let user = api.identity.signup().await;
    let a = api.create(&user.access, "a.png", "image/png", 200).await;
    assert_eq!(a.status, 201);
    let b = api.create(&user.access, "b.png", "image/png", 51).await;
    assert_eq!(b.status, 409);
    assert_eq!(b.json()["error_code"], "UPLOAD_QUOTA_EXCEEDED");
    let fits = api.create(&user.access, "c.png", "image/png", 50).await;
    assert_eq!(fits.status, 201);

    let a_id = a.json()["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let deleted = api
        .call(Method::DELETE, &format!("/{a_id}"), &user.access, None)
        .await;
    assert_eq!(deleted.status, 204);
    let now_fits = api.create(&user.access, "d.png", "image/png", 200).await;
    assert_eq!(now_fits.status, 201);
}

#[tokio::test]
async fn expired_pending_uploads_give_their_quota_back_when_the_quota_is_full() {
    // A form that expires at once and no grace: the record is gone as soon as it is made.
    let api = UploadsApi::start_with(&[
        ("UPLOAD_QUOTA_FILES", "1"),
        ("UPLOAD_FORM_TTL_SECS", "10"),
        ("UPLOAD_PENDING_GRACE_SECS", "0"),
    ])
    .await;
    let user = api.identity.signup().await;
    let first = api.create(&user.access, "a.png", "image/png", 10).await;
    assert_eq!(first.status, 201);
    assert_eq!(
        api.create(&user.access, "b.png", "image/png", 10)
            .await
            .status,
        409
    );
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    // Expired: invisible, and no longer counted once the refused create recounts.
    let id = first.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        api.call(Method::GET, &format!("/{id}"), &user.access, None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.create(&user.access, "c.png", "image/png", 10)
            .await
            .status,
        201
    );
}
