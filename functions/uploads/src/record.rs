//! The upload record as stored, and its DynamoDB item (`TryFrom<&Item>` / `From<&Upload>`).
//!
//! One partition per user in the uploads table: `pk = USER#<user id>` holds that user's records
//! (`sk = UPLOAD#<upload id>`), their quota counter (`sk = QUOTA`) and their sweep markers
//! (`sk = SWEEP#<due>#<upload id>`, see [`Marker`]). Another user's id can therefore never be
//! read: every lookup is keyed by the caller's partition.
//!
//! Two places in the bucket per upload: the form writes [`Upload::pending_key`]; `complete`
//! copies what was posted to a key under [`file_prefix`] named after the copied object's ETag,
//! verifies that copy, and records its key ([`Upload::file_key`]): no form is ever signed for
//! anything under `files/`, and no other attempt writes that key with other bytes, so a
//! verified file cannot change under its record.

use blob::filename::DisplayName;
use shared::dynamo::{Item, StoreError, get_n, get_s, n, opt_n, opt_s, s};

/// Where the file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Signed, not verified yet: maybe uploaded, maybe not.
    Pending,
    /// Verified by `complete`: exists, size within the declared size, magic bytes match.
    Ready,
    /// Deleted while its form could still be posted: invisible (every route answers 404), but
    /// still counted in the quota at its declared size until the sweep, once the form has
    /// expired, deletes whatever the form stored and then the record.
    Deleted,
}

impl Status {
    /// As stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Deleted => "deleted",
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
    /// The key of the verified copy, once ready (`None` for a file completed before 0.9.0,
    /// moved to `files/<user>/<id>` by the upgrade step in the changelog).
    pub file: Option<String>,
    /// What this record adds to the owner's byte quota (declared size, then the real size).
    pub counted_bytes: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// When the upload form stops working (RFC 3339).
    pub upload_expires_at: String,
    /// The DynamoDB TTL (epoch seconds) of a pending or deleted record; none once ready. Past
    /// it, the record counts as gone even before DynamoDB deletes it, and its [`Marker`] is due.
    pub expires_at: Option<i64>,
    /// Bumped by every write of the record, in the write itself: its `ETag` (`"<n>"`), and what
    /// `If-Match` conditions a delete on. 1 when created; records from before it read as 0.
    pub version: i64,
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
/// Every sweep marker's sort key starts with this.
pub const SWEEP_PREFIX: &str = "SWEEP#";
/// The sort key of a user's quota counter.
pub const QUOTA_SK: &str = "QUOTA";

impl Upload {
    /// Where the form puts the file: server-made from ids only, never from the filename.
    pub fn pending_key(&self) -> String {
        pending_key(&self.owner_id, &self.id)
    }

    /// Where the verified file is kept and downloaded from: written only by `complete`'s copy.
    pub fn file_key(&self) -> String {
        self.file
            .clone()
            .unwrap_or_else(|| format!("files/{}/{}", self.owner_id, self.id))
    }

    /// Whether the record still exists at `now` (epoch seconds): ready, or pending within its TTL.
    /// A deleted record never is.
    pub fn live(&self, now: i64) -> bool {
        self.status != Status::Deleted && self.expires_at.is_none_or(|at| at > now)
    }

    /// When the form stops working, in epoch seconds (`upload_expires_at`, as signed).
    pub fn form_expires_s(&self) -> Result<i64, StoreError> {
        time::OffsetDateTime::parse(
            &self.upload_expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| StoreError::malformed("upload_expires_at", "RFC 3339"))
    }
}

/// `pending/<user id>/<upload id>`: the only key a form is signed for.
pub fn pending_key(owner_id: &str, id: &str) -> String {
    format!("pending/{owner_id}/{id}")
}

/// `files/<user id>/<upload id>/`: every copy `complete` makes of the upload is under it; no form
/// is ever signed for anything there.
pub fn file_prefix(owner_id: &str, id: &str) -> String {
    format!("files/{owner_id}/{id}/")
}

/// The key of a copy of the object with `etag`: under [`file_prefix`], named after the ETag (its
/// letters, digits and dashes), so two attempts write the same key only with the same bytes.
pub fn file_key(owner_id: &str, id: &str, etag: &str) -> String {
    let name: String = etag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let name = if name.is_empty() { "0" } else { name.as_str() };
    format!("{}{name}", file_prefix(owner_id, id))
}

/// A sweep marker: upload `id`'s pending key must be emptied at `due` (epoch seconds), and its
/// record removed then if it is still pending or deleted (its `expires_at` is `due`). Written with
/// the record when it is created, moved when it is deleted early, removed by the sweep. Its sort
/// key starts with the due time, so "what is due" is one key-range query that reads nothing
/// when nothing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The upload.
    pub id: String,
    /// Epoch seconds.
    pub due: i64,
}

impl Marker {
    /// `SWEEP#<due, 10 digits>#<id>`: sorted by due time (10 digits last until the year 2286).
    pub fn sort_key(&self) -> String {
        format!("{SWEEP_PREFIX}{:010}#{}", self.due, self.id)
    }

    /// The sort key past every marker due at or before `now`.
    pub fn due_bound(now: i64) -> String {
        // `$` sorts after `#`: every `SWEEP#<now>#<id>` is below it.
        format!("{SWEEP_PREFIX}{now:010}$")
    }

    /// The marker of a sort key, if it is one.
    pub fn parse(sort_key: &str) -> Option<Self> {
        let (due, id) = sort_key.strip_prefix(SWEEP_PREFIX)?.split_once('#')?;
        Some(Self {
            id: id.to_owned(),
            due: due.parse().ok()?,
        })
    }
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
            ("version".to_owned(), n(u.version)),
        ]);
        if let Some(size) = u.size {
            item.insert("size".to_owned(), n(size));
        }
        if let Some(etag) = &u.etag {
            item.insert("etag".to_owned(), s(etag));
        }
        if let Some(file) = &u.file {
            item.insert("file_key".to_owned(), s(file));
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
            "deleted" => Status::Deleted,
            _ => return Err(StoreError::malformed("status", "pending|ready|deleted")),
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
            file: opt_s(item, "file_key")?,
            counted_bytes: get_n(item, "counted_bytes")?,
            created_at: get_s(item, "created_at")?,
            updated_at: get_s(item, "updated_at")?,
            upload_expires_at: get_s(item, "upload_expires_at")?,
            expires_at: opt_n(item, "expires_at")?,
            version: opt_n(item, "version")?.unwrap_or(0),
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
            file: None,
            counted_bytes: 10,
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            updated_at: "2026-01-01T00:00:00Z".to_owned(),
            upload_expires_at: "2026-01-01T00:10:00Z".to_owned(),
            expires_at: Some(1_767_229_800),
            version: 1,
        }
    }

    #[test]
    fn the_version_round_trips_and_a_record_from_before_versions_reads_as_0() {
        let mut item = Item::from(&upload());
        assert_eq!(Upload::try_from(&item).unwrap().version, 1);
        item.remove("version");
        assert_eq!(Upload::try_from(&item).unwrap().version, 0);
        item.insert("version".to_owned(), s("one"));
        assert!(Upload::try_from(&item).is_err());
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
            file: Some("files/u1/x/abc".to_owned()),
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
        assert_eq!(back.file_key(), "files/u1/x/abc");
    }

    #[test]
    fn the_object_keys_are_made_of_ids_only() {
        let u = upload();
        assert_eq!(
            u.pending_key(),
            "pending/u1/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d"
        );
        assert_eq!(
            file_key(&u.owner_id, &u.id, "\"f77886c8d008c1a2\""),
            "files/u1/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d/f77886c8d008c1a2"
        );
        assert_eq!(
            file_key(&u.owner_id, &u.id, "\"../x\""),
            "files/u1/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d/x"
        );
        // A file completed before 0.9.0, moved by the upgrade step.
        assert_eq!(
            u.file_key(),
            "files/u1/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d"
        );
        assert!(!u.pending_key().contains("passwd"));
        assert!(!u.file_key().contains("passwd"));
    }

    #[test]
    fn markers_sort_by_due_time_and_the_bound_takes_exactly_those_due() {
        let at = |due| Marker {
            id: "0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d".to_owned(),
            due,
        };
        assert_eq!(
            at(1_767_229_800).sort_key(),
            "SWEEP#1767229800#0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d"
        );
        assert!(at(999).sort_key() < at(1_000).sort_key());
        assert!(at(1_000).sort_key() < Marker::due_bound(1_000));
        assert!(at(1_001).sort_key() > Marker::due_bound(1_000));
        assert_eq!(Marker::parse(&at(42).sort_key()), Some(at(42)));
        assert_eq!(Marker::parse("UPLOAD#x"), None);
    }

    #[test]
    fn the_form_expiry_is_read_back_from_the_record() {
        assert_eq!(upload().form_expires_s().unwrap(), 1_767_226_200);
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
        let deleted = Upload {
            status: Status::Deleted,
            ..upload()
        };
        assert!(!deleted.live(0));
    }

    #[test]
    fn an_unknown_status_is_an_error_not_a_default() {
        let mut item = Item::from(&upload());
        item.insert("status".to_owned(), s("archived"));
        assert!(Upload::try_from(&item).is_err());
    }
}
