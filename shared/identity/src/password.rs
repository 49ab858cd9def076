//! argon2id password hashing, off the async executor, with rehash-on-login and a dummy hash
//! so unknown users cost the same time as wrong passwords.
//!
//! argon2's memory (19 MiB at the default cost) is reused, not allocated per hash: glibc serves
//! the first such block with mmap, but freeing it raises its dynamic mmap threshold above 19 MiB,
//! so every later block came from the heap of whichever arena the blocking thread used and
//! fragmented it: `auth`'s peak RSS grew with every signup. With the buffers kept in a pool, a
//! sandbox allocates one and never frees it (`measure-argon2-rss` measures it; `make bench`
//! reports the functions' peak RSS; the history is in functions/docs/guide/measurements.md,
//! "argon2 memory").

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use anyhow::Context as _;
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{
        Output, ParamsString, SaltString,
        rand_core::{OsRng, RngCore as _},
    },
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

/// The dummy hash that unknown users are verified against at the default cost, so they take as
/// long as a wrong password. Made once with `argon2` 0.5.3 (`Argon2::default().hash_password`,
/// argon2id m=19456,t=2,p=1, a salt from `SaltString::generate(&mut OsRng)`) of 32 random bytes
/// (base64) that were thrown away: nobody knows a password for it, and only its cost matters.
/// A constant, so neither init nor the first unknown-user login spends a hash on it.
pub const DEFAULT_DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$DLd0HIM3zd37gAnd0uOv+A$8pfgmZROh+YBjOwaLF5w/++Dxz+jz2+JC379WZJg+XM";

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
    // For non-default costs only; made on first need, without hashing (see `dummy`).
    dummy: OnceLock<String>,
    // argon2 memory, one buffer per hash in flight, kept for the life of the process. A pool
    // rather than a buffer per thread: tokio's blocking threads exit after 10 s idle (and get
    // replaced), which would free and reallocate a thread's buffer, the very pattern that
    // raises glibc's mmap threshold. Here the number of buffers is the peak number of
    // concurrent hashes: one in a Lambda sandbox, which serves one request at a time.
    memory: Mutex<Vec<Vec<Block>>>,
    // At most one hash per CPU at a time: argon2 is CPU-bound, so more would not finish sooner,
    // only hold a buffer each (`measure-argon2-rss` with more requests than CPUs shows the
    // difference; functions/docs/guide/measurements.md, "argon2 memory"). A Lambda sandbox
    // serves one request at a time, so there it never waits.
    // Here rather than tokio's `max_blocking_threads`, which would hold up all blocking work.
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.inner.params)
            .finish()
    }
}

impl Passwords {
    /// A hasher with `cost`; fails on parameters argon2 refuses. Computes nothing.
    pub fn new(cost: HashCost) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                dummy: OnceLock::new(),
                memory: Mutex::new(Vec::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, usize::from),
                )),
            }),
        })
    }

    /// Hashes `password` on the blocking pool.
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let inner = self.inner.clone();
        let password = password.clone();
        let permit = inner.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            // Held by the hash itself, which runs on even if the request is dropped meanwhile.
            let _permit = permit;
            inner.hash(password.expose_secret())
        })
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
        let permit = inner.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.verify(password.expose_secret(), stored)
        })
        .await
        .context("verification task failed")?
    }
}

impl Inner {
    /// Runs `argon2` into `out`, in memory taken from the pool and given back after.
    fn compute(
        &self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let blocks = argon2.params().block_count();
        // A poisoned lock only means another hash panicked; the list of buffers is still whole.
        let taken = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut memory = match taken {
            Some(memory) if memory.len() >= blocks => memory,
            // None free, or a stored hash with more memory than any so far: a new buffer (which
            // then stays, at the larger size, until the process ends). argon2 overwrites every
            // block it uses before reading it, so a reused buffer needs no clearing.
            _ => vec![Block::new(); blocks],
        };
        let result = argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..]);
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        result
    }

    fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(len, |out| {
            self.compute(&argon2, password.as_bytes(), salt_bytes, out)
                .map_err(Into::into)
        })
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
        // The PHC string `PasswordHasher::hash_password` writes: $argon2id$v=19$m=..,t=..,p=..$salt$hash
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| anyhow::anyhow!("hash parameters: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// The hash unknown users are verified against: the constant at the default cost; at any
    /// other, a PHC string with this cost, a random salt and a random output, made on first
    /// need. Verifying costs the same as for a real hash (argon2 runs in full before the
    /// comparison), no password matches it (that would take a preimage of a random output), and
    /// making it costs no hash, so even the first unknown-user login takes the usual time.
    fn dummy(&self) -> anyhow::Result<&str> {
        if same_cost(&self.params, &Params::DEFAULT) {
            return Ok(DEFAULT_DUMMY_HASH);
        }
        if let Some(dummy) = self.dummy.get() {
            return Ok(dummy);
        }
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        OsRng.fill_bytes(&mut output);
        let salt = SaltString::generate(&mut OsRng);
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| anyhow::anyhow!("dummy hash parameters: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).map_err(|e| anyhow::anyhow!("dummy hash: {e}"))?),
        }
        .to_string();
        // Two threads may race to set it; either serves.
        Ok(self.dummy.get_or_init(|| phc))
    }

    fn verify(&self, password: &str, stored: Option<String>) -> anyhow::Result<Verified> {
        let (phc, real) = match &stored {
            Some(phc) => (phc.as_str(), true),
            None => (self.dummy()?, false),
        };
        let parsed =
            PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        // What `PasswordVerifier::verify_password` does, in a pooled buffer: argon2 with the
        // stored hash's own algorithm, version, parameters (output length included) and salt.
        let ok = self.matches(password, &parsed).is_ok_and(|ok| ok);
        if !(ok && real) {
            return Ok(Verified::No);
        }
        let current = Params::try_from(&parsed).ok();
        let same = current.is_some_and(|p| same_cost(&p, &self.params))
            && parsed.algorithm == Algorithm::Argon2id.ident();
        let rehash = if same {
            None
        } else {
            Some(self.hash(password)?)
        };
        Ok(Verified::Yes { rehash })
    }

    /// Whether `password` hashes to `parsed`'s output; an error for a hash argon2 cannot check
    /// (which verification treats as a mismatch, as `verify_password` did).
    fn matches(&self, password: &str, parsed: &PasswordHash<'_>) -> anyhow::Result<bool> {
        let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored hash unusable: {e}");
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| err(&e))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| err(&e))?
            .unwrap_or_default();
        let params = Params::try_from(parsed).map_err(|e| err(&e))?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| err(&e))?;
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = Output::init_with(expected.len(), |out| {
            self.compute(&argon2, password.as_bytes(), salt_bytes, out)
                .map_err(Into::into)
        })
        .map_err(|e| err(&e))?;
        // `Output`'s `==` is constant-time (`subtle`).
        Ok(computed == *expected)
    }
}

/// Same memory, iterations and lanes (what the cost of a hash depends on).
fn same_cost(a: &Params, b: &Params) -> bool {
    a.m_cost() == b.m_cost() && a.t_cost() == b.t_cost() && a.p_cost() == b.p_cost()
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

    /// What the previous code (and any other argon2 user) wrote: the plain `PasswordHasher`.
    fn plain_hash(argon2: &Argon2<'_>, password: &str) -> String {
        use argon2::PasswordHasher as _;
        argon2
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    fn plain_verifies(phc: &str, password: &str) -> bool {
        use argon2::PasswordVerifier as _;
        Argon2::default()
            .verify_password(password.as_bytes(), &PasswordHash::new(phc).unwrap())
            .is_ok()
    }

    fn pooled(p: &Passwords) -> Vec<usize> {
        p.inner
            .memory
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect()
    }

    #[tokio::test]
    async fn new_hashes_and_stored_hashes_interoperate_with_the_plain_argon2_crate() {
        for cost in [cheap(), HashCost::default()] {
            let p = Passwords::new(cost).unwrap();
            let ours = p.hash(&secret("interop pw")).await.unwrap();
            assert!(plain_verifies(&ours, "interop pw"));
            assert!(!plain_verifies(&ours, "interop pW"));

            let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None);
            let theirs = plain_hash(
                &Argon2::new(Algorithm::Argon2id, Version::V0x13, params.unwrap()),
                "stored pw",
            );
            assert_eq!(
                p.verify(&secret("stored pw"), Some(theirs.clone()))
                    .await
                    .unwrap(),
                Verified::Yes { rehash: None }
            );
            assert_eq!(
                p.verify(&secret("stored pW"), Some(theirs)).await.unwrap(),
                Verified::No
            );
        }
    }

    #[tokio::test]
    async fn new_hashes_have_the_phc_format_of_the_plain_hasher() {
        let p = Passwords::new(cheap()).unwrap();
        let ours = p.hash(&secret("format")).await.unwrap();
        let theirs = plain_hash(&Argon2::from(p.inner.params.clone()), "format");
        let (ours, theirs) = (
            PasswordHash::new(&ours).unwrap(),
            PasswordHash::new(&theirs).unwrap(),
        );
        assert_eq!(ours.algorithm, theirs.algorithm);
        assert_eq!(ours.version, theirs.version);
        assert_eq!(ours.params, theirs.params);
        assert_eq!(ours.salt.unwrap().len(), theirs.salt.unwrap().len());
        assert_eq!(ours.hash.unwrap().len(), theirs.hash.unwrap().len());
    }

    #[test]
    fn the_default_dummy_is_an_argon2id_hash_at_the_default_cost() {
        let parsed = PasswordHash::new(DEFAULT_DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(parsed.version, Some(0x13));
        let params = Params::try_from(&parsed).unwrap();
        let cost = HashCost::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (cost.memory_kib, cost.iterations, cost.parallelism)
        );
        assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
        assert_eq!(parsed.salt.unwrap().len(), 22); // 16 bytes, as `SaltString::generate`
        // The cost of an unknown-user login is the configured one, whatever that is.
        let p = Passwords::new(HashCost::default()).unwrap();
        assert_eq!(p.inner.dummy().unwrap(), DEFAULT_DUMMY_HASH);
    }

    #[tokio::test]
    async fn the_dummy_at_another_cost_has_that_cost_and_costs_nothing_to_make() {
        let p = Passwords::new(cheap()).unwrap();
        let dummy = p.inner.dummy().unwrap().to_owned();
        assert!(pooled(&p).is_empty(), "making the dummy ran argon2");
        let parsed = PasswordHash::new(&dummy).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        assert!(same_cost(
            &Params::try_from(&parsed).unwrap(),
            &p.inner.params
        ));
        assert_eq!(p.inner.dummy().unwrap(), dummy, "made once");
        assert_eq!(p.verify(&secret(""), None).await.unwrap(), Verified::No);
        // Verifying against it did run argon2 at the configured cost.
        assert_eq!(pooled(&p), vec![p.inner.params.block_count()]);
    }

    #[test]
    fn creating_passwords_computes_nothing() {
        // Outside any runtime, as before; and nothing is allocated or spawned.
        let p = Passwords::new(HashCost::default()).unwrap();
        assert!(pooled(&p).is_empty());
        assert!(p.inner.dummy.get().is_none());
    }

    #[tokio::test]
    async fn one_buffer_serves_sequential_hashes_and_grows_for_a_costlier_stored_hash() {
        let p = Passwords::new(cheap()).unwrap();
        for _ in 0..3 {
            let hash = p.hash(&secret("reuse")).await.unwrap();
            p.verify(&secret("reuse"), Some(hash)).await.unwrap();
        }
        assert_eq!(pooled(&p), vec![1024]);
        // A stored hash from when the cost was higher still verifies (and is rehashed).
        let costlier = Passwords::new(HashCost {
            memory_kib: 2048,
            ..cheap()
        })
        .unwrap();
        let old = costlier.hash(&secret("old")).await.unwrap();
        let Verified::Yes { rehash: Some(new) } =
            p.verify(&secret("old"), Some(old)).await.unwrap()
        else {
            panic!("expected a rehash")
        };
        assert!(new.contains("m=1024,t=1,p=1"));
        assert_eq!(pooled(&p), vec![2048]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_use_one_buffer_each_up_to_one_per_cpu() {
        let p = Passwords::new(cheap()).unwrap();
        let pw = secret("c");
        let hashes = futures::future::join_all((0..4).map(|_| p.hash(&pw))).await;
        for hash in hashes {
            assert!(plain_verifies(&hash.unwrap(), "c"));
        }
        // At most one per CPU, however many requests wait.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let buffers = pooled(&p).len();
        assert!((1..=cpus.min(4)).contains(&buffers), "{buffers} buffers");
    }

    #[tokio::test]
    async fn an_argon2i_hash_verifies_and_is_rehashed_to_argon2id() {
        let p = Passwords::new(cheap()).unwrap();
        let params = Params::new(1024, 1, 1, None).unwrap();
        let old = plain_hash(
            &Argon2::new(Algorithm::Argon2i, Version::V0x13, params),
            "old i",
        );
        assert!(old.starts_with("$argon2i$"));
        let Verified::Yes { rehash: Some(new) } =
            p.verify(&secret("old i"), Some(old.clone())).await.unwrap()
        else {
            panic!("expected a rehash")
        };
        assert!(new.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(plain_verifies(&new, "old i"));
        assert_eq!(
            p.verify(&secret("old I"), Some(old)).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn unreadable_or_incomplete_stored_hashes_are_refused() {
        let p = Passwords::new(cheap()).unwrap();
        assert!(
            p.verify(&secret("x"), Some("not a hash".to_owned()))
                .await
                .is_err()
        );
        // Readable, but with no output to compare: never a match.
        assert_eq!(
            p.verify(
                &secret("x"),
                Some("$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ".to_owned())
            )
            .await
            .unwrap(),
            Verified::No
        );
    }
}
