//! argon2id password hashing, off the async executor, with rehash-on-login and a dummy hash
//! so unknown users cost the same time as wrong passwords.

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use shared::config::{ConfigError, Env};

/// argon2id cost parameters. Defaults are OWASP's: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB (`ARGON2_MEMORY_KIB`).
    pub memory_kib: u32,
    /// Iterations (`ARGON2_ITERATIONS`).
    pub iterations: u32,
    /// Parallelism (`ARGON2_PARALLELISM`).
    pub parallelism: u32,
}

impl HashCost {
    /// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`: read only by the function
    /// that hashes (`auth`), so a malformed value cannot stop any other.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            memory_kib: env.num("ARGON2_MEMORY_KIB", default.memory_kib, 8, 4 * 1024 * 1024)?,
            iterations: env.num("ARGON2_ITERATIONS", default.iterations, 1, 100)?,
            parallelism: env.num("ARGON2_PARALLELISM", default.parallelism, 1, 64)?,
        })
    }
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or unknown user).
    No,
    /// Right password; carries a new hash when the stored one used other parameters.
    Yes {
        /// Replacement PHC string to store, when the cost changed.
        rehash: Option<String>,
    },
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    // Computed on a blocking thread during init, off the cold-start path.
    dummy: OnceLock<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.inner.params)
            .finish()
    }
}

impl Passwords {
    /// A hasher with `cost`; fails on parameters argon2 refuses.
    pub fn new(cost: HashCost) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let inner = Arc::new(Inner {
            params,
            dummy: OnceLock::new(),
        });
        // Compute the dummy hash in the background during init, so the first unknown-user login
        // is not slower than a wrong password (which would tell them apart).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let warm = inner.clone();
            drop(runtime.spawn_blocking(move || {
                // A failure here is retried, and reported, by the first verification that needs it.
                if let Err(err) = warm.dummy() {
                    tracing::warn!(error = %format!("{err:#}"), "dummy hash not precomputed");
                }
            }));
        }
        Ok(Self { inner })
    }

    /// Hashes `password` on the blocking pool.
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let inner = self.inner.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || inner.hash(password.expose_secret()))
            .await
            .context("hashing task failed")?
    }

    /// Verifies `password` against the stored PHC string, or against a dummy hash when `stored`
    /// is `None` (unknown user), so both paths take the same time.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<String>,
    ) -> anyhow::Result<Verified> {
        let inner = self.inner.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || inner.verify(password.expose_secret(), stored))
            .await
            .context("verification task failed")?
    }
}

impl Inner {
    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    }

    /// A hash of a random password nobody knows (only its cost matters). A failure to compute
    /// it is an error: verifying against an empty default would make unknown users fast.
    fn dummy(&self) -> anyhow::Result<&str> {
        if let Some(dummy) = self.dummy.get() {
            return Ok(dummy);
        }
        let random = uuid::Uuid::new_v4().to_string();
        let hash = self.hash(&random).context("computing the dummy hash")?;
        // Two threads may race to set it; either hash serves.
        Ok(self.dummy.get_or_init(|| hash))
    }

    fn verify(&self, password: &str, stored: Option<String>) -> anyhow::Result<Verified> {
        let (phc, real) = match &stored {
            Some(phc) => (phc.as_str(), true),
            None => (self.dummy()?, false),
        };
        let parsed =
            PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        // Verify with the stored hash's own parameters (the PHC string carries them).
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if !(ok && real) {
            return Ok(Verified::No);
        }
        let current = Params::try_from(&parsed).ok();
        let same_cost = current.is_some_and(|p| {
            p.m_cost() == self.params.m_cost()
                && p.t_cost() == self.params.t_cost()
                && p.p_cost() == self.params.p_cost()
        }) && parsed.algorithm == Algorithm::Argon2id.ident();
        let rehash = if same_cost {
            None
        } else {
            Some(self.hash(password)?)
        };
        Ok(Verified::Yes { rehash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashCost {
        HashCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let p = Passwords::new(cheap()).unwrap();
        let hash = p.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            p.verify(&secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Yes { rehash: None }
        );
        assert_eq!(
            p.verify(&secret("wrong"), Some(hash)).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let p = Passwords::new(cheap()).unwrap();
        assert_eq!(
            p.verify(&secret("anything"), None).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_rehashed_on_success() {
        let old = Passwords::new(cheap()).unwrap();
        let new = Passwords::new(HashCost {
            memory_kib: 2048,
            ..cheap()
        })
        .unwrap();
        let hash = old.hash(&secret("pw-to-upgrade")).await.unwrap();
        let Verified::Yes {
            rehash: Some(upgraded),
        } = new
            .verify(&secret("pw-to-upgrade"), Some(hash))
            .await
            .unwrap()
        else {
            panic!("expected a rehash")
        };
        assert!(upgraded.contains("m=2048"));
    }

    #[test]
    fn the_default_cost_is_owasps() {
        assert_eq!(
            HashCost::default(),
            HashCost {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }

    /// RFC 9106 §5.3 argon2id test vector (with secret and associated data).
    #[test]
    fn rfc9106_argon2id_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[0x04; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let argon2 =
            Argon2::new_with_secret(&[0x03; 8], Algorithm::Argon2id, Version::V0x13, params)
                .unwrap();
        let mut tag = [0u8; 32];
        argon2
            .hash_password_into(&[0x01; 32], &[0x02; 16], &mut tag)
            .unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    /// The published PHC reference string verifies through the same verifier login uses.
    #[tokio::test]
    async fn the_reference_phc_string_verifies() {
        let p = Passwords::new(cheap()).unwrap();
        let phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert!(matches!(
            p.verify(&secret("password"), Some(phc.to_owned()))
                .await
                .unwrap(),
            Verified::Yes { .. }
        ));
        assert_eq!(
            p.verify(&secret("Password"), Some(phc.to_owned()))
                .await
                .unwrap(),
            Verified::No
        );
    }
}
