//! S3 presigned POST (browser-based upload, SigV4): the browser sends the file straight to S3,
//! and S3 itself enforces what this function decided (bucket, exact key, size range, exact
//! Content-Type, expiry), because every one of those is a condition of the signed policy.
//!
//! The Rust SDK has no presigned POST (aws-sdk-rust issue 863), so the policy document is built
//! here and signed with the SDK's own SigV4 primitives. Credentials are passed in per call, from
//! the SDK config's provider, so the Lambda role's temporary credentials (and their session
//! token) work. Reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html>.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The only algorithm S3 accepts for SigV4 POST policies.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The SigV4 service name of S3 (part of the credential scope and the signing key).
const SERVICE: &str = "s3";

/// `expiration`: ISO 8601 with milliseconds and `Z`, the form of AWS's own examples.
const EXPIRATION: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
/// `x-amz-date`: SigV4's basic ISO 8601 timestamp.
const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// The date of the credential scope; it must be the day the signing key is derived for.
const SCOPE_DATE: &[FormatItem<'static>] = format_description!("[year][month][day]");

/// What one upload may be: every field becomes an exact condition of the signed policy.
#[derive(Debug, Clone, Copy)]
pub struct PostPolicy<'a> {
    /// The target bucket.
    pub bucket: &'a str,
    /// The exact object key (never a prefix: the client cannot choose where the object lands).
    pub key: &'a str,
    /// The exact `Content-Type` the form must send (and S3 will store).
    pub content_type: &'a str,
    /// The largest accepted file in bytes (`content-length-range` 1..=max_size: no empty files).
    pub max_size: u64,
    /// When S3 stops accepting this form.
    pub expires_at: OffsetDateTime,
    /// The bucket's region (part of the credential scope and of the default URL).
    pub region: &'a str,
    /// The signing time (`x-amz-date`); passed in so tests are deterministic.
    pub now: OffsetDateTime,
    /// Object tags the form must set (S3's `tagging` field, a `<Tagging>` XML document), e.g.
    /// the tag a lifecycle rule expires never-verified uploads by. `None` for no tags.
    pub tagging: Option<&'a str>,
}

/// A signed form: the browser POSTs `multipart/form-data` to `url` with every field of
/// `fields`, then the file itself last (S3 ignores any field after the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPost {
    /// Where to POST the form.
    pub url: String,
    /// The form fields, by name.
    pub fields: BTreeMap<String, String>,
}

/// Signs a POST policy for `policy` with `credentials`.
///
/// `endpoint` is a local emulator's base URL (path-style: `<endpoint>/<bucket>`); without it the
/// URL is S3's virtual-hosted HTTPS endpoint of the bucket's region. With temporary credentials
/// the form also stops working when they expire, whatever `expires_at` says.
///
/// # Errors
///
/// A `max_size` of zero, an `expires_at` not after `now`, an empty bucket, key, content type or
/// region, or a time that cannot be formatted (years outside 0..=9999).
pub fn presign(
    policy: &PostPolicy,
    credentials: &Credentials,
    endpoint: Option<&str>,
) -> anyhow::Result<PresignedPost> {
    // Each of these would give a form S3 always refuses: better a clear error at signing time.
    if policy.max_size == 0 {
        bail!("max_size must be at least 1 byte");
    }
    if policy.expires_at <= policy.now {
        bail!("expires_at must be after now");
    }
    for (name, value) in [
        ("bucket", policy.bucket),
        ("key", policy.key),
        ("content_type", policy.content_type),
        ("region", policy.region),
    ] {
        if value.is_empty() {
            bail!("{name} must not be empty");
        }
    }

    // Everything in UTC: the scope date and the signing key's date must be the same UTC day.
    let now = policy.now.to_offset(UtcOffset::UTC);
    let expires_at = policy.expires_at.to_offset(UtcOffset::UTC);
    let amz_date = now.format(AMZ_DATE).context("formatting x-amz-date")?;
    let scope_date = now
        .format(SCOPE_DATE)
        .context("formatting the scope date")?;
    let expiration = expires_at
        .format(EXPIRATION)
        .context("formatting expiration")?;
    let credential = format!(
        "{}/{scope_date}/{}/{SERVICE}/aws4_request",
        credentials.access_key_id(),
        policy.region
    );

    // The fields the form sends, each also an exact-match condition (S3 rejects a form field
    // that no condition covers, and a condition that the form does not satisfy).
    let mut fields = BTreeMap::from([
        ("key".to_owned(), policy.key.to_owned()),
        ("Content-Type".to_owned(), policy.content_type.to_owned()),
        ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), amz_date),
    ]);
    // Temporary credentials (always on Lambda) are only valid with their token, which must
    // then be both signed and sent.
    if let Some(tagging) = policy.tagging {
        fields.insert("tagging".to_owned(), tagging.to_owned());
    }
    if let Some(token) = credentials.session_token() {
        fields.insert("x-amz-security-token".to_owned(), token.to_owned());
    }

    // serde_json escapes the values: a key or type cannot inject conditions into the policy.
    let mut conditions = vec![
        json!({ "bucket": policy.bucket }),
        json!(["content-length-range", 1, policy.max_size]),
    ];
    conditions.extend(fields.iter().map(|(name, value)| json!({ name: value })));
    let document = json!({ "expiration": expiration, "conditions": conditions });
    let policy_b64 = STANDARD.encode(serde_json::to_vec(&document)?);

    let signature = sign_policy(
        credentials.secret_access_key(),
        SystemTime::from(now),
        policy.region,
        &policy_b64,
    );
    fields.insert("policy".to_owned(), policy_b64);
    fields.insert("x-amz-signature".to_owned(), signature);

    let url = match endpoint {
        Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), policy.bucket),
        None => format!(
            "https://{}.s3.{}.amazonaws.com/",
            policy.bucket, policy.region
        ),
    };
    Ok(PresignedPost { url, fields })
}

/// The `x-amz-signature` of a POST: the hex HMAC-SHA256 of the base64 policy (the string to
/// sign is the base64 text itself) with the SigV4 signing key of that day, region and `s3`.
fn sign_policy(secret_access_key: &str, at: SystemTime, region: &str, policy_b64: &str) -> String {
    let key = generate_signing_key(secret_access_key, at, region, SERVICE);
    calculate_signature(key, policy_b64.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::Value;
    use time::macros::datetime;

    use super::*;

    /// The published example of <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html>.
    const AWS_POLICY_B64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(AKID, AWS_SECRET, token.map(str::to_owned), None, "test")
    }

    fn policy() -> PostPolicy<'static> {
        PostPolicy {
            bucket: "uploads-bucket",
            key: "users/42/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d",
            content_type: "image/png",
            max_size: 5 * 1024 * 1024,
            expires_at: datetime!(2025-03-04 05:21:07.123 UTC),
            region: "eu-west-1",
            now: datetime!(2025-03-04 05:06:07.890 UTC),
            tagging: None,
        }
    }

    /// The decoded policy document of a presigned post.
    fn document(post: &PresignedPost) -> Value {
        let bytes = STANDARD.decode(&post.fields["policy"]).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn conditions(post: &PresignedPost) -> Vec<Value> {
        document(post)["conditions"].as_array().unwrap().clone()
    }

    /// The value of the exact-match condition `{name: value}`, if exactly one exists.
    fn exact(post: &PresignedPost, name: &str) -> Option<String> {
        let found: Vec<String> = conditions(post)
            .iter()
            .filter_map(|c| c.as_object())
            .filter_map(|c| c.get(name))
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(found.len() <= 1, "{name} is bound more than once");
        found.into_iter().next()
    }

    #[test]
    fn the_published_aws_policy_is_signed_to_the_published_signature() {
        let decoded = STANDARD.decode(AWS_POLICY_B64).unwrap();
        assert_eq!(decoded.len(), 648);
        assert_eq!(decoded.windows(2).filter(|w| w == b"\r\n").count(), 15);
        assert!(
            !decoded
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && decoded[i - 1] != b'\r')
        );

        let at = UNIX_EPOCH + Duration::from_secs(1_451_347_200); // 2015-12-29T00:00:00Z
        let key = generate_signing_key(AWS_SECRET, at, "us-east-1", "s3");
        assert_eq!(
            hex(key.as_ref()),
            "cbcef1ebeaefc82cce6530b9f0a9ae598846065f5c5bae0674bd5ebc4ba52d28"
        );
        assert_eq!(
            sign_policy(AWS_SECRET, at, "us-east-1", AWS_POLICY_B64),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    #[test]
    fn the_policy_binds_bucket_exact_key_size_range_and_exact_content_type() {
        let post = presign(&policy(), &credentials(None), None).unwrap();
        assert_eq!(exact(&post, "bucket").as_deref(), Some("uploads-bucket"));
        assert_eq!(
            exact(&post, "key").as_deref(),
            Some("users/42/0190a7c2-3f1e-7c4a-9b1d-2e6f8a9b0c1d")
        );
        assert_eq!(exact(&post, "Content-Type").as_deref(), Some("image/png"));
        let ranges: Vec<Value> = conditions(&post)
            .into_iter()
            .filter(|c| c.get(0).and_then(Value::as_str) == Some("content-length-range"))
            .collect();
        assert_eq!(
            ranges,
            vec![json!(["content-length-range", 1, 5 * 1024 * 1024])]
        );
    }

    #[test]
    fn the_policy_binds_algorithm_credential_scope_date_and_expiration() {
        let post = presign(&policy(), &credentials(None), None).unwrap();
        assert_eq!(
            exact(&post, "x-amz-algorithm").as_deref(),
            Some("AWS4-HMAC-SHA256")
        );
        assert_eq!(
            exact(&post, "x-amz-credential").as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE/20250304/eu-west-1/s3/aws4_request")
        );
        assert_eq!(
            exact(&post, "x-amz-date").as_deref(),
            Some("20250304T050607Z")
        );
        assert_eq!(document(&post)["expiration"], "2025-03-04T05:21:07.123Z");
    }

    #[test]
    fn the_policy_has_no_starts_with_condition() {
        let post = presign(&policy(), &credentials(Some("token")), None).unwrap();
        let text = String::from_utf8(STANDARD.decode(&post.fields["policy"]).unwrap()).unwrap();
        assert!(!text.contains("starts-with"), "{text}");
        // Every condition is an exact match but the size range.
        for condition in conditions(&post) {
            if let Some(array) = condition.as_array() {
                assert_eq!(array[0], "content-length-range", "{condition}");
            }
        }
    }

    #[test]
    fn every_form_field_but_policy_and_signature_is_an_exact_condition() {
        let post = presign(&policy(), &credentials(Some("token")), None).unwrap();
        for (name, value) in &post.fields {
            if name != "policy" && name != "x-amz-signature" {
                assert_eq!(exact(&post, name).as_ref(), Some(value), "{name}");
            }
        }
        let names: Vec<&str> = post.fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "key",
                "policy",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-security-token",
                "x-amz-signature",
            ]
        );
    }

    #[test]
    fn a_session_token_is_both_a_condition_and_a_field() {
        let post = presign(&policy(), &credentials(Some("FwoGZXIvYXdzE+/=")), None).unwrap();
        assert_eq!(
            exact(&post, "x-amz-security-token").as_deref(),
            Some("FwoGZXIvYXdzE+/=")
        );
        assert_eq!(post.fields["x-amz-security-token"], "FwoGZXIvYXdzE+/=");
    }

    #[test]
    fn tags_are_both_a_condition_and_a_field_when_asked_for() {
        let tagging = "<Tagging><TagSet><Tag><Key>upload-state</Key><Value>pending</Value></Tag></TagSet></Tagging>";
        let post = presign(
            &PostPolicy {
                tagging: Some(tagging),
                ..policy()
            },
            &credentials(None),
            None,
        )
        .unwrap();
        assert_eq!(exact(&post, "tagging").as_deref(), Some(tagging));
        assert_eq!(post.fields["tagging"], tagging);
        let untagged = presign(&policy(), &credentials(None), None).unwrap();
        assert_eq!(exact(&untagged, "tagging"), None);
        assert!(!untagged.fields.contains_key("tagging"));
    }

    #[test]
    fn without_a_session_token_there_is_no_token_condition_or_field() {
        let post = presign(&policy(), &credentials(None), None).unwrap();
        assert_eq!(exact(&post, "x-amz-security-token"), None);
        assert!(!post.fields.contains_key("x-amz-security-token"));
        let text = String::from_utf8(STANDARD.decode(&post.fields["policy"]).unwrap()).unwrap();
        assert!(!text.contains("x-amz-security-token"));
    }

    #[test]
    fn the_signature_field_matches_a_recomputation_over_the_policy_field() {
        let post = presign(&policy(), &credentials(Some("token")), None).unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_741_064_767); // 2025-03-04T05:06:07Z
        let key = generate_signing_key(AWS_SECRET, at, "eu-west-1", "s3");
        let expected = calculate_signature(key, post.fields["policy"].as_bytes());
        assert_eq!(post.fields["x-amz-signature"], expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn times_at_another_offset_are_signed_and_bound_in_utc() {
        // 01:30 at +02:00 is still the previous day in UTC: scope date, x-amz-date, the signing
        // key's day and expiration must all agree on it.
        let post = presign(
            &PostPolicy {
                now: datetime!(2025-03-05 01:30:00 +02:00),
                expires_at: datetime!(2025-03-05 01:45:00 +02:00),
                ..policy()
            },
            &credentials(None),
            None,
        )
        .unwrap();
        assert_eq!(
            exact(&post, "x-amz-credential").as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE/20250304/eu-west-1/s3/aws4_request")
        );
        assert_eq!(
            exact(&post, "x-amz-date").as_deref(),
            Some("20250304T233000Z")
        );
        assert_eq!(document(&post)["expiration"], "2025-03-04T23:45:00.000Z");
        let key = generate_signing_key(
            AWS_SECRET,
            UNIX_EPOCH + Duration::from_secs(1_741_131_000),
            "eu-west-1",
            "s3",
        );
        assert_eq!(
            post.fields["x-amz-signature"],
            calculate_signature(key, post.fields["policy"].as_bytes())
        );
    }

    #[test]
    fn values_are_json_escaped_and_cannot_add_conditions() {
        let key = r#"a"}, ["starts-with", "$key", ""], {"b": "c"#;
        let post = presign(&PostPolicy { key, ..policy() }, &credentials(None), None).unwrap();
        assert_eq!(exact(&post, "key").as_deref(), Some(key));
        assert_eq!(conditions(&post).len(), 7);
    }

    #[test]
    fn the_url_is_virtual_hosted_https_without_an_endpoint() {
        let post = presign(&policy(), &credentials(None), None).unwrap();
        assert_eq!(
            post.url,
            "https://uploads-bucket.s3.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn the_url_is_path_style_with_an_endpoint() {
        for endpoint in ["http://localhost:4566", "http://localhost:4566/"] {
            let post = presign(&policy(), &credentials(None), Some(endpoint)).unwrap();
            assert_eq!(post.url, "http://localhost:4566/uploads-bucket");
        }
    }

    #[test]
    fn forms_that_s3_would_always_refuse_are_not_signed() {
        let creds = credentials(None);
        let cases = [
            PostPolicy {
                max_size: 0,
                ..policy()
            },
            PostPolicy {
                expires_at: policy().now,
                ..policy()
            },
            PostPolicy {
                bucket: "",
                ..policy()
            },
            PostPolicy {
                key: "",
                ..policy()
            },
            PostPolicy {
                content_type: "",
                ..policy()
            },
            PostPolicy {
                region: "",
                ..policy()
            },
        ];
        for case in cases {
            assert!(presign(&case, &creds, None).is_err(), "{case:?}");
        }
    }
}
