use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::signer::key_pair;
use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

fn settings(issuer: &str, audience: &str) -> TokenSettings {
    TokenSettings {
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
        ttls: TokenTtls {
            access: Duration::from_secs(900),
            refresh: Duration::from_secs(7 * 86_400),
            reset: Duration::from_secs(900),
            verify: Duration::from_secs(86_400),
        },
    }
}

fn signer_with(issuer: &str, audience: &str, key: &str) -> Signer {
    let secret = SecretString::from(format!(r#"{{"active_kid":"k1","k1":"{key}"}}"#));
    Signer::from_secret_json(&secret, settings(issuer, audience)).unwrap()
}

fn signer() -> Signer {
    signer_with("starter", "starter-api", KEY)
}

/// What a function other than auth has: the published public keys only.
fn public_verifier(signer: &Signer) -> Verifier {
    Verifier::from_public_json(
        &signer.public_keys_json(),
        settings("starter", "starter-api"),
    )
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn an_access_token_round_trips_through_the_public_keys_alone() {
    let s = signer();
    let issued = s
        .issue(TokenKind::Access, "user-1", Some("sid-1"), now())
        .unwrap();
    let claims = public_verifier(&s)
        .verify(TokenKind::Access, &issued.token)
        .unwrap();
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.sid.as_deref(), Some("sid-1"));
    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
}

#[test]
fn the_published_keys_hold_no_private_material() {
    let s = signer();
    let published = s.public_keys_json();
    let doc: serde_json::Value = serde_json::from_str(&published).unwrap();
    let x = doc["keys"]["k1"].as_str().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(x).unwrap().len(),
        32,
        "a bare public key"
    );
    assert!(!published.contains(KEY));
    let seed = Sha256::digest(KEY.as_bytes());
    assert!(!published.contains(&b64(&seed)));
}

#[test]
fn kinds_are_not_interchangeable() {
    let s = signer();
    let v = s.verifier();
    let refresh = s.issue(TokenKind::Refresh, "u", Some("s"), now()).unwrap();
    let reset = s.issue(TokenKind::PasswordReset, "u", None, now()).unwrap();
    assert_eq!(
        v.verify(TokenKind::Access, &refresh.token),
        Err(TokenError::WrongType)
    );
    assert_eq!(
        v.verify(TokenKind::VerifyEmail, &reset.token),
        Err(TokenError::WrongType)
    );
    assert_eq!(
        v.verify(TokenKind::Access, &reset.token),
        Err(TokenError::WrongType)
    );
}

#[test]
fn alg_none_and_hs256_are_refused() {
    let s = signer();
    let issued = s.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
    let payload = issued.token.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        b64(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#)
    );
    assert!(s.verifier().verify(TokenKind::Access, &none).is_err());
    // HS256 keyed with the public key: the classic algorithm-confusion forgery.
    let x = serde_json::from_str::<serde_json::Value>(&s.public_keys_json()).unwrap()["keys"]["k1"]
        .as_str()
        .unwrap()
        .to_owned();
    let input = format!(
        "{}.{payload}",
        b64(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#)
    );
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(x.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    assert_eq!(
        s.verifier()
            .verify(TokenKind::Access, &format!("{input}.{sig}")),
        Err(TokenError::Algorithm)
    );
}

#[test]
fn a_tampered_signature_is_refused() {
    let s = signer();
    let issued = s.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
    let mut token = issued.token.into_bytes();
    let last = token.len() - 2;
    token[last] = if token[last] == b'A' { b'B' } else { b'A' };
    let token = String::from_utf8(token).unwrap();
    assert_eq!(
        s.verifier().verify(TokenKind::Access, &token),
        Err(TokenError::Signature)
    );
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let ours = signer();
    let other_iss = signer_with("someone-else", "starter-api", KEY);
    let other_aud = signer_with("starter", "other-api", KEY);
    let a = other_iss
        .issue(TokenKind::Access, "u", Some("s"), now())
        .unwrap();
    let b = other_aud
        .issue(TokenKind::Access, "u", Some("s"), now())
        .unwrap();
    assert_eq!(
        ours.verifier().verify(TokenKind::Access, &a.token),
        Err(TokenError::Claims)
    );
    assert_eq!(
        ours.verifier().verify(TokenKind::Access, &b.token),
        Err(TokenError::Claims)
    );
}

#[test]
fn an_expired_token_is_refused() {
    let s = signer();
    let issued = s
        .issue(TokenKind::Access, "u", Some("s"), now() - 3_600)
        .unwrap();
    assert_eq!(
        s.verifier().verify(TokenKind::Access, &issued.token),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let ours = signer();
    let theirs = signer_with(
        "starter",
        "starter-api",
        "another-key-another-key-another-key!!",
    );
    let issued = theirs
        .issue(TokenKind::Access, "u", Some("s"), now())
        .unwrap();
    assert_eq!(
        ours.verifier().verify(TokenKind::Access, &issued.token),
        Err(TokenError::Signature)
    );
}

#[test]
fn old_keys_still_verify_after_rotation() {
    let old = signer();
    let issued = old.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
    let rotated = SecretString::from(format!(
        r#"{{"active_kid":"k2","k1":"{KEY}","k2":"a-brand-new-key-a-brand-new-key-000"}}"#
    ));
    let new = Signer::from_secret_json(&rotated, settings("starter", "starter-api")).unwrap();
    let published = public_verifier(&new);
    assert!(published.verify(TokenKind::Access, &issued.token).is_ok());
    let fresh = new.issue(TokenKind::Access, "u", Some("s"), now()).unwrap();
    assert_eq!(Verifier::kid_of(&fresh.token).as_deref(), Some("k2"));
    assert_eq!(
        public_verifier(&old).verify(TokenKind::Access, &fresh.token),
        Err(TokenError::UnknownKey),
        "the old set must be reloaded"
    );
}

#[test]
fn short_keys_and_empty_key_sets_are_refused() {
    let secret = SecretString::from(r#"{"active_kid":"k1","k1":"short"}"#.to_owned());
    assert!(Signer::from_secret_json(&secret, settings("a", "b")).is_err());
    assert!(Verifier::from_public_json(r#"{"keys":{}}"#, settings("a", "b")).is_err());
}

/// Signs `header` and `claims` (JSON) with our key: only the header and claim checks can
/// refuse these.
fn signed(header: &str, claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pkcs8 = key_pair(KEY).unwrap().to_pkcs8().unwrap();
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
        Algorithm::EdDSA,
    )
    .unwrap();
    format!("{input}.{signature}")
}

fn claims_at(nbf: Option<i64>) -> serde_json::Value {
    let mut claims = serde_json::json!({
        "iss": "starter", "aud": "starter-api", "sub": "user-1", "jti": "j",
        "iat": now(), "exp": now() + 600, "sid": "s"
    });
    if let Some(nbf) = nbf {
        claims["nbf"] = serde_json::json!(nbf);
    }
    claims
}

#[test]
fn a_token_not_valid_before_a_future_time_is_refused() {
    let header = r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#;
    let v = public_verifier(&signer());
    assert!(
        v.verify(TokenKind::Access, &signed(header, &claims_at(None)))
            .is_ok()
    );
    let past = signed(header, &claims_at(Some(now() - 60)));
    assert!(v.verify(TokenKind::Access, &past).is_ok());
    let future = signed(header, &claims_at(Some(now() + 600)));
    assert_eq!(
        v.verify(TokenKind::Access, &future),
        Err(TokenError::Claims)
    );
}

#[test]
fn a_token_with_a_crit_header_is_refused() {
    let crit = r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["exp"]}"#;
    assert_eq!(
        public_verifier(&signer()).verify(TokenKind::Access, &signed(crit, &claims_at(None))),
        Err(TokenError::Critical)
    );
}

/// RFC 8037 appendix A.4: Ed25519 is deterministic, so the published key reproduces the
/// published signature byte for byte, and the public key `x` verifies it.
#[test]
fn rfc8037_a4_ed25519_vector_signs_and_verifies() {
    let d = URL_SAFE_NO_PAD
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let (input, signature) = jws.rsplit_once('.').unwrap();

    let pair = Ed25519KeyPair::from_seed_unchecked(&d).unwrap();
    assert_eq!(b64(pair.public_key().as_ref()), x);
    let pkcs8 = pair.to_pkcs8().unwrap();
    let ours = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
        Algorithm::EdDSA,
    )
    .unwrap();
    assert_eq!(ours, signature);

    let key = DecodingKey::from_ed_components(x).unwrap();
    assert!(
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::EdDSA).unwrap()
    );
    let tampered = format!("{}A", &signature[..signature.len() - 1]);
    assert!(
        !jsonwebtoken::crypto::verify(&tampered, input.as_bytes(), &key, Algorithm::EdDSA)
            .unwrap_or(false)
    );
}

/// RFC 7515 appendix A.3: the ES256 example verifies with the published public key (ECDSA
/// signatures are randomized, so only verification can be reproduced).
#[test]
fn rfc7515_a3_es256_vector_verifies() {
    let jws = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let key = DecodingKey::from_ec_components(
        "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    )
    .unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    assert!(
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::ES256).unwrap()
    );
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(jws, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], "joe");
    assert_eq!(claims["exp"], 1_300_819_380);
    let tampered = format!("{}A", &jws[..jws.len() - 1]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&tampered, &key, &validation).is_err());
}
