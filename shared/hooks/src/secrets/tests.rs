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
fn the_placeholder_rule_is_blank_or_replace_me_in_any_case() {
    for placeholder in [
        "",
        "   ",
        "whsec_replace_me",
        "REPLACE_ME",
        "whsec_Replace_Me_later",
        "-----BEGIN PUBLIC KEY-----\nREPLACE_ME\n-----END PUBLIC KEY-----",
    ] {
        assert!(is_placeholder(placeholder), "{placeholder:?}");
    }
    for real in [
        "local-github-webhook-secret",
        "whsec_local_stripe_secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "replace me",
        "replaceme",
    ] {
        assert!(!is_placeholder(real), "{real:?}");
    }
}

#[test]
fn a_source_with_only_empty_or_placeholder_values_is_not_configured() {
    for (json, source) in [
        (r#"{"github": ""}"#, "github"),
        (r#"{"github": []}"#, "github"),
        (r#"{"stripe": "whsec_replace_me"}"#, "stripe"),
        (r#"{"stripe": ["  ", "whsec_REPLACE_ME"]}"#, "stripe"),
        (r#"{"standard": {"svix": [""]}}"#, "standard:svix"),
        (
            r#"{"standard": {"svix": "whsec_replace_me"}}"#,
            "standard:svix",
        ),
        (r#"{"rsa": {"partner": ""}}"#, "rsa:partner"),
        (r#"{"rsa": {"partner": "REPLACE_ME"}}"#, "rsa:partner"),
    ] {
        let secrets = WebhookSecrets::parse(json).unwrap();
        assert_eq!(
            secrets.unconfigured.iter().collect::<Vec<_>>(),
            [source],
            "{json}"
        );
        assert!(
            secrets.github.is_empty() && secrets.stripe.is_empty(),
            "{json}"
        );
        assert!(
            secrets.standard.is_empty() && secrets.rsa.is_empty(),
            "{json}"
        );
    }
}

#[test]
fn a_placeholder_beside_a_real_value_is_dropped_and_the_source_configured() {
    let secrets = WebhookSecrets::parse(
        r#"{"github": ["", "real-secret"], "stripe": ["whsec_replace_me", "whsec_real"],
            "standard": {"svix": ["whsec_replace_me", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}}"#,
    )
    .unwrap();
    assert_eq!(exposed(&secrets.github), ["real-secret"]);
    assert_eq!(exposed(&secrets.stripe), ["whsec_real"]);
    assert_eq!(
        exposed(&secrets.standard["svix"]),
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    );
    assert!(secrets.unconfigured.is_empty());
}

#[test]
fn no_verifier_takes_a_placeholder_as_a_key() {
    let placeholder = [SecretString::from("whsec_replace_me")];
    assert_eq!(
        crate::GithubVerifier::new(&placeholder).unwrap_err(),
        KeyError::PlaceholderSecret
    );
    assert_eq!(
        crate::StripeVerifier::new(&placeholder, 300).unwrap_err(),
        KeyError::PlaceholderSecret
    );
    assert_eq!(
        crate::StandardVerifier::new(&placeholder, 300).unwrap_err(),
        KeyError::PlaceholderSecret
    );
}

#[test]
fn absent_and_null_sources_are_not_used_rather_than_not_configured() {
    let secrets = WebhookSecrets::parse(r#"{"stripe": null, "standard": {"svix": null}}"#).unwrap();
    assert!(secrets.unconfigured.is_empty());
    assert!(secrets.standard.is_empty());
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
