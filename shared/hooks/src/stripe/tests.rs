use super::*;
use crate::DEFAULT_TOLERANCE_SECS;

const SECRET: &str = "whsec_test_secret";

/// Regression vector computed from Stripe's scheme.
const T1: i64 = 1_700_000_000;
const BODY1: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
const V1_1: &str = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990";

/// Produced by Stripe's Python library (`generate_signature_header`): real newlines and
/// two-space indents.
const T2: i64 = 1_492_774_577;
const BODY2: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
const V1_2: &str = "c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812";

fn verifier(secrets: &[&str]) -> StripeVerifier {
    let secrets: Vec<SecretString> = secrets.iter().map(|&s| SecretString::from(s)).collect();
    StripeVerifier::new(&secrets, DEFAULT_TOLERANCE_SECS).unwrap()
}

fn verify_with(
    verifier: &StripeVerifier,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    let headers = [("stripe-signature", header)];
    verifier.verify(&Delivery {
        headers: &headers,
        body,
        now,
    })
}

fn verify(header: &str, body: &[u8], now: i64) -> Result<Verified, VerifyError> {
    verify_with(&verifier(&[SECRET]), header, body, now)
}

#[test]
fn signing_reproduces_the_regression_vector() {
    assert_eq!(sign(SECRET, T1, BODY1), format!("t={T1},v1={V1_1}"));
}

#[test]
fn signing_reproduces_stripes_python_library() {
    assert_eq!(sign(SECRET, T2, BODY2), format!("t={T2},v1={V1_2}"));
}

#[test]
fn both_vectors_verify_within_their_window() {
    let verified = verify(&format!("t={T1},v1={V1_1}"), BODY1, T1 + 10).unwrap();
    assert_eq!(
        verified,
        Verified {
            delivery_id: None,
            event_type: None,
            timestamp: Some(T1),
        }
    );
    assert!(verify(&format!("t={T2},v1={V1_2}"), BODY2, T2 - 10).is_ok());
}

#[test]
fn a_tampered_body_is_refused() {
    let body = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\" \n}";
    assert_eq!(
        verify(&format!("t={T2},v1={V1_2}"), body, T2),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_changed_timestamp_is_refused() {
    // The signature covers `t`: moving it into the window breaks the signature.
    assert_eq!(
        verify(&format!("t={},v1={V1_1}", T1 + 1), BODY1, T1),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_missing_header_is_named() {
    let headers = [("x-hub-signature-256", "sha256=00")];
    let result = verifier(&[SECRET]).verify(&Delivery {
        headers: &headers,
        body: BODY1,
        now: T1,
    });
    assert_eq!(result, Err(VerifyError::MissingHeader("Stripe-Signature")));
}

#[test]
fn a_malformed_header_is_refused() {
    let malformed = [
        format!("v1={V1_1}"),
        format!("t=,v1={V1_1}"),
        format!("t=abc,v1={V1_1}"),
        format!("t=-{T1},v1={V1_1}"),
        format!("t={T1},t={T1},v1={V1_1}"),
        format!("t={T1},v1={V1_1},"),
        format!("t={T1};v1={V1_1}"),
        format!("t={T1},v1=zz"),
        format!("t={T1},v1={}", &V1_1[..63]),
        String::new(),
    ];
    for header in &malformed {
        assert_eq!(
            verify(header, BODY1, T1),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
            "{header:?}"
        );
    }
}

#[test]
fn spaces_around_items_and_unknown_keys_are_tolerated() {
    let header = format!("t={T1}, v1={V1_1}, x-future=1");
    assert!(verify(&header, BODY1, T1).is_ok());
}

#[test]
fn a_wrong_secret_is_refused() {
    assert_eq!(
        verify_with(
            &verifier(&["whsec_other"]),
            &format!("t={T1},v1={V1_1}"),
            BODY1,
            T1
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_rotated_second_secret_verifies() {
    let verifier = verifier(&["whsec_new_secret", SECRET]);
    assert!(verify_with(&verifier, &format!("t={T1},v1={V1_1}"), BODY1, T1).is_ok());
}

#[test]
fn any_one_of_several_v1_signatures_verifies() {
    let other = sign("whsec_rolled_secret", T1, BODY1);
    let other = other.rsplit_once("v1=").unwrap().1;
    let header = format!("t={T1},v1={other},v1={V1_1}");
    assert!(verify(&header, BODY1, T1).is_ok());
}

#[test]
fn a_v0_beside_a_valid_v1_verifies() {
    let header = format!("t={T1},v0={},v1={V1_1}", "0".repeat(64));
    assert!(verify(&header, BODY1, T1).is_ok());
}

#[test]
fn a_valid_mac_under_v0_only_is_refused() {
    let header = format!("t={T1},v0={V1_1}");
    assert_eq!(verify(&header, BODY1, T1), Err(VerifyError::BadSignature));
}

#[test]
fn a_timestamp_301_seconds_old_is_stale() {
    let header = sign(SECRET, T1, BODY1);
    assert_eq!(
        verify(&header, BODY1, T1 + 301),
        Err(VerifyError::StaleTimestamp)
    );
}

#[test]
fn a_timestamp_301_seconds_ahead_is_in_the_future() {
    let header = sign(SECRET, T1, BODY1);
    assert_eq!(
        verify(&header, BODY1, T1 - 301),
        Err(VerifyError::FutureTimestamp)
    );
}

#[test]
fn exactly_300_seconds_either_way_passes() {
    let header = sign(SECRET, T1, BODY1);
    assert!(verify(&header, BODY1, T1 + 300).is_ok());
    assert!(verify(&header, BODY1, T1 - 300).is_ok());
}

#[test]
fn the_tolerance_is_configurable() {
    let verifier = StripeVerifier::new(&[SecretString::from(SECRET)], 10).unwrap();
    let header = sign(SECRET, T1, BODY1);
    assert!(verify_with(&verifier, &header, BODY1, T1 + 10).is_ok());
    assert_eq!(
        verify_with(&verifier, &header, BODY1, T1 + 11),
        Err(VerifyError::StaleTimestamp)
    );
}

#[test]
fn a_forgery_with_a_stale_timestamp_is_a_bad_signature() {
    let header = format!("t={},v1={V1_1}", T1 - 1000);
    assert_eq!(verify(&header, BODY1, T1), Err(VerifyError::BadSignature));
}

#[test]
fn no_secret_refuses_everything() {
    assert_eq!(
        verify_with(&verifier(&[]), &sign(SECRET, T1, BODY1), BODY1, T1),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn an_empty_secret_is_refused_at_construction() {
    assert_eq!(
        StripeVerifier::new(&[SecretString::from("")], 300).unwrap_err(),
        KeyError::EmptySecret
    );
}
