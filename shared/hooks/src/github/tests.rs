use super::*;

/// GitHub's documented example ("Validating webhook deliveries").
const SECRET: &str = "It's a Secret to Everybody";
const BODY: &[u8] = b"Hello, World!";
const HEADER: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn verifier(secrets: &[&str]) -> GithubVerifier {
    let secrets: Vec<SecretString> = secrets.iter().map(|&s| SecretString::from(s)).collect();
    GithubVerifier::new(&secrets).unwrap()
}

fn verify(
    verifier: &GithubVerifier,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Verified, VerifyError> {
    verifier.verify(&Delivery {
        headers: &headers,
        body,
        now: 0,
    })
}

#[test]
fn signing_reproduces_githubs_documented_example() {
    assert_eq!(sign(SECRET, BODY), HEADER);
}

#[test]
fn githubs_documented_example_verifies_with_its_delivery_and_event() {
    let headers = [
        ("x-hub-signature-256", HEADER),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("x-github-event", "push"),
    ];
    let verified = verify(&verifier(&[SECRET]), &headers, BODY).unwrap();
    assert_eq!(
        verified,
        Verified {
            delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
            event_type: Some("push".to_owned()),
            timestamp: None,
        }
    );
}

#[test]
fn uppercase_hex_verifies() {
    let header = format!("sha256={}", HEADER["sha256=".len()..].to_uppercase());
    let headers = [(SIGNATURE_HEADER, header.as_str())];
    assert!(verify(&verifier(&[SECRET]), &headers, BODY).is_ok());
}

#[test]
fn a_tampered_body_is_refused() {
    let headers = [(SIGNATURE_HEADER, HEADER)];
    assert_eq!(
        verify(&verifier(&[SECRET]), &headers, b"Hello, World?"),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_missing_signature_header_is_named() {
    let headers = [("X-Hub-Signature", "sha1=0000")];
    assert_eq!(
        verify(&verifier(&[SECRET]), &headers, BODY),
        Err(VerifyError::MissingHeader("X-Hub-Signature-256"))
    );
}

#[test]
fn a_malformed_signature_header_is_refused() {
    let short = &HEADER[..HEADER.len() - 2];
    let unprefixed = &HEADER["sha256=".len()..];
    for header in ["sha256=zz", "", "sha256=", "sha1=abc", short, unprefixed] {
        let headers = [(SIGNATURE_HEADER, header)];
        assert_eq!(
            verify(&verifier(&[SECRET]), &headers, BODY),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER)),
            "{header:?}"
        );
    }
}

#[test]
fn a_wrong_secret_is_refused() {
    let headers = [(SIGNATURE_HEADER, HEADER)];
    assert_eq!(
        verify(&verifier(&["another secret"]), &headers, BODY),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_rotated_second_secret_verifies() {
    let headers = [(SIGNATURE_HEADER, HEADER)];
    assert!(verify(&verifier(&["the new secret", SECRET]), &headers, BODY).is_ok());
}

#[test]
fn no_secret_refuses_everything() {
    let headers = [(SIGNATURE_HEADER, HEADER)];
    assert_eq!(
        verify(&verifier(&[]), &headers, BODY),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn a_blank_secret_is_refused_at_construction() {
    let secrets = [SecretString::from(SECRET), SecretString::from(" ")];
    assert_eq!(
        GithubVerifier::new(&secrets).unwrap_err(),
        KeyError::EmptySecret
    );
}
