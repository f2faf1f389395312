//! Password hashing with Argon2id, as PHC strings, always on the blocking thread pool: one hash
//! costs tens of milliseconds of CPU and megabytes of memory, which must not stall the async
//! workers that serve every other request.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

/// Why hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The Argon2 parameters are unusable.
    #[error("argon2 parameters: {0}")]
    Params(String),
    /// Argon2 failed.
    #[error("argon2: {0}")]
    Hash(String),
    /// The blocking task died or the service is shutting down.
    #[error("password hashing task failed")]
    Task,
}

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a password nobody knows, made with the current parameters the first time it is
    /// needed: logins for unknown users verify against it, so they take as long as real ones.
    dummy: Arc<OnceLock<String>>,
    /// Bounds concurrent hashes, so a burst of logins cannot claim memory without limit
    /// (each hash holds `memory_kib` while it runs).
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// A hasher making Argon2id hashes with `memory_kib` KiB and `iterations` passes, one lane.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            params,
            dummy: Arc::new(OnceLock::new()),
            permits: Arc::new(Semaphore::new(cpus * 2)),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let argon2 = self.argon2();
        let password = password.to_string();
        self.blocking(move || hash_with(&argon2, &password)).await?
    }

    /// Whether `password` matches `phc`; with no hash (no such user) it verifies against the
    /// dummy hash and answers `false`, taking the same time as a real check.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
        let argon2 = self.argon2();
        let dummy = self.dummy.clone();
        let (password, phc) = (password.to_string(), phc.map(str::to_string));
        self.blocking(move || {
            let (hash, real) = match phc {
                Some(h) => (h, true),
                None => (dummy.get_or_init(|| dummy_hash(&argon2)).clone(), false),
            };
            // A stored hash that does not parse verifies nothing; it is not an input error.
            let matched = PasswordHash::new(&hash)
                .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false);
            Ok(real && matched)
        })
        .await?
    }

    /// Makes the dummy hash now, so that not even the first login for an unknown user takes
    /// longer than the others.
    pub async fn prepare(&self) -> Result<(), PasswordError> {
        let argon2 = self.argon2();
        let dummy = self.dummy.clone();
        self.blocking(move || {
            dummy.get_or_init(|| dummy_hash(&argon2));
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Task)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| PasswordError::Task)
    }
}

/// The hash unknown users are checked against; empty (verifying nothing, quickly) only if
/// Argon2 itself fails, which valid parameters rule out.
fn dummy_hash(argon2: &Argon2<'_>) -> String {
    hash_with(argon2, "chasqui-no-such-user").unwrap_or_default()
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(1024, 1).expect("params")
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let h = cheap();
        let a = h.hash("correct horse").await.expect("hash");
        let b = h.hash("correct horse").await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(h.verify("correct horse", Some(&a)).await.expect("verify"));
        assert!(!h.verify("wrong horse", Some(&a)).await.expect("verify"));
    }

    #[tokio::test]
    async fn no_hash_and_garbage_never_verify() {
        let h = cheap();
        assert!(!h.verify("anything", None).await.expect("verify"));
        assert!(!h
            .verify("chasqui-no-such-user", None)
            .await
            .expect("verify"));
        assert!(!h
            .verify("x", Some("not a phc string"))
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let old = PasswordHasher::new(2048, 2).expect("params");
        let phc = old.hash("s3cret-pass").await.expect("hash");
        assert!(cheap()
            .verify("s3cret-pass", Some(&phc))
            .await
            .expect("verify"));
    }
}
