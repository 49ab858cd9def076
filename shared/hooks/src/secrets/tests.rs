use secrecy::ExposeSecret as _;

use super::*;

fn exposed(secrets: &[SecretString]) -> Vec<&str> {
    secrets.iter().map(|s| s.expose_secret()).collect()
}

/// A real 2048-bit SubjectPublicKeyInfo, generated for this test.
fn pem() -> String {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.public_key().as_der().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    format!("-----BEGIN PUBLIC KEY-----\n{encoded}\n-----END PUBLIC KEY-----\n")
}

#[test]
fn todays_single_string_form_parses() {
    let secrets = WebhookSecrets::parse(
        r#"{"github": "local-github-webhook-secret", "stripe": "whsec_local_stripe_secret"}"#,
    )
    .unwrap();
    assert_eq!(exposed(&secrets.github), ["local-github-webhook-secret"]);
    assert_eq!(exposed(&secrets.stripe), ["whsec_local_stripe_secret"]);
    assert!(secrets.standard.is_empty());
    assert!(secrets.rsa.is_empty());
}

#[test]
fn the_list_form_parses_in_order() {
    let secrets =
        WebhookSecrets::parse(r#"{"github": ["new", "old"], "stripe": ["whsec_a"]}"#).unwrap();
    assert_eq!(exposed(&secrets.github), ["new", "old"]);
    assert_eq!(exposed(&secrets.stripe), ["whsec_a"]);
}

#[test]
fn nested_standard_and_rsa_maps_parse() {
    let pem = pem();
    let json = serde_json::json!({
        "standard": {
            "svix": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "resend": ["whsec_c29tZSBvdGhlciBzZWNyZXQ=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        },
        "rsa": {"partner": [pem]},
    })
    .to_string();
    let secrets = WebhookSecrets::parse(&json).unwrap();
    assert_eq!(
        exposed(&secrets.standard["svix"]),
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    );
    assert_eq!(secrets.standard["resend"].len(), 2);
    assert_eq!(secrets.rsa["partner"], [pem]);
    assert!(secrets.github.is_empty());
}

#[test]
fn missing_keys_and_nulls_are_empty_and_unknown_keys_ignored() {
    let secrets =
        WebhookSecrets::parse(r#"{"stripe": null, "slack": "xoxb-ignored", "version": 2}"#)
            .unwrap();
    assert!(secrets.github.is_empty());
    assert!(secrets.stripe.is_empty());
    assert!(WebhookSecrets::parse("{}").unwrap().standard.is_empty());
}

#[test]
fn an_empty_string_is_refused_with_its_entry() {
    for (json, entry) in [
        (r#"{"github": ""}"#, "github"),
        (r#"{"stripe": ["whsec_a", "  "]}"#, "stripe[1]"),
        (r#"{"standard": {"svix": [""]}}"#, "standard.svix[0]"),
        (r#"{"rsa": {"partner": ""}}"#, "rsa.partner"),
    ] {
        assert_eq!(
            WebhookSecrets::parse(json).unwrap_err(),
            SecretsError::Key {
                entry: entry.to_owned(),
                error: KeyError::EmptySecret,
            },
            "{json}"
        );
    }
}

#[test]
fn an_invalid_pem_is_refused_naming_the_source_not_the_key() {
    let json = r#"{"rsa": {"partner": ["-----BEGIN PUBLIC KEY-----\nc2VjcmV0\n-----END PUBLIC KEY-----"]}}"#;
    let error = WebhookSecrets::parse(json).unwrap_err();
    assert_eq!(
        error,
        SecretsError::Key {
            entry: "rsa.partner[0]".to_owned(),
            error: KeyError::NotRsa,
        }
    );
    let message = error.to_string();
    assert!(message.contains("rsa.partner[0]"), "{message}");
    assert!(!message.contains("c2VjcmV0"), "{message}");
}

#[test]
fn a_standard_secret_that_is_not_base64_is_refused() {
    let error =
        WebhookSecrets::parse(r#"{"standard": {"svix": "whsec_not base64!"}}"#).unwrap_err();
    assert_eq!(
        error,
        SecretsError::Key {
            entry: "standard.svix".to_owned(),
            error: KeyError::SecretNotBase64,
        }
    );
    assert!(!error.to_string().contains("not base64!"));
}

#[test]
fn wrong_shapes_are_refused_without_quoting_values() {
    let cases = [
        (r#"["whsec_a"]"#, SecretsError::NotAnObject),
        (
            r#"{"github": 42}"#,
            SecretsError::NotStrings {
                entry: "github".to_owned(),
            },
        ),
        (
            r#"{"stripe": ["whsec_a", {"k": "whsec_b"}]}"#,
            SecretsError::NotStrings {
                entry: "stripe[1]".to_owned(),
            },
        ),
        (
            r#"{"standard": "whsec_leaked"}"#,
            SecretsError::NotSources {
                entry: "standard".to_owned(),
            },
        ),
    ];
    for (json, expected) in cases {
        let error = WebhookSecrets::parse(json).unwrap_err();
        assert!(!error.to_string().contains("whsec"), "{error}");
        assert_eq!(error, expected, "{json}");
    }
}

#[test]
fn invalid_json_reports_a_position_only() {
    let error = WebhookSecrets::parse(r#"{"github": "s3cret""#).unwrap_err();
    assert!(matches!(error, SecretsError::Syntax { line: 1, .. }));
    assert!(!error.to_string().contains("s3cret"));
}

#[test]
fn debug_output_redacts_secrets() {
    let secrets = WebhookSecrets::parse(r#"{"github": "s3cret-value"}"#).unwrap();
    assert!(!format!("{secrets:?}").contains("s3cret-value"));
}
