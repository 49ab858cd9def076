//! Passkeys end to end, with a software authenticator: a P-256 key (aws-lc-rs), the
//! clientDataJSON, authenticatorData and "none" attestation a platform authenticator would make,
//! sent as `credential.toJSON()` sends them. Registration and passwordless login, the counter
//! (a replayed or cloned authenticator's assertion is refused), single-use and expiring
//! ceremonies, user verification, the origin, and another user's passkey being a 404.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use aws_lc_rs::{
    digest::{SHA256, digest},
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Account, Identity, Reply};
use serde_json::{Value, json};

const ORIGIN: &str = "http://localhost:3000";
const RP_ID: &str = "localhost";

/// User present and user verified.
const UP_UV: u8 = 0x05;
/// User present only.
const UP: u8 = 0x01;
/// Attested credential data included.
const AT: u8 = 0x40;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A platform authenticator holding one discoverable P-256 credential.
struct Authenticator {
    key: EcdsaKeyPair,
    credential_id: Vec<u8>,
    /// The user handle it stored at registration (base64url).
    user_handle: String,
}

impl Authenticator {
    fn new() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key");
        Self {
            key,
            credential_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            user_handle: String::new(),
        }
    }

    /// The uncompressed point's x and y.
    fn xy(&self) -> (&[u8], &[u8]) {
        let point = self.key.public_key().as_ref();
        (&point[1..33], &point[33..65])
    }

    /// The COSE_Key of the public key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
    fn cose_key(&self) -> Vec<u8> {
        let (x, y) = self.xy();
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        out.extend_from_slice(x);
        out.extend_from_slice(&[0x22, 0x58, 0x20]);
        out.extend_from_slice(y);
        out
    }

    /// The DER SubjectPublicKeyInfo `toJSON()` reports as `publicKey`.
    fn spki(&self) -> Vec<u8> {
        let mut out = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        out.extend_from_slice(self.key.public_key().as_ref());
        out
    }

    fn auth_data(rp_id: &str, flags: u8, count: u32) -> Vec<u8> {
        let mut out = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        out.push(flags);
        out.extend_from_slice(&count.to_be_bytes());
        out
    }

    /// `credential.toJSON()` of `navigator.credentials.create(options)`.
    fn create(&mut self, options: &Value, origin: &str, flags: u8) -> Value {
        let pk = &options["publicKey"];
        self.user_handle = pk["user"]["id"].as_str().expect("user.id").to_owned();
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id");
        let mut auth_data = Self::auth_data(rp_id, flags | AT, 0);
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none
        let id_len = u16::try_from(self.credential_id.len()).expect("id length");
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        // {"fmt": "none", "attStmt": {}, "authData": bytes}, keys in CTAP2 canonical order.
        let mut attestation = vec![0xa3, 0x63];
        attestation.extend_from_slice(b"fmt");
        attestation.push(0x64);
        attestation.extend_from_slice(b"none");
        attestation.push(0x67);
        attestation.extend_from_slice(b"attStmt");
        attestation.extend_from_slice(&[0xa0, 0x68]);
        attestation.extend_from_slice(b"authData");
        attestation.extend_from_slice(&[0x58, u8::try_from(auth_data.len()).expect("short")]);
        attestation.extend_from_slice(&auth_data);
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(client_data.as_bytes()),
                "attestationObject": b64(&attestation),
                "authenticatorData": b64(&auth_data),
                "transports": ["internal"],
                "publicKey": b64(&self.spki()),
                "publicKeyAlgorithm": -7,
            },
            "clientExtensionResults": {},
        })
    }

    /// `credential.toJSON()` of `navigator.credentials.get(options)`, signed with counter `count`.
    fn get(&self, options: &Value, origin: &str, flags: u8, count: u32) -> Value {
        let pk = &options["publicKey"];
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let rp_id = pk["rpId"].as_str().expect("rpId");
        let auth_data = Self::auth_data(rp_id, flags, count);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, client_data.as_bytes()).as_ref());
        let signature = self.key.sign(&SystemRandom::new(), &signed).expect("sign");
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(client_data.as_bytes()),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": self.user_handle,
            },
            "clientExtensionResults": {},
        })
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

async fn start() -> Identity {
    Identity::start_with(&[("WEBAUTHN_RP_ID", RP_ID), ("WEBAUTHN_ORIGINS", ORIGIN)]).await
}

async fn call(
    id: &Identity,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(h) = auth.as_deref() {
        headers.push(("authorization", h));
    }
    let url = format!("{}/api/v1/auth/passkeys{path}", id.auth);
    match body {
        Some(b) => id.http.json(method, &url, &headers, b).await,
        None => {
            id.http
                .send(method, &url, &headers, bytes::Bytes::new())
                .await
        }
    }
}

fn code(reply: &Reply) -> String {
    reply.json()["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Registers a passkey for `account`; returns the stored passkey's body.
async fn register(id: &Identity, account: &Account, authn: &mut Authenticator) -> Value {
    let options = call(
        id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await;
    assert_eq!(options.status, 200, "register/start: {}", options.text());
    let credential = authn.create(&options.json(), ORIGIN, UP_UV);
    let done = call(
        id,
        http::Method::POST,
        "/register/finish",
        Some(&account.access),
        Some(&json!({"credential": credential, "name": "Laptop"})),
    )
    .await;
    assert_eq!(done.status, 201, "register/finish: {}", done.text());
    done.json()
}

async fn login_options(id: &Identity) -> Value {
    let options = call(
        id,
        http::Method::POST,
        "/login/start",
        None,
        Some(&json!({})),
    )
    .await;
    assert_eq!(options.status, 200, "login/start: {}", options.text());
    options.json()
}

async fn login(id: &Identity, assertion: &Value) -> Reply {
    call(
        id,
        http::Method::POST,
        "/login/finish",
        None,
        Some(assertion),
    )
    .await
}

#[tokio::test]
async fn a_registered_passkey_logs_in_without_a_password_and_its_counter_moves() {
    let id = start().await;
    let account = id.signup().await;
    let mut authn = Authenticator::new();

    let options = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await;
    assert_eq!(options.status, 200, "{}", options.text());
    let pk = &options.json()["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID);
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    // Enforced, an authenticator without credProtect could not make the passkey at all.
    assert_eq!(pk["extensions"]["enforceCredentialProtectionPolicy"], false);
    assert_eq!(pk["user"]["name"], account.username.as_str());
    assert!(
        pk["challenge"]
            .as_str()
            .is_some_and(|c| URL_SAFE_NO_PAD.decode(c).is_ok())
    );
    assert_eq!(options.header("cache-control"), "no-store");

    let stored = register(&id, &account, &mut authn).await;
    assert_eq!(stored["id"], b64(&authn.credential_id));
    assert_eq!(stored["name"], "Laptop");
    assert_eq!(stored["algorithm"], "ES256");
    assert_eq!(stored["transports"], json!(["internal"]));
    assert_eq!(stored["sign_count"], 0);
    assert!(stored["last_used_at"].is_null());

    let options = login_options(&id).await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let reply = login(&id, &authn.get(&options, ORIGIN, UP_UV, 1)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let tokens = reply.json();
    assert!(
        tokens.get("mfa_required").is_none(),
        "a passkey is both factors"
    );
    let access = tokens["access_token"].as_str().expect("access token");
    let me = id.me(access).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["id"], account.id.as_str());

    let list = call(&id, http::Method::GET, "", Some(access), None).await;
    assert_eq!(list.status, 200);
    let items = list.json()["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1));
    assert_eq!(items[0]["sign_count"], 1);
    assert!(items[0]["last_used_at"].is_string());

    // The same authenticator again: excluded by start, refused by finish.
    let again = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await;
    assert_eq!(
        again.json()["publicKey"]["excludeCredentials"][0]["id"],
        b64(&authn.credential_id)
    );
    let credential = authn.create(&again.json(), ORIGIN, UP_UV);
    let twice = call(
        &id,
        http::Method::POST,
        "/register/finish",
        Some(&account.access),
        Some(&json!({"credential": credential})),
    )
    .await;
    assert_eq!(
        (twice.status, code(&twice)),
        (409, "PASSKEY_EXISTS".to_owned())
    );
}

#[tokio::test]
async fn a_counter_that_does_not_increase_is_refused_as_a_cloned_authenticator() {
    let id = start().await;
    let account = id.signup().await;
    let mut authn = Authenticator::new();
    register(&id, &account, &mut authn).await;

    let ok = login(&id, &authn.get(&login_options(&id).await, ORIGIN, UP_UV, 5)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    for count in [5, 3] {
        let clone = login(
            &id,
            &authn.get(&login_options(&id).await, ORIGIN, UP_UV, count),
        )
        .await;
        assert_eq!(
            (clone.status, code(&clone)),
            (401, "PASSKEY_COUNTER_REGRESSED".to_owned()),
            "counter {count}: {}",
            clone.text()
        );
    }
    let list = call(&id, http::Method::GET, "", Some(&account.access), None).await;
    assert_eq!(
        list.json()["items"][0]["sign_count"],
        5,
        "a refused login leaves the count"
    );
    let next = login(&id, &authn.get(&login_options(&id).await, ORIGIN, UP_UV, 6)).await;
    assert_eq!(next.status, 200, "{}", next.text());
}

#[tokio::test]
async fn a_ceremony_is_single_use_and_bound_to_its_kind_and_user() {
    let id = start().await;
    let account = id.signup().await;
    let other = id.signup().await;
    let mut authn = Authenticator::new();
    register(&id, &account, &mut authn).await;

    let options = login_options(&id).await;
    let first = login(&id, &authn.get(&options, ORIGIN, UP_UV, 1)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let replay = login(&id, &authn.get(&options, ORIGIN, UP_UV, 2)).await;
    assert_eq!(
        (replay.status, code(&replay)),
        (400, "PASSKEY_CEREMONY_INVALID".to_owned())
    );

    // A register challenge cannot finish a login, nor another user's registration.
    let reg = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await
    .json();
    let as_login =
        json!({"publicKey": {"challenge": reg["publicKey"]["challenge"], "rpId": RP_ID}});
    let wrong_kind = login(&id, &authn.get(&as_login, ORIGIN, UP_UV, 3)).await;
    assert_eq!(code(&wrong_kind), "PASSKEY_CEREMONY_INVALID");
    let mut stranger = Authenticator::new();
    let credential = stranger.create(&reg, ORIGIN, UP_UV);
    let hijack = call(
        &id,
        http::Method::POST,
        "/register/finish",
        Some(&other.access),
        Some(&json!({"credential": credential})),
    )
    .await;
    assert_eq!(
        (hijack.status, code(&hijack)),
        (400, "PASSKEY_CEREMONY_INVALID".to_owned())
    );
}

#[tokio::test]
async fn a_ceremony_expires_after_its_timeout() {
    let id = Identity::start_with(&[
        ("WEBAUTHN_RP_ID", RP_ID),
        ("WEBAUTHN_ORIGINS", ORIGIN),
        ("WEBAUTHN_TIMEOUT_SECS", "1"),
    ])
    .await;
    let account = id.signup().await;
    let mut authn = Authenticator::new();
    let options = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await
    .json();
    assert_eq!(options["publicKey"]["timeout"], 1000);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let credential = authn.create(&options, ORIGIN, UP_UV);
    let late = call(
        &id,
        http::Method::POST,
        "/register/finish",
        Some(&account.access),
        Some(&json!({"credential": credential})),
    )
    .await;
    assert_eq!(
        (late.status, code(&late)),
        (400, "PASSKEY_CEREMONY_INVALID".to_owned())
    );
}

#[tokio::test]
async fn user_verification_and_the_origin_are_required() {
    let id = start().await;
    let account = id.signup().await;

    let mut unverified = Authenticator::new();
    let options = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await
    .json();
    let credential = unverified.create(&options, ORIGIN, UP);
    let refused = call(
        &id,
        http::Method::POST,
        "/register/finish",
        Some(&account.access),
        Some(&json!({"credential": credential})),
    )
    .await;
    assert_eq!(
        (refused.status, code(&refused)),
        (400, "PASSKEY_REJECTED".to_owned())
    );

    let mut phished = Authenticator::new();
    let options = call(
        &id,
        http::Method::POST,
        "/register/start",
        Some(&account.access),
        Some(&json!({})),
    )
    .await
    .json();
    let credential = phished.create(&options, "http://localhost:4000", UP_UV);
    let refused = call(
        &id,
        http::Method::POST,
        "/register/finish",
        Some(&account.access),
        Some(&json!({"credential": credential})),
    )
    .await;
    assert_eq!(
        (refused.status, code(&refused)),
        (400, "PASSKEY_REJECTED".to_owned())
    );

    let mut authn = Authenticator::new();
    register(&id, &account, &mut authn).await;
    let no_uv = login(&id, &authn.get(&login_options(&id).await, ORIGIN, UP, 1)).await;
    assert_eq!(
        (no_uv.status, code(&no_uv)),
        (401, "INVALID_PASSKEY".to_owned())
    );
    let elsewhere = login(
        &id,
        &authn.get(&login_options(&id).await, "http://localhost:4000", UP_UV, 2),
    )
    .await;
    assert_eq!(
        (elsewhere.status, code(&elsewhere)),
        (401, "INVALID_PASSKEY".to_owned())
    );

    let garbage = login(&id, &json!({"id": "AAAA", "type": "public-key"})).await;
    assert_eq!(garbage.status, 422, "{}", garbage.text());
}

#[tokio::test]
async fn another_users_passkey_is_not_found_and_a_deleted_one_cannot_log_in() {
    let id = start().await;
    let owner = id.signup().await;
    let other = id.signup().await;
    let mut authn = Authenticator::new();
    let stored = register(&id, &owner, &mut authn).await;
    let pid = stored["id"].as_str().expect("id").to_owned();
    let path = format!("/{pid}");

    let theirs = call(&id, http::Method::GET, "", Some(&other.access), None).await;
    assert_eq!(theirs.json()["items"], json!([]));
    let rename = call(
        &id,
        http::Method::PATCH,
        &path,
        Some(&other.access),
        Some(&json!({"name": "Mine now"})),
    )
    .await;
    assert_eq!(
        (rename.status, code(&rename)),
        (404, "NOT_FOUND".to_owned())
    );
    let delete = call(&id, http::Method::DELETE, &path, Some(&other.access), None).await;
    assert_eq!(delete.status, 404);

    let bad = call(
        &id,
        http::Method::PATCH,
        &path,
        Some(&owner.access),
        Some(&json!({"name": "  "})),
    )
    .await;
    assert_eq!(bad.status, 422);
    let renamed = call(
        &id,
        http::Method::PATCH,
        &path,
        Some(&owner.access),
        Some(&json!({"name": "Phone"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["name"], "Phone");
    let deleted = call(&id, http::Method::DELETE, &path, Some(&owner.access), None).await;
    assert_eq!(deleted.status, 204);
    let gone = login(&id, &authn.get(&login_options(&id).await, ORIGIN, UP_UV, 1)).await;
    assert_eq!(
        (gone.status, code(&gone)),
        (401, "INVALID_PASSKEY".to_owned())
    );
    let again = call(&id, http::Method::DELETE, &path, Some(&owner.access), None).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn of_parallel_finishes_with_one_assertion_exactly_one_logs_in() {
    let id = start().await;
    let account = id.signup().await;
    let mut authn = Authenticator::new();
    register(&id, &account, &mut authn).await;
    let assertion = authn.get(&login_options(&id).await, ORIGIN, UP_UV, 1);
    let replies = futures::future::join_all((0..10).map(|_| login(&id, &assertion))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![200], vec![400; 9]].concat(), "{statuses:?}");
}

#[tokio::test]
async fn an_assertion_naming_another_user_is_refused() {
    let id = start().await;
    let owner = id.signup().await;
    let other = id.signup().await;
    let mut authn = Authenticator::new();
    register(&id, &owner, &mut authn).await;
    // The authenticator claims the passkey belongs to another account.
    let other_uuid = uuid::Uuid::parse_str(&other.id).expect("uuid");
    authn.user_handle = b64(other_uuid.as_bytes());
    let reply = login(&id, &authn.get(&login_options(&id).await, ORIGIN, UP_UV, 1)).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (401, "INVALID_PASSKEY".to_owned())
    );
}
