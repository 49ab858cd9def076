//! One verifier per provider and source, built from the webhook-secrets secret.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Sources named with only empty or placeholder values (`hooks::is_placeholder`), by
    /// [`Provider::name`].
    unconfigured: BTreeSet<String>,
}

/// What [`Verifiers::of`] finds for a provider.
pub enum Lookup<'a> {
    /// Its verifier.
    Verifier(&'a dyn Verifier),
    /// The secret names it with only empty or placeholder values: 503, so that the sender
    /// retries once an operator sets the secret, and nothing ever verifies with a published
    /// placeholder.
    NotConfigured,
    /// The secret does not name it: refused like a bad signature, so the answer does not
    /// tell which sources exist.
    Unknown,
}

impl std::fmt::Debug for Verifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifiers")
            .field("standard", &self.standard.keys().collect::<Vec<_>>())
            .field("rsa", &self.rsa.keys().collect::<Vec<_>>())
            .field("unconfigured", &self.unconfigured)
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
    /// verifier; a secret or key that cannot be used is an error naming its entry. A source
    /// left empty or at a placeholder is logged (by name, never its value) and answers 503.
    pub fn from_secret(secret: &SecretString, tolerance_secs: u32) -> anyhow::Result<Self> {
        let secrets = WebhookSecrets::parse(secret.expose_secret())?;
        for source in &secrets.unconfigured {
            tracing::warn!(
                %source,
                "webhook source not configured: its secret is empty or a placeholder \
                 (contains replace_me); its deliveries answer 503 until it is set"
            );
        }
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
            unconfigured: secrets.unconfigured,
        })
    }

    /// The verifier of `provider`, or why there is none.
    pub fn of(&self, provider: &Provider) -> Lookup<'_> {
        if self.unconfigured.contains(&provider.name()) {
            return Lookup::NotConfigured;
        }
        let found = match provider {
            Provider::Github => Some(&self.github as &dyn Verifier),
            Provider::Stripe => Some(&self.stripe as &dyn Verifier),
            Provider::Standard(source) => self.standard.get(source).map(|v| v as &dyn Verifier),
            Provider::Rsa(source) => self.rsa.get(source).map(|v| v as &dyn Verifier),
        };
        found.map_or(Lookup::Unknown, Lookup::Verifier)
    }
}
