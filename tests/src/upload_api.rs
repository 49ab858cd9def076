//! The uploads function over HTTP, on top of [`Identity`], and what a browser does with the form
//! `POST /api/v1/uploads` returns: a `multipart/form-data` POST straight to the bucket.

use std::collections::BTreeMap;

use axum::Router;
use serde_json::{Value, json};

use crate::{Account, Client, Identity, Reply, emulator_env, spawn_http};

/// A real 1x1 PNG (70 bytes): signature, IHDR, IDAT, IEND.
pub const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0d\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99\x3d\x1d\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/// An HTML page: what a forged "image" is.
pub const HTML: &[u8] =
    b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n";

/// Identity (to sign up users) and the uploads function, each served over HTTP.
pub struct UploadsApi {
    /// Auth and users.
    pub identity: Identity,
    /// Base URL of the uploads function.
    pub base: String,
    /// The uploads router itself.
    pub router: Router,
    /// The uploads state (store and settings), for arranging and inspecting data directly.
    pub state: ::uploads::State,
    /// HTTP client.
    pub http: Client,
}

/// Where an arranged upload stops.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Created only.
    Created,
    /// Created, then these bytes posted with the form (declared as `image/png`).
    Posted(&'static [u8]),
    /// Created, a PNG posted, completed.
    Ready,
}

impl UploadsApi {
    /// The functions with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The functions with overridden variables (for uploads and identity alike).
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let identity = Identity::start_with(overrides).await;
        let state = ::uploads::init(identity.app.clone(), emulator_env(overrides))
            .await
            .expect("uploads state");
        let router = ::uploads::router(state.clone());
        Self {
            base: spawn_http(router.clone()).await,
            router,
            state,
            identity,
            http: Client::new(),
        }
    }

    /// `method /api/v1/uploads<path>` with `token` and an optional JSON body.
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let bearer = format!("Bearer {token}");
        let headers = [("authorization", bearer.as_str())];
        let url = format!("{}/api/v1/uploads{path}", self.base);
        match body {
            Some(body) => self.http.json(method, &url, &headers, body).await,
            None => self.http.send(method, &url, &headers, "").await,
        }
    }

    /// `POST /api/v1/uploads` of `filename`, `content_type`, `size`.
    pub async fn create(
        &self,
        token: &str,
        filename: &str,
        content_type: &str,
        size: u64,
    ) -> Reply {
        let body = json!({"filename": filename, "content_type": content_type, "size": size});
        self.call(http::Method::POST, "", token, Some(&body)).await
    }

    /// `POST /api/v1/uploads/{id}/complete`.
    pub async fn complete(&self, token: &str, id: &str) -> Reply {
        self.call(http::Method::POST, &format!("/{id}/complete"), token, None)
            .await
    }

    /// What a browser form does with the answer of a create: every field, then the file.
    pub async fn post_form(&self, created: &Value, file: &[u8]) -> Reply {
        post_form(&self.http, created, file).await
    }

    /// An upload of `account` that went as far as `stage`; its id.
    pub async fn arrange(&self, account: &Account, stage: Stage) -> String {
        let size = match stage {
            Stage::Posted(bytes) => bytes.len() as u64,
            Stage::Created | Stage::Ready => PNG.len() as u64,
        };
        let created = self
            .create(&account.access, "photo.png", "image/png", size)
            .await;
        assert_eq!(created.status, 201, "create: {:?}", created.json());
        let created = created.json();
        let id = created["id"].as_str().expect("id").to_owned();
        let file = match stage {
            Stage::Created => return id,
            Stage::Posted(bytes) => bytes,
            Stage::Ready => PNG,
        };
        let posted = self.post_form(&created, file).await;
        assert!(
            posted.status < 300,
            "form post: {} {:?}",
            posted.status,
            posted.body
        );
        if let Stage::Ready = stage {
            let done = self.complete(&account.access, &id).await;
            assert_eq!(done.status, 200, "complete: {:?}", done.json());
        }
        id
    }
}

/// What a browser form does with the answer of a create (`POST /api/v1/uploads`): every field,
/// then the file, posted straight to the bucket's URL with `http`.
pub async fn post_form(http: &Client, created: &Value, file: &[u8]) -> Reply {
    let url = created["upload"]["url"].as_str().expect("upload.url");
    let fields: BTreeMap<String, String> =
        serde_json::from_value(created["upload"]["fields"].clone()).expect("upload.fields");
    let (content_type, body) = multipart(&fields, "upload.bin", file);
    http.send(
        http::Method::POST,
        url,
        &[("content-type", content_type.as_str())],
        body,
    )
    .await
}

/// A `multipart/form-data` body as a browser builds it from a form: each field in order, then
/// the file last (S3 ignores fields after it). Returns the `Content-Type` (with its boundary)
/// and the body.
pub fn multipart(
    fields: &BTreeMap<String, String>,
    filename: &str,
    file: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("----e2eFormBoundary{}", crate::unique());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
