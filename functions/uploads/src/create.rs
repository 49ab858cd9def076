//! `POST /api/v1/uploads`: checks what the client declares, reserves it in the quota, and signs
//! the form that lets the browser send exactly that to S3.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use blob::filename::DisplayName;
use identity::AuthUser;
use serde::Deserialize;
use shared::clock::rfc3339;
use shared::{
    ApiError, ErrorCode, Routes,
    error::FieldError,
    extract::{Json, Validate, failures},
};
use time::OffsetDateTime;

use crate::{
    body::{CreatedUpload, UploadForm},
    record::{Status, Upload, pending_key},
    state::UploadsContext,
    store::{Created, Quota},
};

/// `POST /`.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new().post("/api/v1/uploads", create)
}

/// What the client says it will upload. Nothing else is accepted.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUpload {
    #[schema(schema_with = filename_schema)]
    filename: String,
    #[schema(schema_with = content_type_schema)]
    content_type: String,
    /// Bytes, at least 1 and at most `UPLOAD_MAX_BYTES` (the schema's maximum is its default):
    /// the form's upper bound.
    #[serde(deserialize_with = "whole_bytes")]
    #[schema(minimum = 1, maximum = 10485760)]
    size: u64,
}

/// A whole number of bytes, also when written with a zero fraction (`2.0`): JSON Schema's
/// `integer`, which the document says, counts it as one.
fn whole_bytes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of bytes")
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<u64, E> {
            // Whole and within what an f64 holds exactly: any size past that is refused later
            // as too large all the same.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && (0.0..=EXACT).contains(&v) {
                format!("{v:.0}")
                    .parse()
                    .map_err(|_| E::invalid_value(Unexpected::Float(v), &self))
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    deserializer.deserialize_u64(Whole)
}

/// `filename`'s rule ([`DisplayName::parse`]) as a pattern: trimmed, no control, format or
/// line-separator character left, and its last path segment (after the last `/` or `\`),
/// trimmed again, neither empty nor `.` nor `..`. A long name is shortened, not refused.
fn filename_pattern() -> String {
    use shared::openapi::chars::{CONTROL, FORMAT, SPACE};
    // The white space a name may hold inside: none of it a control or a line separator.
    let inner = r"\x20\xA0\u1680\u2000-\u200A\u202F\u205F\u3000";
    let bad = format!(r"{CONTROL}{FORMAT}\u2028\u2029");
    // The last segment: something besides white space and dots, or dots that trimmed are
    // neither `.` nor `..` (three or more, or two apart).
    let segment = format!(
        r"(?:[^{bad}/\\]*[^{inner}.{bad}/\\][^{bad}/\\]*|[{inner}]*\.[{inner}]*\.[{inner}]*\.[{inner}.]*|[{inner}]*\.[{inner}]+\.[{inner}]*)"
    );
    format!(r"^[{SPACE}]*(?:[^{bad}]*[/\\])?{segment}[{SPACE}]*$")
}

fn filename_schema() -> utoipa::openapi::schema::Object {
    shared::openapi::text(
        &filename_pattern(),
        "Display only: its last path segment (after `/` or `\\`), trimmed, at most 255 bytes \
         (a longer name is shortened, keeping its extension); no control, format or line \
         separator character; not empty, `.` or `..`.",
        false,
    )
}

/// `content_type`: one of `UPLOAD_ALLOWED_TYPES`, whose default the schema lists (matched
/// without case, surrounding white space trimmed).
fn content_type_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(blob::sniff::DEFAULT_ALLOWED.iter().copied()))
        .description(Some(
            "One of `UPLOAD_ALLOWED_TYPES` (default: the values listed), matched without case; \
             parameters are not accepted.",
        ))
        .build()
}

impl CreateUpload {
    /// `filename`, `size` and `content_type` by their rules (one 422 naming each that breaks
    /// one): the display name and the trimmed content type. Whether the type and the size are
    /// allowed (415, 413) is the handler's next question.
    fn check(&self) -> Result<(DisplayName, &str), ApiError> {
        let mut errors = Vec::new();
        let filename = DisplayName::parse(&self.filename)
            .map_err(|msg| errors.push(FieldError::new(&["body", "filename"], msg, "value_error")))
            .ok();
        if self.size == 0 {
            errors.push(FieldError::new(
                &["body", "size"],
                "size must be at least 1 byte",
                "value_error.range",
            ));
        }
        let content_type = self.content_type.trim();
        if content_type.is_empty() {
            errors.push(FieldError::new(
                &["body", "content_type"],
                "content_type must not be empty",
                "value_error",
            ));
        }
        match filename.filter(|_| errors.is_empty()) {
            Some(filename) => Ok((filename, content_type)),
            None => Err(ApiError::Validation(errors)),
        }
    }
}

impl Validate for CreateUpload {
    fn rule_errors(&self) -> Vec<FieldError> {
        failures(self.check())
    }
}

/// Signs a form that uploads exactly the declared file to S3, and records it `pending`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", security(("bearer" = [])),
    request_body = CreateUpload,
    responses(
        (status = 201, description = "Post the form's fields, then the file, to `upload.url`", body = CreatedUpload),
        (status = 409, description = "Quota reached (`UPLOAD_QUOTA_EXCEEDED`)", body = shared::openapi::ErrorEnvelope),
        (status = 413, description = "`size` over the limit (`UPLOAD_TOO_LARGE`), or a body over the size limit", body = shared::openapi::ErrorEnvelope),
        (status = 415, description = "`content_type` not allowed (`UPLOAD_TYPE_NOT_ALLOWED`), or a body that is not JSON", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn create(
    State(ctx): State<Arc<UploadsContext>>,
    user: AuthUser,
    Json(body): Json<CreateUpload>,
) -> Result<(StatusCode, Json<CreatedUpload>), ApiError> {
    let settings = &ctx.settings;
    // Shape first (422), then the rules a valid request can still break (415, 413).
    let (filename, content_type) = body.check()?;
    let content_type = settings
        .allowed(content_type)
        .ok_or(ErrorCode::UploadTypeNotAllowed)?
        .to_owned();
    if body.size > settings.max_bytes {
        return Err(ErrorCode::UploadTooLarge.into());
    }
    // At most S3's 5 GiB POST limit (settings), so it fits an i64.
    let size = i64::try_from(body.size).map_err(|_| ErrorCode::UploadTooLarge)?;
    // What is due goes first, so its quota share is back before this one is counted.
    ctx.sweep(&user.user.id).await;

    // Whole seconds: the form's times and the record's say the same instant.
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let form_expires = now + settings.form_ttl;
    let id = uuid::Uuid::now_v7().to_string();
    let record = Upload {
        owner_id: user.user.id.clone(),
        filename,
        content_type,
        declared_size: size,
        status: Status::Pending,
        size: None,
        etag: None,
        file: None,
        counted_bytes: size,
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
        upload_expires_at: rfc3339(form_expires),
        expires_at: Some((form_expires + settings.pending_grace).unix_timestamp()),
        // Creating it is its first write.
        version: 1,
        id,
    };
    let quota = Quota {
        files: settings.quota_files,
        bytes: settings.quota_bytes,
    };
    // Signed before the record is stored: a signing failure then leaves nothing behind, while a
    // store failure leaves a form the client never received.
    let post = ctx
        .objects
        .presign_post(
            &pending_key(&record.owner_id, &record.id),
            &record.content_type,
            body.size,
            now,
            form_expires,
        )
        .await?;
    if ctx.store.create(&record, quota).await? == Created::OverQuota {
        return Err(ErrorCode::UploadQuotaExceeded.into());
    }
    Ok((
        StatusCode::CREATED,
        Json(CreatedUpload {
            id: record.id,
            upload: UploadForm {
                method: "POST",
                url: post.url,
                fields: post.fields,
            },
            expires_at: record.upload_expires_at,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::{RefOr, schema::Schema};

    #[test]
    fn the_schemas_largest_size_is_the_default_upload_max_bytes() {
        let defaults =
            crate::settings::UploadSettings::from_env(&shared::Env::from_pairs(&[])).unwrap();
        let RefOr::T(Schema::Object(body)) = <CreateUpload as utoipa::PartialSchema>::schema()
        else {
            panic!("an object schema")
        };
        let Some(RefOr::T(Schema::Object(size))) = body.properties.get("size") else {
            panic!("a size property")
        };
        let maximum = match size.maximum {
            Some(utoipa::Number::Int(n)) => u64::try_from(n).unwrap(),
            Some(utoipa::Number::UInt(n)) => u64::try_from(n).unwrap(),
            _ => panic!("an integer maximum"),
        };
        assert_eq!(maximum, defaults.max_bytes);
    }
}
