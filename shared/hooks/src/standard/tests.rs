use super::*;
use crate::DEFAULT_TOLERANCE_SECS;
use crate::testing::{each_left_out, verify_with};

/// The spec's official test vector.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn verifier(secrets: &[&str]) -> StandardVerifier {
    let secrets: Vec<SecretString> = secrets.iter().map(|&s| SecretString::from(s)).collect();
    StandardVerifier::new(&secrets, DEFAULT_TOLERANCE_SECS).unwrap()
}

/// The vector's headers with `signature` as the signature list.
fn verify(signature: &str, body: &[u8], now: i64) -> Result<Verified, VerifyError> {
    let ts = TS.to_string();
    let headers = [
        ("webhook-id", ID),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", signature),
    ];
    verify_with(&verifier(&[SECRET]), &headers, body, now)
}

#[test]
fn signing_reproduces_the_specs_vector() {
    assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), SIGNATURE);
}

#[test]
fn the_specs_vector_verifies_with_its_id_and_timestamp() {
    assert_eq!(
        verify(SIGNATURE, BODY, TS),
        Ok(Verified {
            delivery_id: Some(ID.to_owned()),
            event_type: None,
            timestamp: Some(TS),
        })
    );
}

#[test]
fn a_secret_without_the_prefix_is_the_same_key() {
    let bare = SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(sign(bare, ID, TS, BODY).unwrap(), SIGNATURE);
}

#[test]
fn a_tampered_body_is_refused() {
    assert_eq!(
        verify(SIGNATURE, br#"{"test": 2432232315}"#, TS),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_changed_id_is_refused() {
    let ts = TS.to_string();
    let headers = [
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", SIGNATURE),
    ];
    assert_eq!(
        verify_with(&verifier(&[SECRET]), &headers, BODY, TS),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn each_missing_header_is_named() {
    let ts = TS.to_string();
    let all = [
        ("webhook-id", ID),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", SIGNATURE),
    ];
    for (missing, headers) in each_left_out(&all) {
        assert_eq!(
            verify_with(&verifier(&[SECRET]), &headers, BODY, TS),
            Err(VerifyError::MissingHeader(missing))
        );
    }
}

#[test]
fn a_malformed_signature_list_is_refused() {
    let bare = SIGNATURE.strip_prefix("v1,").unwrap();
    let two_spaced_then_bare = format!("{SIGNATURE}  {bare}");
    let not_base64 = "v1,not*base64";
    let short = "v1,AAAA";
    for header in [bare, &two_spaced_then_bare, not_base64, short, "", "   "] {
        assert_eq!(
            verify(header, BODY, TS),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
            "{header:?}"
        );
    }
}

#[test]
fn a_malformed_timestamp_or_empty_id_is_refused() {
    let headers = [
        ("webhook-id", ID),
        ("webhook-timestamp", "1614265330.5"),
        ("webhook-signature", SIGNATURE),
    ];
    assert_eq!(
        verify_with(&verifier(&[SECRET]), &headers, BODY, TS),
        Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER))
    );
    let ts = TS.to_string();
    let headers = [
        ("webhook-id", ""),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", SIGNATURE),
    ];
    assert_eq!(
        verify_with(&verifier(&[SECRET]), &headers, BODY, TS),
        Err(VerifyError::MalformedHeader(ID_HEADER))
    );
}

#[test]
fn other_versions_are_ignored_beside_a_valid_v1() {
    let header = format!("v1a,c29tZSBlZDI1NTE5 v2,xyz {SIGNATURE}");
    assert!(verify(&header, BODY, TS).is_ok());
}

#[test]
fn only_other_versions_is_a_bad_signature() {
    let header = SIGNATURE.replace("v1,", "v1a,");
    assert_eq!(verify(&header, BODY, TS), Err(VerifyError::BadSignature));
}

#[test]
fn unpadded_base64_signatures_verify() {
    assert!(verify(SIGNATURE.trim_end_matches('='), BODY, TS).is_ok());
}

#[test]
fn a_wrong_secret_is_refused() {
    let ts = TS.to_string();
    let headers = [
        ("webhook-id", ID),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", SIGNATURE),
    ];
    let other = "whsec_c29tZSBvdGhlciBzZWNyZXQ=";
    assert_eq!(
        verify_with(&verifier(&[other]), &headers, BODY, TS),
        Err(VerifyError::BadSignature)
    );
    assert!(verify_with(&verifier(&[other, SECRET]), &headers, BODY, TS).is_ok());
}

#[test]
fn a_rotated_second_signature_in_the_header_verifies() {
    let other = sign("whsec_c29tZSBvdGhlciBzZWNyZXQ=", ID, TS, BODY).unwrap();
    assert!(verify(&format!("{other} {SIGNATURE}"), BODY, TS).is_ok());
}

#[test]
fn a_timestamp_301_seconds_old_is_stale() {
    assert_eq!(
        verify(SIGNATURE, BODY, TS + 301),
        Err(VerifyError::StaleTimestamp)
    );
}

#[test]
fn a_timestamp_301_seconds_ahead_is_in_the_future() {
    assert_eq!(
        verify(SIGNATURE, BODY, TS - 301),
        Err(VerifyError::FutureTimestamp)
    );
}

#[test]
fn exactly_300_seconds_either_way_passes() {
    assert!(verify(SIGNATURE, BODY, TS + 300).is_ok());
    assert!(verify(SIGNATURE, BODY, TS - 300).is_ok());
}

#[test]
fn no_secret_refuses_everything() {
    let headers = [("webhook-signature", SIGNATURE)];
    assert_eq!(
        verify_with(&verifier(&[]), &headers, BODY, TS),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn a_secret_that_is_not_base64_is_refused_at_construction() {
    for (secret, error) in [
        ("whsec_not base64!", KeyError::SecretNotBase64),
        ("whsec_", KeyError::EmptySecret),
        ("", KeyError::EmptySecret),
        ("whsec_=", KeyError::SecretNotBase64),
    ] {
        assert_eq!(
            StandardVerifier::new(&[SecretString::from(secret)], 300).unwrap_err(),
            error,
            "{secret:?}"
        );
    }
}
