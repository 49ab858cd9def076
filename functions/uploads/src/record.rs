//! The upload record as stored, and its DynamoDB item (`TryFrom<&Item>` / `From<&Upload>`).
//!
//! One partition per user in the uploads table: `pk = USER#<user id>` holds that user's records
//! (`sk = UPLOAD#<upload id>`) and their quota counter (`sk = QUOTA`). Another user's id can
//! therefore never be read: every lookup is keyed by the caller's partition.

use blob::filename::DisplayName;
use shared::dynamo::{Item, StoreError, get_n, get_s, n, opt_n, opt_s, s};

/// Where the file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Signed, not verified yet: maybe uploaded, maybe not.
    Pending,
    /// Verified by `complete`: exists, size within the declared size, magic bytes match.
    Ready,
}

impl Status {
    /// As stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
        }
    }
}

/// One upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// UUID v7: ids sort by creation time, so a user's partition lists newest first for free.
    pub id: String,
    /// The user it belongs to.
    pub owner_id: String,
    /// Display only: never part of the key or copied into a raw header.
    pub filename: DisplayName,
    /// The declared type, one of the allowed ones; the form binds it and `complete` proves it.
    pub content_type: String,
    /// The size the client declared (the form's upper bound).
    pub declared_size: i64,
    /// Pending or ready.
    pub status: Status,
    /// The real size, once ready.
    pub size: Option<i64>,
    /// The object's ETag when it was verified: a different one means it was replaced since.
    pub etag: Option<String>,
    /// What this record adds to the owner's byte quota (declared size, then the real size).
    pub counted_bytes: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// When the upload form stops working (RFC 3339).
    pub upload_expires_at: String,
    /// The DynamoDB TTL (epoch seconds) of a pending record; none once ready. Past it, the
    /// record counts as gone even before DynamoDB deletes it.
    pub expires_at: Option<i64>,
}

/// The partition of `owner`'s records and quota.
pub fn partition(owner_id: &str) -> String {
    format!("USER#{owner_id}")
}

/// The sort key of upload `id`.
pub fn sort_key(id: &str) -> String {
    format!("{UPLOAD_PREFIX}{id}")
}

/// Every upload record's sort key starts with this.
pub const UPLOAD_PREFIX: &str = "UPLOAD#";
/// The sort key of a user's quota counter.
pub const QUOTA_SK: &str = "QUOTA";

impl Upload {
    /// The S3 key: server-made from ids only, never from the filename.
    pub fn object_key(&self) -> String {
        object_key(&self.owner_id, &self.id)
    }

    /// Whether the record still exists at `now` (epoch seconds): ready, or pending within its TTL.
    pub fn live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// `uploads/<user id>/<upload id>`.
pub fn object_key(owner_id: &str, id: &str) -> String {
    format!("uploads/{owner_id}/{id}")
}

impl From<&Upload> for Item {
    fn from(u: &Upload) -> Self {
        let mut item = Item::from([
            ("pk".to_owned(), s(partition(&u.owner_id))),
            ("sk".to_owned(), s(sort_key(&u.id))),
            ("id".to_owned(), s(&u.id)),
            ("owner_id".to_owned(), s(&u.owner_id)),
            ("filename".to_owned(), s(u.filename.as_str())),
            ("content_type".to_owned(), s(&u.content_type)),
            ("declared_size".to_owned(), n(u.declared_size)),
            ("status".to_owned(), s(u.status.as_str())),
            ("counted_bytes".to_owned(), n(u.counted_bytes)),
            ("created_at".to_owned(), s(&u.created_at)),
            ("updated_at".to_owned(), s(&u.updated_at)),
            ("upload_expires_at".to_owned(), s(&u.upload_expires_at)),
        ]);
        if let Some(size) = u.size {
            item.insert("size".to_owned(), n(size));
        }
        if let Some(etag) = &u.etag {
            item.insert("etag".to_owned(), s(etag));
        }
        if let Some(at) = u.expires_at {
            item.insert("expires_at".to_owned(), n(at));
        }
        item
    }
}

impl TryFrom<&Item> for Upload {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let status = match get_s(item, "status")?.as_str() {
            "pending" => Status::Pending,
            "ready" => Status::Ready,
            _ => return Err(StoreError::malformed("status", "pending|ready")),
        };
        let filename = DisplayName::parse(&get_s(item, "filename")?)
            .map_err(|_| StoreError::malformed("filename", "display name"))?;
        Ok(Self {
            id: get_s(item, "id")?,
            owner_id: get_s(item, "owner_id")?,
            filename,
            content_type: get_s(item, "content_type")?,
            declared_size: get_n(item, "declared_size")?,
            status,
            size: opt_n(item, "size")?,
            etag: opt_s(item, "etag")?,
            counted_bytes: get_n(item, "counted_bytes")?,
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
            upload_expires_at: get_s(item, "upload_expires_at")?,
            expires_at: opt_n(item, "expires_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload() -> Upload {
        Upload {
            id: "0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d".to_owned(),
            owner_id: "u1".to_owned(),
            filename: DisplayName::parse("../../etc/passwd.png").unwrap(),
            content_type: "image/png".to_owned(),
            declared_size: 10,
            status: Status::Pending,
            size: None,
            etag: None,
            counted_bytes: 10,
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            updated_at: "2026-01-01T00:00:00Z".to_owned(),
            upload_expires_at: "2026-01-01T00:10:00Z".to_owned(),
            expires_at: Some(1_767_229_800),
        }
    }

    #[test]
    fn a_record_survives_its_item_both_when_pending_and_when_ready() {
        let pending = upload();
        let back = Upload::try_from(&Item::from(&pending)).unwrap();
        assert_eq!(back.status, Status::Pending);
        assert_eq!(back.expires_at, pending.expires_at);
        assert_eq!(back.filename.as_str(), "passwd.png");

        let ready = Upload {
            status: Status::Ready,
            size: Some(7),
            etag: Some("\"abc\"".to_owned()),
            expires_at: None,
            ..upload()
        };
        let back = Upload::try_from(&Item::from(&ready)).unwrap();
        assert_eq!(
            (
                back.status,
                back.size,
                back.etag.as_deref(),
                back.expires_at
            ),
            (Status::Ready, Some(7), Some("\"abc\""), None)
        );
    }

    #[test]
    fn the_object_key_is_made_of_ids_only() {
        let u = upload();
        assert_eq!(
            u.object_key(),
            "uploads/u1/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d"
        );
        assert!(!u.object_key().contains("passwd"));
    }

    #[test]
    fn a_pending_record_is_gone_at_its_ttl_and_a_ready_one_never() {
        let u = upload();
        assert!(u.live(1_767_229_799));
        assert!(!u.live(1_767_229_800));
        let ready = Upload {
            expires_at: None,
            ..upload()
        };
        assert!(ready.live(i64::MAX));
    }

    #[test]
    fn an_unknown_status_is_an_error_not_a_default() {
        let mut item = Item::from(&upload());
        item.insert("status".to_owned(), s("deleted"));
        assert!(Upload::try_from(&item).is_err());
    }
}
