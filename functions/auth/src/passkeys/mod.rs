//! Passkeys (WebAuthn Level 3, discoverable credentials, user verification required): register
//! one while logged in, log in with one and no password, and list, rename or delete mine.
//!
//! Verification is the `webauthn_rp` crate's (pure Rust: RustCrypto P-256, P-384, Ed25519 and
//! RSA, so the arm64 cross build needs no OpenSSL). Options go out in the Level 3 JSON form that
//! `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` take, and
//! the finish routes take `credential.toJSON()` as the browser sends it. Lambdas share no
//! memory, so a started ceremony's state waits in DynamoDB, keyed by its challenge, until its
//! finish takes it out, once.

pub(crate) mod login;
pub(crate) mod manage;
pub(crate) mod register;
pub mod settings;
pub mod store;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use shared::{ApiError, AppState, ConfigError, Env, Routes, Table, extract::Validate};
use webauthn_rp::{bin::Decode, request::register::UserHandle16, response::AuthTransports};

pub use settings::PasskeySettings;
use store::{PasskeyStore, StoredPasskey};

/// The relying party's settings and the passkeys table; cheap to clone.
#[derive(Debug, Clone)]
pub struct Passkeys(Arc<Parts>);

/// What [`Passkeys`] holds.
#[derive(Debug)]
pub struct Parts {
    /// The relying party.
    pub settings: PasskeySettings,
    /// Credentials and ceremony state.
    pub store: PasskeyStore,
}

impl std::ops::Deref for Passkeys {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Passkeys {
    /// From `env`, and `PASSKEYS_TABLE` as the core configuration read it (readiness describes
    /// the same table); no network call.
    pub fn from_env(app: &AppState, env: &Env) -> Result<Self, ConfigError> {
        let settings = PasskeySettings::from_env(env)?;
        let table = app.config.require_table(Table::Passkeys)?.to_owned();
        let store = PasskeyStore::new(app.dynamo.clone(), table);
        Ok(Self(Arc::new(Parts { settings, store })))
    }
}

/// Every passkey route.
pub fn routes() -> Routes<crate::state::State> {
    register::routes()
        .merge(login::routes())
        .merge(manage::routes())
}

/// Options for the browser, in the form `parse*OptionsFromJSON` takes under `publicKey`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CeremonyOptions {
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`
    /// (WebAuthn Level 3): every binary field base64url without padding.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

/// `credential.toJSON()` of a `PublicKeyCredential`, as the browser made it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct CredentialJson(serde_json::Value);

/// Read by the crate, which answers what is wrong with it.
impl Validate for CredentialJson {}

impl CredentialJson {
    fn bytes(&self) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(&self.0).map_err(|e| ApiError::Internal(e.into()))
    }
}

/// A 422 at `loc` for a credential the crate could not read (the reason is the parser's).
fn unreadable(loc: &[&str], err: &dyn std::fmt::Display) -> ApiError {
    ApiError::invalid_field(
        loc,
        format!("not a WebAuthn credential as credential.toJSON() makes it: {err}"),
        "value_error",
    )
}

/// A registered passkey, as its owner sees it (the public key itself stays server-side).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyBody {
    /// The credential id, base64url without padding.
    id: String,
    /// The label.
    name: String,
    /// The public key's COSE algorithm: `ES256`, `ES384`, `EdDSA` or `RS256`.
    algorithm: String,
    /// How the authenticator is reached (`internal`, `hybrid`, `usb`, `nfc`, `ble`...).
    transports: Vec<String>,
    /// The authenticator's signature counter as last seen (0: the authenticator keeps none).
    sign_count: i64,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; `null` until a login with it.
    last_used_at: Option<String>,
}

impl From<&StoredPasskey> for PasskeyBody {
    fn from(p: &StoredPasskey) -> Self {
        let transports = AuthTransports::decode(p.transports)
            .ok()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default();
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            algorithm: p.algorithm.clone(),
            transports,
            sign_count: p.sign_count,
            created_at: p.created_at.clone(),
            last_used_at: p.last_used_at.clone(),
        }
    }
}

/// The WebAuthn user handle of a user: the 16 bytes of its UUID (no personal data, as the
/// spec asks).
fn user_handle(user_id: &str) -> Result<UserHandle16, ApiError> {
    let uuid = uuid::Uuid::parse_str(user_id)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("user id is not a UUID: {e}")))?;
    UserHandle16::decode(*uuid.as_bytes()).map_err(|e| match e {})
}

/// The user id a user handle stands for (the login checks the handle through the crate).
#[cfg(test)]
fn user_id_of(handle: &UserHandle16) -> String {
    let bytes = webauthn_rp::bin::Encode::encode(handle).unwrap_or_else(|e| match e {});
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// The key a ceremony's state is stored under.
fn challenge_key(challenge: webauthn_rp::response::SentChallenge) -> String {
    format!("{:032x}", challenge.0)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A credential id as a path segment: base64url of at most 1,023 bytes (the spec's maximum);
/// anything else cannot name a passkey.
fn is_credential_id(id: &str) -> bool {
    (1..=1_364).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The OpenAPI schemas of a passkey label, so the document refuses what [`check_name`] refuses.
pub(crate) mod name_schema {
    use shared::openapi::{chars, text};
    use utoipa::openapi::schema::Object;

    const DESCRIPTION: &str = "1-64 characters once trimmed; no control character.";

    /// White space around it, then 1-64 characters that are not control characters, the first
    /// and last not white space either (what `str::trim` leaves).
    pub(crate) fn pattern() -> String {
        let space = chars::SPACE;
        let bad = chars::CONTROL;
        format!("^[{space}]*[^{space}{bad}](?:[^{bad}]{{0,62}}[^{space}{bad}])?[{space}]*$")
    }

    /// `name` of a rename (required).
    pub(crate) fn required() -> Object {
        text(&pattern(), DESCRIPTION, false)
    }

    /// `name` at registration (`Passkey` when absent or null).
    pub(crate) fn optional() -> Object {
        text(&pattern(), DESCRIPTION, true)
    }
}

/// Whether [`check_name`] accepts a label (for the contract test, which holds the document's
/// pattern against it).
pub fn is_valid_name(name: &str) -> bool {
    check_name(name, &["name"]).is_ok()
}

/// A passkey label: 1-64 characters after trimming, no control characters.
fn check_name(name: &str, loc: &[&str]) -> Result<String, ApiError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            loc,
            "must be 1-64 characters, without control characters",
            "value_error",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_handle_is_the_uuid_and_maps_back_to_the_same_id() {
        let id = uuid::Uuid::new_v4().to_string();
        let handle = user_handle(&id).unwrap();
        assert_eq!(user_id_of(&handle), id);
        assert!(user_handle("not-a-uuid").is_err());
    }

    #[tokio::test]
    async fn the_passkeys_table_is_required() {
        let app = |pairs: &[(&str, &str)]| {
            let config = shared::Config::from_env(&Env::from_pairs(pairs), "auth", "0.0.0");
            AppState::init(config.expect("config"))
        };
        let without = app(&[]).await;
        let err = Passkeys::from_env(&without, &Env::from_pairs(&[])).unwrap_err();
        assert!(err.to_string().contains("PASSKEYS_TABLE"), "{err}");
        let with = app(&[("PASSKEYS_TABLE", "passkeys")]).await;
        assert!(Passkeys::from_env(&with, &Env::from_pairs(&[])).is_ok());
    }

    #[test]
    fn a_name_is_1_to_64_characters_once_trimmed_without_control_characters() {
        let long = "x".repeat(64);
        let too_long = "x".repeat(65);
        for (name, ok) in [
            ("Laptop", true),
            ("  Work key  ", true),
            ("é", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("   ", false),
            ("a\u{1}b", false),
            ("a\rb", false),
            ("\u{85}x", true),
            ("x\u{9f}", false),
        ] {
            assert_eq!(is_valid_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn a_path_id_is_base64url_of_bounded_length() {
        assert!(is_credential_id("AbC-_09"));
        assert!(!is_credential_id(""));
        assert!(!is_credential_id("a/b"));
        assert!(!is_credential_id("a=b"));
        assert!(!is_credential_id(&"a".repeat(1_365)));
    }

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(
            check_name("  Laptop ", &["body", "name"]).unwrap(),
            "Laptop"
        );
        assert!(check_name("   ", &["body", "name"]).is_err());
        assert!(check_name(&"x".repeat(65), &["body", "name"]).is_err());
        assert!(check_name("a\u{7}b", &["body", "name"]).is_err());
    }
}
