//! One verifier per provider and source, built from the webhook-secrets secret.

use std::collections::BTreeMap;

use hooks::{
    GithubVerifier, RsaVerifier, StandardVerifier, StripeVerifier, Verifier, WebhookSecrets,
};
use secrecy::{ExposeSecret as _, SecretString};

/// Every configured verifier. Several secrets per provider or source may be active at once, so
/// a secret can rotate without dropping deliveries.
pub struct Verifiers {
    github: GithubVerifier,
    stripe: StripeVerifier,
    standard: BTreeMap<String, StandardVerifier>,
    rsa: BTreeMap<String, RsaVerifier>,
}

impl std::fmt::Debug for Verifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifiers")
            .field("standard", &self.standard.keys().collect::<Vec<_>>())
            .field("rsa", &self.rsa.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Who sent a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// `POST /github`.
    Github,
    /// `POST /stripe`.
    Stripe,
    /// `POST /standard/{source}`.
    Standard(String),
    /// `POST /rsa/{source}`.
    Rsa(String),
}

impl Provider {
    /// As stored: `github`, `stripe`, `standard:<source>`, `rsa:<source>`.
    pub fn name(&self) -> String {
        match self {
            Self::Github => "github".to_owned(),
            Self::Stripe => "stripe".to_owned(),
            Self::Standard(source) => format!("standard:{source}"),
            Self::Rsa(source) => format!("rsa:{source}"),
        }
    }
}

impl Verifiers {
    /// Parses the secret (`{"github": [..], "stripe": [..], "standard": {"<source>": [..]},
    /// "rsa": {"<source>": ["<PEM>"]}}`, a single string wherever a list goes) and builds every
    /// verifier; a secret or key that cannot be used is an error naming its entry.
    pub fn from_secret(secret: &SecretString, tolerance_secs: u32) -> anyhow::Result<Self> {
        let secrets = WebhookSecrets::parse(secret.expose_secret())?;
        let standard = secrets
            .standard
            .iter()
            .map(|(source, keys)| {
                Ok((source.clone(), StandardVerifier::new(keys, tolerance_secs)?))
            })
            .collect::<anyhow::Result<_>>()?;
        let rsa = secrets
            .rsa
            .iter()
            .map(|(source, pems)| Ok((source.clone(), RsaVerifier::new(pems, tolerance_secs)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            github: GithubVerifier::new(&secrets.github)?,
            stripe: StripeVerifier::new(&secrets.stripe, tolerance_secs)?,
            standard,
            rsa,
        })
    }

    /// The verifier of `provider`; `None` for a source with no secret (refused like a bad
    /// signature, so the answer does not tell which sources exist).
    pub fn of(&self, provider: &Provider) -> Option<&dyn Verifier> {
        match provider {
            Provider::Github => Some(&self.github),
            Provider::Stripe => Some(&self.stripe),
            Provider::Standard(source) => self.standard.get(source).map(|v| v as &dyn Verifier),
            Provider::Rsa(source) => self.rsa.get(source).map(|v| v as &dyn Verifier),
        }
    }
}
