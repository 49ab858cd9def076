//! The uploads table: records and the per-user quota, changed together in transactions so the
//! quota counter always equals what the user's live records add up to.
//!
//! The counter (`files`, `bytes`, `version`) is checked by the condition of the same transaction
//! that writes a record, so parallel creates cannot exceed it. A record is counted from its
//! create until it is removed: by `DELETE` once its form has expired, by a refused `complete`,
//! or by the sweep ([`Uploads::due`], [`Uploads::settle`]) once its marker is due, which is
//! after whatever its form could store has been deleted. So the quota counts every object a
//! form of the user's can still write or has written and nothing has removed yet.
//!
//! One thing changes records without a transaction: DynamoDB's TTL deleting an expired pending
//! or deleted record (its marker stays, so the sweep still empties its pending key). Its share
//! is taken back the next time the quota refuses a create: [`Uploads::recount`] sums the
//! records and resets the counter, conditioned on its `version`, which every transaction bumps,
//! so a recount never overwrites a change it did not see.

use aws_sdk_dynamodb::{
    Client,
    types::{Delete, Put, TransactWriteItem, Update},
};
use shared::dynamo::{self, Item, Page, StoreError, get_n, n, s};

use crate::record::{
    Marker, QUOTA_SK, SWEEP_PREFIX, Status, UPLOAD_PREFIX, Upload, partition, sort_key,
};

/// A user's limits.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Most records (pending and ready).
    pub files: i64,
    /// Most bytes (pending at their declared size, ready at their real size).
    pub bytes: i64,
}

/// How a create went.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// Stored, and counted in the quota.
    Stored,
    /// Nothing stored: the quota is full (after taking back what expired records held).
    OverQuota,
}

/// The uploads table.
#[derive(Debug, Clone)]
pub struct Uploads {
    client: Client,
    table: String,
}

/// Names for the counter's attributes: `bytes` is not reserved today, but these are the only
/// names in the expressions, so every expression uses the placeholders.
const NAMES: [(&str, &str); 3] = [("#f", "files"), ("#b", "bytes"), ("#v", "version")];

/// The `SET` action of every update of a record: its version (its `ETag`) changes with every
/// write, in the write itself; records from before versions count from 0.
const BUMP: &str = "version = if_not_exists(version, :vzero) + :vone";

/// How long after it is due a marker nobody swept is left to DynamoDB's TTL: a week.
const MARKER_KEPT_SECS: i64 = 7 * 86_400;

impl Uploads {
    /// The store over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Stores `upload` (pending) with its sweep marker (due at its `expires_at`) and counts it in
    /// its owner's quota, in one transaction, unless the quota is full. A refusal first takes
    /// back what records removed by DynamoDB's TTL still hold, then tries once more.
    pub async fn create(&self, upload: &Upload, quota: Quota) -> Result<Created, StoreError> {
        if upload.counted_bytes > quota.bytes {
            return Ok(Created::OverQuota);
        }
        let due = upload
            .expires_at
            .ok_or_else(|| StoreError::malformed("expires_at", "a pending record's TTL"))?;
        let marker = Marker {
            id: upload.id.clone(),
            due,
        };
        for _ in 0..2 {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Item::from(upload)))
                .condition_expression("attribute_not_exists(pk)")
                .build()?;
            let count = self
                .counter_update(&upload.owner_id, 1, upload.counted_bytes)
                // A missing counter is a first upload; `room` is what may already be counted.
                .condition_expression(
                    "attribute_not_exists(pk) OR (#f < :max_files AND #b <= :room)",
                )
                .expression_attribute_values(":max_files", n(quota.files))
                .expression_attribute_values(":room", n(quota.bytes - upload.counted_bytes))
                .build()?;
            let stored = self
                .with_counter(
                    vec![
                        TransactWriteItem::builder().put(put).build(),
                        self.put_marker(&upload.owner_id, &marker)?,
                    ],
                    count,
                )
                .await?;
            if stored {
                return Ok(Created::Stored);
            }
            if !self.recount(&upload.owner_id).await? {
                break;
            }
        }
        Ok(Created::OverQuota)
    }

    /// The live upload `id` of `owner_id` (strongly consistent), or `None`.
    pub async fn get(&self, owner_id: &str, id: &str) -> Result<Option<Upload>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(sort_key(id)))
            .consistent_read(true)
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let upload = Upload::try_from(&item)?;
        Ok(upload.live(shared::clock::now_s()).then_some(upload))
    }

    /// Marks a live pending `upload` ready with the verified copy at `file` (its real `size` and
    /// `etag`), and counts the real size instead of the declared one. `false` when it is no
    /// longer live and pending (a concurrent `complete` or delete won).
    pub async fn mark_ready(
        &self,
        upload: &Upload,
        size: i64,
        etag: &str,
        file: &str,
    ) -> Result<bool, StoreError> {
        let record = Update::builder()
            .table_name(&self.table)
            .key("pk", s(partition(&upload.owner_id)))
            .key("sk", s(sort_key(&upload.id)))
            .update_expression(format!(
                "SET #status = :ready, #size = :size, etag = :etag, file_key = :file, \
                 counted_bytes = :size, updated_at = :now, {BUMP} REMOVE expires_at"
            ))
            .condition_expression(
                "#status = :pending AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            )
            .expression_attribute_names("#status", "status")
            // SIZE is a reserved word.
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":ready", s("ready"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":size", n(size))
            .expression_attribute_values(":etag", s(etag))
            .expression_attribute_values(":file", s(file))
            .expression_attribute_values(":now", s(shared::clock::now_rfc3339()))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .expression_attribute_values(":vzero", n(0))
            .expression_attribute_values(":vone", n(1))
            .build()?;
        let count = self
            .counter_update(&upload.owner_id, 0, size - upload.counted_bytes)
            .condition_expression("attribute_exists(pk)")
            .build()?;
        self.with_counter(
            vec![TransactWriteItem::builder().update(record).build()],
            count,
        )
        .await
    }

    /// Deletes the live record `upload`, as read (same status, same share), and takes its share
    /// out of the quota. `false` when it is gone or changed since (read it again). Its marker,
    /// if any, stays: the sweep finds no record then and only empties the pending key.
    pub async fn remove(&self, upload: &Upload) -> Result<bool, StoreError> {
        let record = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(partition(&upload.owner_id)))
            .key("sk", s(sort_key(&upload.id)))
            .condition_expression(
                "#status = :status AND counted_bytes = :counted \
                 AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(upload.status.as_str()))
            .expression_attribute_values(":counted", n(upload.counted_bytes))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .build()?;
        let count = self
            .counter_update(&upload.owner_id, -1, -upload.counted_bytes)
            .condition_expression("attribute_exists(pk)")
            .build()?;
        self.with_counter(
            vec![TransactWriteItem::builder().delete(record).build()],
            count,
        )
        .await
    }

    /// Turns the live record `upload`, as read, into a deleted one that stays counted at its
    /// declared size (what its form may still store) until `due`, when its form has expired:
    /// its marker moves to `due`. `false` when it is gone or changed since (read it again).
    /// `expected`: the version it must still have (`If-Match`), else `false` likewise.
    pub async fn tombstone(
        &self,
        upload: &Upload,
        due: i64,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut condition = "#status = :status AND counted_bytes = :counted \
             AND (attribute_not_exists(expires_at) OR expires_at > :epoch)"
            .to_owned();
        match expected {
            None => {}
            Some(0) => {
                condition.push_str(" AND (attribute_not_exists(version) OR version = :expected)");
            }
            Some(_) => condition.push_str(" AND version = :expected"),
        }
        let mut record = Update::builder()
            .table_name(&self.table)
            .key("pk", s(partition(&upload.owner_id)))
            .key("sk", s(sort_key(&upload.id)))
            .update_expression(format!(
                "SET #status = :deleted, counted_bytes = :declared, expires_at = :due, \
                 updated_at = :now, {BUMP}"
            ))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", s(Status::Deleted.as_str()))
            .expression_attribute_values(":declared", n(upload.declared_size))
            .expression_attribute_values(":due", n(due))
            .expression_attribute_values(":now", s(shared::clock::now_rfc3339()))
            .expression_attribute_values(":status", s(upload.status.as_str()))
            .expression_attribute_values(":counted", n(upload.counted_bytes))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .expression_attribute_values(":vzero", n(0))
            .expression_attribute_values(":vone", n(1));
        if let Some(version) = expected {
            record = record.expression_attribute_values(":expected", n(version));
        }
        let record = record.build()?;
        let marker = Marker {
            id: upload.id.clone(),
            due,
        };
        let mut items = vec![
            TransactWriteItem::builder().update(record).build(),
            self.put_marker(&upload.owner_id, &marker)?,
        ];
        // A pending record's marker is due at its `expires_at`: replaced by the earlier one. A
        // ready record's (due when its pending record would have expired) is left to the sweep.
        if let Some(old) = upload.expires_at.filter(|old| *old != due) {
            let old = Marker {
                id: upload.id.clone(),
                due: old,
            };
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(partition(&upload.owner_id)))
                .key("sk", s(old.sort_key()))
                .build()?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let count = self
            .counter_update(
                &upload.owner_id,
                0,
                upload.declared_size - upload.counted_bytes,
            )
            .condition_expression("attribute_exists(pk)")
            .build()?;
        self.with_counter(items, count).await
    }

    /// Up to `limit` of `owner_id`'s markers due at `now` or before, earliest first.
    pub async fn due(
        &self,
        owner_id: &str,
        now: i64,
        limit: i32,
    ) -> Result<Vec<Marker>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(partition(owner_id)))
            .expression_attribute_values(":from", s(SWEEP_PREFIX))
            .expression_attribute_values(":to", s(Marker::due_bound(now)))
            .projection_expression("sk")
            .limit(limit)
            .send()
            .await?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| item.get("sk")?.as_s().ok().and_then(|sk| Marker::parse(sk)))
            .collect())
    }

    /// Upload `id` of `owner_id` as stored, whatever its state (strongly consistent).
    pub async fn read(&self, owner_id: &str, id: &str) -> Result<Option<Upload>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(sort_key(id)))
            .consistent_read(true)
            .send()
            .await?
            .item
            .map(|item| Upload::try_from(&item))
            .transpose()
    }

    /// Whether a due `marker` settles `record` (read with [`Uploads::read`]): a pending or deleted
    /// record whose `expires_at` is the marker's due time. A ready record keeps its file.
    pub fn settles(marker: &Marker, record: Option<Upload>) -> Option<Upload> {
        record.filter(|r| r.status != Status::Ready && r.expires_at == Some(marker.due))
    }

    /// Settles a due `marker` whose objects the caller has deleted: `record` (what
    /// [`Uploads::settles`] gave) goes with its share of the quota, and the marker goes. A
    /// concurrent settle or change makes this one a no-op.
    pub async fn settle(
        &self,
        owner_id: &str,
        marker: &Marker,
        record: Option<&Upload>,
    ) -> Result<(), StoreError> {
        let delete_marker = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(marker.sort_key()))
            .build()?;
        let Some(record) = record else {
            // Ready (its file is kept), gone, or due another time (another marker covers it).
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(partition(owner_id)))
                .key("sk", s(marker.sort_key()))
                .send()
                .await?;
            return Ok(());
        };
        let delete_record = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(sort_key(&record.id)))
            .condition_expression(
                "#status = :status AND counted_bytes = :counted AND expires_at = :due",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(record.status.as_str()))
            .expression_attribute_values(":counted", n(record.counted_bytes))
            .expression_attribute_values(":due", n(marker.due))
            .build()?;
        let count = self
            .counter_update(owner_id, -1, -record.counted_bytes)
            .condition_expression("attribute_exists(pk)")
            .build()?;
        let settled = self
            .with_counter(
                vec![
                    TransactWriteItem::builder().delete(delete_record).build(),
                    TransactWriteItem::builder().delete(delete_marker).build(),
                ],
                count,
            )
            .await?;
        if settled {
            tracing::info!(upload = %record.id, status = record.status.as_str(), "upload swept");
        }
        Ok(())
    }

    /// A page of `owner_id`'s live uploads, newest first, after `start`.
    pub async fn list(
        &self,
        owner_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<Page<Upload>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression(
                "(attribute_not_exists(expires_at) OR expires_at > :epoch) \
                 AND #status <> :deleted",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pk", s(partition(owner_id)))
            .expression_attribute_values(":prefix", s(UPLOAD_PREFIX))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .expression_attribute_values(":deleted", s(Status::Deleted.as_str()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        Page::parse(out)
    }

    /// Sets `owner_id`'s counter to what their records add up to (every record still stored:
    /// one past its TTL stays counted until the sweep settles it, which takes its share out
    /// then), if it differs and nothing changed it meanwhile. `true` when it changed the counter.
    pub async fn recount(&self, owner_id: &str) -> Result<bool, StoreError> {
        // The version first: any transaction that commits after this read bumps it, and then
        // the reset below is refused; any that committed before is seen by the query.
        let counter = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(QUOTA_SK))
            .consistent_read(true)
            .send()
            .await?
            .item;
        let Some(counter) = counter else {
            return Ok(false);
        };
        let version = get_n(&counter, "version")?;
        let (mut files, mut bytes) = (0_i64, 0_i64);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(partition(owner_id)))
                .expression_attribute_values(":prefix", s(UPLOAD_PREFIX))
                .projection_expression("counted_bytes")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in out.items() {
                files += 1;
                bytes += get_n(item, "counted_bytes")?;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if (files, bytes) == (get_n(&counter, "files")?, get_n(&counter, "bytes")?) {
            return Ok(false);
        }
        let mut reset = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(QUOTA_SK))
            .update_expression("SET #f = :files, #b = :bytes, #v = #v + :one")
            .condition_expression("#v = :version")
            .expression_attribute_values(":files", n(files))
            .expression_attribute_values(":bytes", n(bytes))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(version));
        for (placeholder, name) in NAMES {
            reset = reset.expression_attribute_names(placeholder, name);
        }
        tracing::info!(files, bytes, "upload quota recounted");
        dynamo::applied(reset.send().await.map_err(StoreError::from))
    }

    /// Writes `items` and the counter update `count` in one transaction; `false` when a
    /// condition refused it (nothing was written).
    async fn with_counter(
        &self,
        mut items: Vec<TransactWriteItem>,
        count: Update,
    ) -> Result<bool, StoreError> {
        items.push(TransactWriteItem::builder().update(count).build());
        dynamo::applied(dynamo::transact(&self.client, items).await)
    }

    /// The put of `owner_id`'s `marker`, for a transaction. The marker has a TTL a week after it
    /// is due, by when the bucket's lifecycle rule has emptied `pending/` of anything older, so
    /// a user who never comes back does not keep markers forever.
    fn put_marker(&self, owner_id: &str, marker: &Marker) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(partition(owner_id)))
            .item("sk", s(marker.sort_key()))
            .item("expires_at", n(marker.due + MARKER_KEPT_SECS))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The counter update every transaction carries: `files += files_delta`, `bytes +=
    /// bytes_delta`, `version += 1`, created at zero when missing. The caller adds its condition.
    fn counter_update(
        &self,
        owner_id: &str,
        files_delta: i64,
        bytes_delta: i64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(partition(owner_id)))
            .key("sk", s(QUOTA_SK))
            .update_expression(
                "SET #f = if_not_exists(#f, :zero) + :df, #b = if_not_exists(#b, :zero) + :db, \
                 #v = if_not_exists(#v, :zero) + :one",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":df", n(files_delta))
            .expression_attribute_values(":db", n(bytes_delta));
        for (placeholder, name) in NAMES {
            update = update.expression_attribute_names(placeholder, name);
        }
        update
    }
}
