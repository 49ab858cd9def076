//! The README's uploads walkthrough through the stack: create, the form posted straight to the
//! emulator's S3 as a browser posts it, complete, download, delete. The two function calls print
//! their latency through the stack.

use std::time::Instant;

use e2e::upload_api::{PNG, post_form};
use http::Method;
use serde_json::json;

use crate::{Smoke, auth::readme_user};

/// Create, post, complete, download the same bytes, delete.
pub(crate) async fn the_readme_uploads_walkthrough_gets_the_same_bytes_back(s: Smoke) {
    let access = readme_user(&s).await;
    let bearer = format!("Bearer {access}");
    let auth = [("authorization", bearer.as_str())];

    let started = Instant::now();
    let created = s
        .http
        .json(
            Method::POST,
            &s.api("/uploads"),
            &auth,
            &json!({"filename": "cat.png", "content_type": "image/png", "size": PNG.len()}),
        )
        .await;
    let ms = started.elapsed().as_millis();
    println!("upload create through the stack: {ms} ms");
    assert_eq!(created.status, 201, "create: {}", created.text());
    let created = created.json();
    let id = created["id"].as_str().expect("id");

    let posted = post_form(&s.http, &created, PNG).await;
    assert_eq!(posted.status, 204, "form post: {}", posted.text());

    let started = Instant::now();
    let completed = s
        .http
        .send(
            Method::POST,
            &s.api(&format!("/uploads/{id}/complete")),
            &auth,
            "",
        )
        .await;
    let ms = started.elapsed().as_millis();
    println!("upload complete through the stack: {ms} ms");
    assert_eq!(completed.status, 200, "complete: {}", completed.text());
    assert_eq!(completed.json()["status"], "ready", "{}", completed.text());

    let record = s
        .http
        .get(&s.api(&format!("/uploads/{id}")), &auth)
        .await
        .json();
    let download = record["download"]["url"].as_str().expect("download.url");
    let bytes = s.http.get(download, &[]).await;
    assert!(bytes.body == PNG, "the download is not the bytes posted");

    let deleted = s
        .http
        .send(Method::DELETE, &s.api(&format!("/uploads/{id}")), &auth, "")
        .await;
    assert_eq!(deleted.status, 204, "delete: {}", deleted.text());
}
