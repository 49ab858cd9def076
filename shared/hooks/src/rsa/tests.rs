use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};

use super::*;
use crate::DEFAULT_TOLERANCE_SECS;
use crate::testing::{each_left_out, verify_with};

const ID: &str = "msg_2Lx9";
const TS: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"type":"invoice.paid","amount":4200}"#;

/// Two key pairs, generated once: RSA key generation is the slow part of these tests.
fn key_pairs() -> &'static [KeyPair; 2] {
    static PAIRS: OnceLock<[KeyPair; 2]> = OnceLock::new();
    PAIRS.get_or_init(|| {
        [
            KeyPair::generate(KeySize::Rsa2048).unwrap(),
            KeyPair::generate(KeySize::Rsa2048).unwrap(),
        ]
    })
}

/// PEM armor around `der`, 64 base64 characters a line.
fn armor(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The SubjectPublicKeyInfo PEM of `pair`.
fn spki_pem(pair: &KeyPair) -> String {
    armor("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref())
}

fn sign(pair: &KeyPair, id: &str, ts: i64, body: &[u8]) -> String {
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &signed_content(id, ts, body),
        &mut signature,
    )
    .unwrap();
    BASE64.encode(signature)
}

/// Whether `verifier` accepts a delivery of `BODY` signed by `pair`.
fn accepts_a_signature_by(verifier: &RsaVerifier, pair: &KeyPair) -> bool {
    let signature = sign(pair, ID, TS, BODY);
    let ts = TS.to_string();
    let headers = [
        (ID_HEADER, ID),
        (TIMESTAMP_HEADER, ts.as_str()),
        (SIGNATURE_HEADER, signature.as_str()),
    ];
    verify_with(verifier, &headers, BODY, TS).is_ok()
}

/// `ID`/`TS` headers, `signature`, and a verifier holding the first key pair's public key.
fn verify(signature: &str, body: &[u8], now: i64) -> Result<Verified, VerifyError> {
    let verifier = RsaVerifier::new(&[spki_pem(&key_pairs()[0])], DEFAULT_TOLERANCE_SECS).unwrap();
    let ts = TS.to_string();
    let headers = [
        ("X-Webhook-Id", ID),
        ("X-Webhook-Timestamp", ts.as_str()),
        ("X-Webhook-Signature", signature),
    ];
    verify_with(&verifier, &headers, body, now)
}

#[test]
fn a_signature_by_the_configured_key_verifies() {
    let signature = sign(&key_pairs()[0], ID, TS, BODY);
    assert_eq!(
        verify(&signature, BODY, TS),
        Ok(Verified {
            delivery_id: Some(ID.to_owned()),
            event_type: None,
            timestamp: Some(TS),
        })
    );
}

#[test]
fn the_signed_content_is_id_dot_timestamp_dot_body() {
    assert_eq!(signed_content("a", 12, b"{}"), b"a.12.{}");
}

#[test]
fn a_pkcs1_rsa_public_key_pem_verifies_too() {
    let pair = &key_pairs()[0];
    // `PublicKey::as_ref` is the PKCS#1 RSAPublicKey DER.
    let pem = armor("RSA PUBLIC KEY", pair.public_key().as_ref());
    let verifier = RsaVerifier::new(&[pem], DEFAULT_TOLERANCE_SECS).unwrap();
    assert!(accepts_a_signature_by(&verifier, pair));
}

#[test]
fn a_pem_on_one_line_with_crlf_around_it_is_read() {
    let pem = spki_pem(&key_pairs()[0]).replace('\n', " ");
    assert!(RsaVerifier::new(&[format!("\r\n{pem}\r\n")], 300).is_ok());
}

#[test]
fn a_tampered_body_is_refused() {
    let signature = sign(&key_pairs()[0], ID, TS, BODY);
    let tampered = br#"{"type":"invoice.paid","amount":4201}"#;
    assert_eq!(
        verify(&signature, tampered, TS),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let signature = sign(&key_pairs()[1], ID, TS, BODY);
    assert_eq!(verify(&signature, BODY, TS), Err(VerifyError::BadSignature));
}

#[test]
fn a_rotated_second_key_verifies() {
    let [old, new] = key_pairs();
    let verifier = RsaVerifier::new(&[spki_pem(old), spki_pem(new)], 300).unwrap();
    assert!(accepts_a_signature_by(&verifier, new));
}

#[test]
fn each_missing_header_is_named_and_malformed_ones_refused() {
    let verifier = RsaVerifier::new(&[spki_pem(&key_pairs()[0])], 300).unwrap();
    let signature = sign(&key_pairs()[0], ID, TS, BODY);
    let ts = TS.to_string();
    let good = [
        (ID_HEADER, ID),
        (TIMESTAMP_HEADER, ts.as_str()),
        (SIGNATURE_HEADER, signature.as_str()),
    ];
    for (missing, headers) in each_left_out(&good) {
        assert_eq!(
            verify_with(&verifier, &headers, BODY, TS),
            Err(VerifyError::MissingHeader(missing))
        );
    }
    for (index, value) in [(0, ""), (1, "17e8"), (2, "not*base64"), (2, "")] {
        let mut headers = good;
        headers[index].1 = value;
        assert_eq!(
            verify_with(&verifier, &headers, BODY, TS),
            Err(VerifyError::MalformedHeader(good[index].0)),
            "{value:?}"
        );
    }
}

#[test]
fn the_timestamp_window_holds_both_ways() {
    let signature = sign(&key_pairs()[0], ID, TS, BODY);
    assert!(verify(&signature, BODY, TS + 300).is_ok());
    assert!(verify(&signature, BODY, TS - 300).is_ok());
    assert_eq!(
        verify(&signature, BODY, TS + 301),
        Err(VerifyError::StaleTimestamp)
    );
    assert_eq!(
        verify(&signature, BODY, TS - 301),
        Err(VerifyError::FutureTimestamp)
    );
}

#[test]
fn no_key_refuses_everything() {
    let verifier = RsaVerifier::new::<&str>(&[], 300).unwrap();
    let headers = [(SIGNATURE_HEADER, "AAAA")];
    assert_eq!(
        verify_with(&verifier, &headers, BODY, TS),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn a_garbage_pem_is_refused_at_construction() {
    let good = spki_pem(&key_pairs()[0]);
    let other = spki_pem(&key_pairs()[1]);
    let cases = [
        ("not a pem".to_owned(), KeyError::PemArmor),
        (String::new(), KeyError::PemArmor),
        (
            good.replace("END PUBLIC KEY", "END RSA PUBLIC KEY"),
            KeyError::PemArmor,
        ),
        (
            good.replace("BEGIN PUBLIC KEY", "BEGIN CERTIFICATE"),
            KeyError::PemArmor,
        ),
        (format!("{good}{other}"), KeyError::PemArmor),
        (
            "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----".to_owned(),
            KeyError::PemBase64,
        ),
        (
            "-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----".to_owned(),
            KeyError::PemBase64,
        ),
        (armor("PUBLIC KEY", b"not DER at all"), KeyError::NotRsa),
    ];
    for (pem, error) in cases {
        assert_eq!(
            RsaVerifier::new(&[pem.as_str()], 300).unwrap_err(),
            error,
            "{pem:?}"
        );
    }
}

#[test]
fn an_ec_public_key_is_not_rsa() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pem = armor("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref());
    assert_eq!(RsaVerifier::new(&[pem], 300).unwrap_err(), KeyError::NotRsa);
}
