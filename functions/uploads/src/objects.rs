//! The bucket: presigned POST forms (signed here, with `blob::policy`), the checks and the copy
//! `complete` makes, and presigned downloads. No bytes of a file pass through the function,
//! except the first [`SNIFF_BYTES`] `complete` reads to prove its type.
//!
//! Forms write under `pending/`, which the bucket's lifecycle rule empties of anything older
//! than a day (the backstop of the sweep); `complete` copies a verified file to `files/`, which
//! no form is signed for and no rule expires.

use std::time::Duration;

use anyhow::Context as _;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sdk_s3::{
    operation::{get_object::GetObjectError, head_object::HeadObjectError},
    presigning::PresigningConfig,
    types::{MetadataDirective, TaggingDirective},
};
use blob::{
    filename::DisplayName,
    policy::{PostPolicy, PresignedPost},
    sniff::SNIFF_BYTES,
};
use shared::{ApiError, error::ProvideErrorMetadata as _};
use time::OffsetDateTime;

/// The uploads bucket, through the function's S3 client and credentials.
#[derive(Debug, Clone)]
pub struct Objects {
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// The emulator's URL locally (forms post there, path-style); `None` on AWS.
    endpoint: Option<String>,
    /// What forms are signed with: the SDK's own provider (on Lambda, the role's temporary
    /// credentials from the environment; cheap to ask on every create).
    credentials: SharedCredentialsProvider,
    /// The bucket's region: the SDK's region (the bucket is in the stack's region).
    region: String,
}

/// What `HeadObject` tells about a stored file.
#[derive(Debug, Clone)]
pub struct Head {
    /// Bytes.
    pub size: i64,
    /// The ETag, to tell this object from a later replacement.
    pub etag: String,
}

impl Objects {
    /// The bucket `bucket` through the core state's S3 client and SDK configuration.
    ///
    /// # Errors
    ///
    /// The SDK configuration has no credentials provider or no region.
    pub fn new(app: &shared::AppState, bucket: String) -> anyhow::Result<Self> {
        Ok(Self {
            s3: app.s3.clone(),
            bucket,
            endpoint: app.config.aws.endpoint_url.clone(),
            credentials: app
                .sdk
                .credentials_provider()
                .context("the AWS SDK configuration has no credentials provider")?,
            region: app
                .sdk
                .region()
                .context("the AWS SDK configuration has no region (AWS_REGION)")?
                .to_string(),
        })
    }

    /// Signs the form that uploads exactly `content_type`, 1..=`max_size` bytes, to `key`,
    /// until `expires_at`, with the credentials the SDK uses (on Lambda, the role's temporary
    /// ones, whose session token the form then carries).
    pub async fn presign_post(
        &self,
        key: &str,
        content_type: &str,
        max_size: u64,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<PresignedPost, ApiError> {
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            ApiError::Unavailable(anyhow::anyhow!("no AWS credentials to sign with: {e}"))
        })?;
        let policy = PostPolicy {
            bucket: &self.bucket,
            key,
            content_type,
            max_size,
            expires_at,
            region: &self.region,
            now,
            // The key's prefix is what the lifecycle rule goes by: no tag to set (nor the
            // permission to set one).
            tagging: None,
        };
        Ok(blob::policy::presign(
            &policy,
            &credentials,
            self.endpoint.as_deref(),
        )?)
    }

    /// The object's size and ETag, or `None` when nothing was uploaded to `key`.
    pub async fn head(&self, key: &str) -> Result<Option<Head>, ApiError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Head {
                size: out.content_length().unwrap_or_default(),
                etag: out.e_tag().unwrap_or_default().to_owned(),
            })),
            Err(err) if matches!(err.as_service_error(), Some(HeadObjectError::NotFound(_))) => {
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The first [`SNIFF_BYTES`] of the object, if it still is the one with `etag` (`None` when
    /// it was replaced or deleted since the `HEAD`).
    pub async fn first_bytes(&self, key: &str, etag: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let result = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", SNIFF_BYTES - 1))
            .if_match(etag)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err)
                if matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || err.as_service_error().and_then(|e| e.code())
                        == Some("PreconditionFailed") =>
            {
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("reading the object: {e}")))?
            .into_bytes();
        // A server that ignores Range would send everything: sniff the head only.
        Ok(Some(bytes[..bytes.len().min(SNIFF_BYTES)].to_vec()))
    }

    /// Copies the object at `from` to `to` if it still is the one with `etag` (If-Match on the
    /// source: a replacement posted since is not copied), with `content_type` and no tags.
    /// `false` when `from` changed or is gone.
    pub async fn copy_if_match(
        &self,
        from: &str,
        to: &str,
        etag: &str,
        content_type: &str,
    ) -> Result<bool, ApiError> {
        let result = self
            .s3
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .copy_source_if_match(etag)
            .key(to)
            .metadata_directive(MetadataDirective::Replace)
            .content_type(content_type)
            // REPLACE with no tag set: the copy carries no tag (nor needs a tagging permission).
            .tagging_directive(TaggingDirective::Replace)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error().and_then(|e| e.code()),
                    Some("PreconditionFailed" | "NoSuchKey")
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes the object (S3 answers success for a missing one too).
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        Ok(())
    }

    /// Deletes every object under `prefix` (the copies of one upload: usually one, or none).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), ApiError> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await?;
        for object in listed.contents() {
            if let Some(key) = object.key() {
                self.delete(key).await?;
            }
        }
        Ok(())
    }

    /// A GET URL for `key`, valid for `ttl`, that downloads the file as an attachment named
    /// `filename` with `content_type` (the verified type, whatever else the bytes hold).
    pub async fn download_url(
        &self,
        key: &str,
        filename: &DisplayName,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let presigning = PresigningConfig::expires_in(ttl).context("download URL lifetime")?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(filename.content_disposition())
            .response_content_type(content_type)
            .presigned(presigning)
            .await
            .context("presigning the download")?;
        Ok(request.uri().to_owned())
    }
}
