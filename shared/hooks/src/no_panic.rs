//! Header values come from anyone on the internet: whatever they are, every verifier answers
//! with a result, never a panic.

use secrecy::SecretString;

use crate::{
    Delivery, GithubVerifier, RsaVerifier, StandardVerifier, StripeVerifier, Verifier, github, rsa,
    standard, stripe,
};

/// Odd header values: empty, huge, non-ASCII, overflowing numbers, separators only, and
/// near misses of each format.
fn odd_values() -> Vec<String> {
    let forty_digits = "9".repeat(40);
    let non_ascii_hex = "é".repeat(32);
    vec![
        String::new(),
        " ".to_owned(),
        "\0".to_owned(),
        "é日本🦀".to_owned(),
        "a".repeat(1 << 20),
        "v1=".repeat(100_000),
        "v1,".repeat(100_000),
        format!("t={forty_digits}"),
        format!("t={forty_digits},v1={}", "0".repeat(64)),
        format!("t={},v1={}", i64::MAX, "0".repeat(64)),
        "t=1,v1=".to_owned(),
        format!("t=1,v1={non_ascii_hex}"),
        format!("sha256={non_ascii_hex}"),
        format!("sha256={}", "ß".repeat(16)),
        "sha256=".to_owned(),
        ",,,,".to_owned(),
        "=".to_owned(),
        "==,==".to_owned(),
        "v1,".to_owned(),
        "v1,=".to_owned(),
        "v1,é".to_owned(),
        format!("v1,{}", "A".repeat(10_000)),
        forty_digits,
        i64::MAX.to_string(),
        "-9223372036854775808".to_owned(),
        "-----BEGIN PUBLIC KEY-----".to_owned(),
    ]
}

/// One verifier of each kind, with a usable secret or key.
fn verifiers() -> Vec<Box<dyn Verifier>> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;

    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.public_key().as_der().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{encoded}\n-----END PUBLIC KEY-----");
    let hmac_secret = [SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    vec![
        Box::new(GithubVerifier::new(&hmac_secret).unwrap()),
        Box::new(StripeVerifier::new(&hmac_secret, 300).unwrap()),
        Box::new(StandardVerifier::new(&hmac_secret, 300).unwrap()),
        Box::new(RsaVerifier::new(&[pem], 300).unwrap()),
    ]
}

/// Every header any verifier reads.
const NAMES: [&str; 8] = [
    github::SIGNATURE_HEADER,
    github::DELIVERY_HEADER,
    stripe::SIGNATURE_HEADER,
    standard::ID_HEADER,
    standard::TIMESTAMP_HEADER,
    standard::SIGNATURE_HEADER,
    rsa::ID_HEADER,
    rsa::TIMESTAMP_HEADER,
];

#[test]
fn verification_never_panics_on_arbitrary_header_values() {
    let verifiers = verifiers();
    let values = odd_values();
    let bodies: [&[u8]; 3] = [b"", b"{}", &[0xff; 1 << 16]];
    for value in &values {
        // Every header odd at once, and each header odd beside plausible others.
        let all: Vec<(&str, &str)> = NAMES
            .iter()
            .chain([&rsa::SIGNATURE_HEADER])
            .map(|&name| (name, value.as_str()))
            .collect();
        let mut sets = vec![all];
        for odd in NAMES.iter().chain([&rsa::SIGNATURE_HEADER]) {
            sets.push(vec![
                (*odd, value.as_str()),
                (stripe::SIGNATURE_HEADER, "t=1614265330,v1=00"),
                (standard::ID_HEADER, "msg_1"),
                (standard::TIMESTAMP_HEADER, "1614265330"),
                (standard::SIGNATURE_HEADER, "v1,AAAA"),
                (rsa::ID_HEADER, "msg_1"),
                (rsa::TIMESTAMP_HEADER, "1614265330"),
                (rsa::SIGNATURE_HEADER, "AAAA"),
            ]);
        }
        for headers in &sets {
            let headers = headers.as_slice();
            for body in bodies {
                for now in [0, 1_614_265_330, i64::MIN, i64::MAX] {
                    let delivery = Delivery {
                        headers: &headers,
                        body,
                        now,
                    };
                    for verifier in &verifiers {
                        assert!(verifier.verify(&delivery).is_err(), "{:.40?}", value);
                    }
                }
            }
        }
    }
}
