//! The uploads table: records and the per-user quota, changed together in transactions so the
//! quota counter always equals what the user's live records add up to.
//!
//! The counter (`files`, `bytes`, `version`) is checked by the condition of the same transaction
//! that writes a record, so parallel creates cannot exceed it. One thing changes records without
//! a transaction: DynamoDB's TTL deleting an expired pending record. Such a record is inert once
//! expired (every read and write treats it as gone), and its share is taken back the next time
//! the quota refuses a create: [`Uploads::recount`] sums the live records and resets the counter,
//! conditioned on its `version`, which every transaction bumps, so a recount never overwrites a
//! change it did not see.

use aws_sdk_dynamodb::{
    Client,
    types::{Delete, Put, TransactWriteItem, Update},
};
use shared::dynamo::{self, Item, Page, StoreError, get_n, n, opt_n, s};

use crate::record::{QUOTA_SK, UPLOAD_PREFIX, Upload, partition, sort_key};

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

impl Uploads {
    /// The store over `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Stores `upload` (pending) and counts it in its owner's quota, in one transaction, unless
    /// the quota is full. A refusal first takes back what expired records still hold, then tries
    /// once more.
    pub async fn create(&self, upload: &Upload, quota: Quota) -> Result<Created, StoreError> {
        if upload.counted_bytes > quota.bytes {
            return Ok(Created::OverQuota);
        }
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
                .with_counter(TransactWriteItem::builder().put(put).build(), count)
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

    /// Marks a live pending `upload` ready with its real `size` and `etag`, and counts the real
    /// size instead of the declared one. `false` when it is no longer live and pending (a
    /// concurrent `complete` or delete won).
    pub async fn mark_ready(
        &self,
        upload: &Upload,
        size: i64,
        etag: &str,
    ) -> Result<bool, StoreError> {
        let record = Update::builder()
            .table_name(&self.table)
            .key("pk", s(partition(&upload.owner_id)))
            .key("sk", s(sort_key(&upload.id)))
            .update_expression(
                "SET #status = :ready, #size = :size, etag = :etag, counted_bytes = :size, \
                 updated_at = :now REMOVE expires_at",
            )
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
            .expression_attribute_values(":now", s(shared::clock::now_rfc3339()))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .build()?;
        let count = self
            .counter_update(&upload.owner_id, 0, size - upload.counted_bytes)
            .condition_expression("attribute_exists(pk)")
            .build()?;
        self.with_counter(TransactWriteItem::builder().update(record).build(), count)
            .await
    }

    /// Deletes the live record `upload` and takes its share out of the quota. `false` when it
    /// was already gone.
    pub async fn remove(&self, upload: &Upload) -> Result<bool, StoreError> {
        let record = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(partition(&upload.owner_id)))
            .key("sk", s(sort_key(&upload.id)))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            )
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .build()?;
        let count = self
            .counter_update(&upload.owner_id, -1, -upload.counted_bytes)
            .condition_expression("attribute_exists(pk)")
            .build()?;
        self.with_counter(TransactWriteItem::builder().delete(record).build(), count)
            .await
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
            .filter_expression("attribute_not_exists(expires_at) OR expires_at > :epoch")
            .expression_attribute_values(":pk", s(partition(owner_id)))
            .expression_attribute_values(":prefix", s(UPLOAD_PREFIX))
            .expression_attribute_values(":epoch", n(shared::clock::now_s()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        Page::parse(out)
    }

    /// Sets `owner_id`'s counter to what their live records add up to, if it differs and nothing
    /// changed it meanwhile. `true` when it changed the counter.
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
        let now = shared::clock::now_s();
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
                .projection_expression("counted_bytes, expires_at")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in out.items() {
                if opt_n(item, "expires_at")?.is_none_or(|at| at > now) {
                    files += 1;
                    bytes += get_n(item, "counted_bytes")?;
                }
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

    /// Writes `record` and the counter update `count` in one transaction; `false` when a
    /// condition of either refused it (nothing was written).
    async fn with_counter(
        &self,
        record: TransactWriteItem,
        count: Update,
    ) -> Result<bool, StoreError> {
        let count = TransactWriteItem::builder().update(count).build();
        dynamo::applied(dynamo::transact(&self.client, vec![record, count]).await)
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
