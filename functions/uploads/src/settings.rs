//! What uploads accept, and for how long their URLs work: read once from the environment.

use std::time::Duration;

use shared::{Env, config::ConfigError};

/// The uploads rules (README "Uploads" lists the variables and defaults).
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// Content types accepted, lowercase (`UPLOAD_ALLOWED_TYPES`, comma-separated). Only types
    /// whose magic bytes `blob::sniff` can prove: anything else could never be completed.
    pub allowed_types: Vec<String>,
    /// Largest file in bytes (`UPLOAD_MAX_BYTES`, default 10 MiB).
    pub max_bytes: u64,
    /// How long the presigned POST form works (`UPLOAD_FORM_TTL_SECS`, default 5 min): only as
    /// long as a client needs to start posting it, since until then a deleted upload stays
    /// counted (the form could still store a file) and a re-posted form can still write.
    pub form_ttl: Duration,
    /// How long after the form expires a pending upload may still be completed, and then
    /// disappears (`UPLOAD_PENDING_GRACE_SECS`, default 1 h). The record's TTL is the sum.
    pub pending_grace: Duration,
    /// How long a download URL works (`DOWNLOAD_URL_TTL_SECS`, default 5 min).
    pub download_url_ttl: Duration,
    /// Files per user, pending ones included (`UPLOAD_QUOTA_FILES`, default 100).
    pub quota_files: i64,
    /// Bytes per user, pending ones counted at their declared size (`UPLOAD_QUOTA_BYTES`,
    /// default 1 GiB).
    pub quota_bytes: i64,
}

/// 10 MiB.
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// 5 minutes: time for a browser to start posting the form it was just given.
const DEFAULT_FORM_TTL_SECS: u64 = 300;
/// S3's largest single POST is 5 GiB.
const S3_POST_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// A presigned URL signed with the Lambda role's temporary credentials stops working when they
/// expire, whatever it says; 12 h is longer than any of them lives.
const LONGEST_URL_SECS: u64 = 12 * 3600;

impl UploadSettings {
    /// Reads and checks every `UPLOAD_*` variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let allowed_types = match env.string("UPLOAD_ALLOWED_TYPES") {
            None => blob::sniff::DEFAULT_ALLOWED
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            Some(list) => parse_types(&list)?,
        };
        Ok(Self {
            allowed_types,
            max_bytes: env.num("UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES, 1, S3_POST_LIMIT)?,
            form_ttl: Duration::from_secs(env.num(
                "UPLOAD_FORM_TTL_SECS",
                DEFAULT_FORM_TTL_SECS,
                10,
                LONGEST_URL_SECS,
            )?),
            pending_grace: Duration::from_secs(env.num(
                "UPLOAD_PENDING_GRACE_SECS",
                3600,
                0,
                7 * 86_400,
            )?),
            download_url_ttl: Duration::from_secs(env.num(
                "DOWNLOAD_URL_TTL_SECS",
                300,
                10,
                LONGEST_URL_SECS,
            )?),
            quota_files: env.num("UPLOAD_QUOTA_FILES", 100, 1, 1_000_000)?,
            quota_bytes: env.num(
                "UPLOAD_QUOTA_BYTES",
                1024 * 1024 * 1024,
                1,
                1 << 50, // 1 PiB: far past anything, far below i64 overflow
            )?,
        })
    }

    /// The allowed type `declared` names (compared without case), as stored and signed.
    pub fn allowed(&self, declared: &str) -> Option<&str> {
        self.allowed_types
            .iter()
            .find(|t| t.eq_ignore_ascii_case(declared))
            .map(String::as_str)
    }
}

/// `image/png, application/pdf` -> lowercase types, each one magic bytes can prove.
fn parse_types(list: &str) -> Result<Vec<String>, ConfigError> {
    let types: Vec<String> = list
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if types.is_empty() {
        return Err(ConfigError::new(
            "UPLOAD_ALLOWED_TYPES",
            "must name at least one type",
        ));
    }
    if let Some(unprovable) = types.iter().find(|t| !blob::sniff::provable(t)) {
        return Err(ConfigError::new(
            "UPLOAD_ALLOWED_TYPES",
            format!("{unprovable} cannot be verified by its magic bytes"),
        ));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_provable_image_and_pdf_types_and_10_mib() {
        let settings = UploadSettings::from_env(&Env::from_pairs(&[])).unwrap();
        assert_eq!(
            settings.allowed_types,
            [
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "application/pdf"
            ]
        );
        assert_eq!(settings.max_bytes, 10 * 1024 * 1024);
        assert_eq!(settings.form_ttl, Duration::from_secs(300));
        assert_eq!(settings.download_url_ttl, Duration::from_secs(300));
    }

    #[test]
    fn allowed_types_are_read_without_case_and_matched_without_case() {
        let env = Env::from_pairs(&[("UPLOAD_ALLOWED_TYPES", " Image/PNG ,application/pdf,")]);
        let settings = UploadSettings::from_env(&env).unwrap();
        assert_eq!(settings.allowed_types, ["image/png", "application/pdf"]);
        assert_eq!(settings.allowed("IMAGE/png"), Some("image/png"));
        assert_eq!(settings.allowed("image/jpeg"), None);
    }

    #[test]
    fn a_type_magic_bytes_cannot_prove_is_refused_at_start_up() {
        for list in ["text/html", "image/png,text/plain", " , "] {
            let env = Env::from_pairs(&[("UPLOAD_ALLOWED_TYPES", list)]);
            let err = UploadSettings::from_env(&env).unwrap_err();
            assert_eq!(err.var, "UPLOAD_ALLOWED_TYPES", "{list}");
        }
    }

    #[test]
    fn sizes_and_lifetimes_out_of_range_are_refused_at_start_up() {
        for (var, value) in [
            ("UPLOAD_MAX_BYTES", "0"),
            ("UPLOAD_MAX_BYTES", "6000000000"),
            ("UPLOAD_FORM_TTL_SECS", "50000"),
            ("UPLOAD_FORM_TTL_SECS", "9"),
            ("DOWNLOAD_URL_TTL_SECS", "1"),
            ("UPLOAD_QUOTA_FILES", "0"),
            ("UPLOAD_QUOTA_BYTES", "-1"),
        ] {
            let err = UploadSettings::from_env(&Env::from_pairs(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
        }
    }
}
