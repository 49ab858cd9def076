//! The bodies this function answers with.

use std::collections::BTreeMap;

use identity::pagination::{Listed, Page};
use serde::Serialize;

use crate::record::{Status, Upload};

/// An upload record, as the owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadBody {
    /// UUID.
    pub id: String,
    /// Display name (never a path).
    pub filename: String,
    /// The declared (and, once ready, verified) type.
    pub content_type: String,
    /// `pending` or `ready`.
    #[schema(value_type = String, pattern = "^(pending|ready)$")]
    pub status: &'static str,
    /// The size declared at create.
    pub declared_size: i64,
    /// The real size, once ready.
    pub size: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// A short-lived download URL: only in `GET /{id}` of a ready upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
}

impl From<&Upload> for UploadBody {
    fn from(u: &Upload) -> Self {
        Self {
            id: u.id.clone(),
            filename: u.filename.as_str().to_owned(),
            content_type: u.content_type.clone(),
            status: u.status.as_str(),
            declared_size: u.declared_size,
            size: (u.status == Status::Ready).then_some(u.size).flatten(),
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
            download: None,
        }
    }
}

/// A presigned GET.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Download {
    /// GET it (no headers needed) before `expires_at`.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// The answer to `POST /`: where and how to send the file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUpload {
    /// The upload's id, for `complete`, `GET` and `DELETE`.
    pub id: String,
    /// The form to post.
    pub upload: UploadForm,
    /// When the form stops working (RFC 3339).
    pub expires_at: String,
}

/// A `multipart/form-data` POST: every field, then the file as the last part, named `file`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadForm {
    /// Always `POST`.
    #[schema(value_type = String, pattern = "^POST$")]
    pub method: &'static str,
    /// Where to post.
    pub url: String,
    /// The fields, exactly as given.
    pub fields: BTreeMap<String, String>,
}

/// One page of the caller's uploads (`GET /`).
pub type UploadPage = Page<UploadBody>;

impl Listed for UploadBody {
    const PAGE: &'static str = "UploadPage";
    const DESCRIPTION: &'static str = "One page of the caller's uploads.";
    const ITEMS: &'static str = "Newest first.";
}
