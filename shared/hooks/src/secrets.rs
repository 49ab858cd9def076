//! The webhook secrets document (one Secrets Manager value), parsed and checked once at cold
//! start so that a bad secret is a configuration error then, not a 401 on every delivery.
//!
//! Its shape, every key optional:
//!
//! ```json
//! {
//!   "github": ["<secret>", "<secret>"],
//!   "stripe": ["whsec_…"],
//!   "standard": {"<source>": ["whsec_<base64>"]},
//!   "rsa": {"<source>": ["-----BEGIN PUBLIC KEY-----\n…"]}
//! }
//! ```
//!
//! A single string is accepted wherever a list is, so the one-secret form in use today
//! (`{"github": "…", "stripe": "whsec_…"}`) keeps parsing; a list is how a secret is rotated
//! (old and new side by side). A missing key or `null` is an empty list, which makes that
//! provider refuse every delivery; unknown top-level keys are ignored so that a newer document
//! does not break an older function.
//!
//! **Placeholders.** A value that is empty (or only whitespace) or that contains `replace_me`
//! in any case ([`is_placeholder`]: `whsec_replace_me`, `REPLACE_ME`) is never a key: anyone
//! who read the template or the docs could sign with it. A source named in the document
//! (`github`, `stripe`, `standard.<source>`, `rsa.<source>`) with no other value is *not
//! configured* ([`WebhookSecrets::unconfigured`]): the webhooks function answers its deliveries
//! 503 and readiness names it, where a source the document does not name at all is simply
//! refused (401). Beside a real value, a placeholder is dropped and the real value used.
//!
//! Errors name the entry (`stripe[1]`, `rsa.partner`) and never quote its value: serde's own
//! messages can embed the offending string, so the document is walked as a
//! [`serde_json::Value`] instead of deserialized into types.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::{KeyError, rsa, standard};

/// Every configured webhook secret and public key.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// GitHub webhook secrets.
    pub github: Vec<SecretString>,
    /// Stripe endpoint secrets (`whsec_…`, used whole as HMAC keys).
    pub stripe: Vec<SecretString>,
    /// Standard Webhooks secrets (`whsec_<base64>`) per source name; every one decodes.
    pub standard: BTreeMap<String, Vec<SecretString>>,
    /// RSA public keys (PEM) per source name; every one parses as a usable RSA key.
    pub rsa: BTreeMap<String, Vec<String>>,
    /// The sources the document names with only empty or placeholder values, as deliveries
    /// name them (`github`, `stripe`, `standard:<source>`, `rsa:<source>`): not configured.
    /// Their lists above are empty (`standard` and `rsa` leave them out).
    pub unconfigured: BTreeSet<String>,
}

/// What every placeholder contains, compared without regard to ASCII case.
pub const PLACEHOLDER_MARK: &str = "replace_me";

/// Whether `value` stands for "no secret yet": empty or only whitespace, or containing
/// [`PLACEHOLDER_MARK`] in any case (`whsec_replace_me`, `REPLACE_ME`). Such a value is never
/// used as a key.
pub fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || value
            .as_bytes()
            .windows(PLACEHOLDER_MARK.len())
            .any(|window| window.eq_ignore_ascii_case(PLACEHOLDER_MARK.as_bytes()))
}

/// Why the secrets document was refused. The messages name entries, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// The document is not JSON.
    #[error("the webhook secrets are not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The document is JSON but not an object.
    #[error("the webhook secrets must be a JSON object")]
    NotAnObject,
    /// An entry that should be a string or a list of strings is something else.
    #[error("webhook secrets: `{entry}` must be a string or a list of strings")]
    NotStrings {
        /// The entry, such as `github` or `standard.svix`.
        entry: String,
    },
    /// `standard` or `rsa` is not an object of sources.
    #[error("webhook secrets: `{entry}` must be an object keyed by source name")]
    NotSources {
        /// `standard` or `rsa`.
        entry: String,
    },
    /// A secret or key is unusable.
    #[error("webhook secrets: `{entry}`: {error}")]
    Key {
        /// The entry, such as `stripe[1]` or `rsa.partner[0]`.
        entry: String,
        /// What is wrong with it.
        error: KeyError,
    },
}

impl WebhookSecrets {
    /// Parses and checks the secrets document (see the [module docs](self)).
    ///
    /// # Errors
    /// [`SecretsError`] if the document is not of that shape, or if a Standard Webhooks
    /// secret is not base64, or a PEM is not a usable RSA public key. Empty and placeholder
    /// values are not errors: they leave their source [not configured](Self::unconfigured).
    pub fn parse(json: &str) -> Result<Self, SecretsError> {
        let document: Value = serde_json::from_str(json).map_err(|error| SecretsError::Syntax {
            line: error.line(),
            column: error.column(),
        })?;
        let Value::Object(document) = document else {
            return Err(SecretsError::NotAnObject);
        };
        let mut unconfigured = BTreeSet::new();
        let mut secrets = Self {
            github: hmac_secrets(&document, "github", &mut unconfigured)?,
            stripe: hmac_secrets(&document, "stripe", &mut unconfigured)?,
            ..Self::default()
        };
        secrets.unconfigured = unconfigured;
        for (source, value) in sources(&document, "standard")? {
            let Some(values) = configured(Some(value), &format!("standard.{source}"))? else {
                continue;
            };
            if values.is_empty() {
                secrets.unconfigured.insert(format!("standard:{source}"));
                continue;
            }
            let mut list = Vec::new();
            for (entry, secret) in values {
                standard::decode_secret(secret)
                    .map_err(|error| SecretsError::Key { entry, error })?;
                list.push(SecretString::from(secret));
            }
            secrets.standard.insert(source.clone(), list);
        }
        for (source, value) in sources(&document, "rsa")? {
            let Some(values) = configured(Some(value), &format!("rsa.{source}"))? else {
                continue;
            };
            if values.is_empty() {
                secrets.unconfigured.insert(format!("rsa:{source}"));
                continue;
            }
            let mut list = Vec::new();
            for (entry, pem) in values {
                rsa::parse_public_key(pem).map_err(|error| SecretsError::Key { entry, error })?;
                list.push(pem.to_owned());
            }
            secrets.rsa.insert(source.clone(), list);
        }
        Ok(secrets)
    }
}

/// The secrets under top-level `key` (GitHub's and Stripe's, for which any string that is not
/// a placeholder is a key); `key` goes to `unconfigured` when it names only placeholders.
fn hmac_secrets(
    document: &Map<String, Value>,
    key: &str,
    unconfigured: &mut BTreeSet<String>,
) -> Result<Vec<SecretString>, SecretsError> {
    let Some(values) = configured(document.get(key), key)? else {
        // Absent or null: the provider is not used, which is not worth reporting.
        return Ok(Vec::new());
    };
    if values.is_empty() {
        unconfigured.insert(key.to_owned());
    }
    Ok(values
        .into_iter()
        .map(|(_, secret)| SecretString::from(secret))
        .collect())
}

/// The usable values of one source's entry, each with the name its errors use: `None` when
/// the entry is absent or `null` (the source is not used), an empty list when every value is
/// empty or a placeholder (the source is not configured).
fn configured<'v>(
    value: Option<&'v Value>,
    entry: &str,
) -> Result<Option<Vec<(String, &'v str)>>, SecretsError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Ok(Some(
            strings(value, entry)?
                .into_iter()
                .filter(|(_, text)| !is_placeholder(text))
                .collect(),
        )),
    }
}

/// The `(source name, value)` pairs of top-level object `key`.
fn sources<'d>(
    document: &'d Map<String, Value>,
    key: &str,
) -> Result<Vec<(&'d String, &'d Value)>, SecretsError> {
    match document.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(sources)) => Ok(sources.iter().collect()),
        Some(_) => Err(SecretsError::NotSources {
            entry: key.to_owned(),
        }),
    }
}

/// The strings of a string-or-list `value` at `entry`, each with the name its errors use
/// (`entry` for a single string, `entry[i]` in a list).
fn strings<'v>(value: &'v Value, entry: &str) -> Result<Vec<(String, &'v str)>, SecretsError> {
    Ok(match value {
        Value::Null => Vec::new(),
        Value::String(single) => vec![(entry.to_owned(), single.as_str())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => Ok((format!("{entry}[{index}]"), text.as_str())),
                _ => Err(SecretsError::NotStrings {
                    entry: format!("{entry}[{index}]"),
                }),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(SecretsError::NotStrings {
                entry: entry.to_owned(),
            });
        }
    })
}

#[cfg(test)]
mod tests;
