//! Secrets at rest (provider tokens, app secrets, verify tokens): sealed with ChaCha20-Poly1305
//! under a key from configuration, so a copied database file does not leak them.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is not base64 of 32 bytes.
    #[error("secret key must be base64 of 32 bytes")]
    BadKey,
    /// The key file could not be read or written.
    #[error("secret key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    /// A stored secret was not sealed with this key.
    #[error("a stored secret cannot be opened with the configured secret key")]
    Undecryptable,
}

/// The sealing key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// From base64 of 32 bytes.
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = B64.decode(key.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let cipher = ChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Self { cipher })
    }

    /// From `key` when set, else from `file`, which is created with a random key (mode 0600) if missing.
    pub fn load(key: &str, file: &Path) -> Result<Self, SecretError> {
        if !key.is_empty() {
            return Self::from_base64(key);
        }
        let name = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = B64.encode(ChaCha20Poly1305::generate_key(&mut OsRng));
                write_private(file, &fresh).map_err(|e| SecretError::KeyFile(name, e))?;
                Self::from_base64(&fresh)
            }
            Err(e) => Err(SecretError::KeyFile(name, e)),
        }
    }

    /// Seals `plain` into `base64(nonce || ciphertext)`.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Opens what `seal` produced.
    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let bytes = B64.decode(sealed).map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < 12 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Undecryptable)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), body)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_another_key() {
        let a = Sealer::from_base64(&B64.encode([7u8; 32])).expect("key");
        let b = Sealer::from_base64(&B64.encode([8u8; 32])).expect("key");
        let sealed = a.seal("EAAG-token");
        assert!(!sealed.contains("EAAG"));
        assert_eq!(a.open(&sealed).expect("open"), "EAAG-token");
        assert!(b.open(&sealed).is_err());
        assert_ne!(a.seal("x"), a.seal("x"), "fresh nonce each time");
    }

    #[test]
    fn rejects_short_keys() {
        assert!(Sealer::from_base64(&B64.encode([1u8; 16])).is_err());
    }

    #[test]
    fn creates_a_key_file_once() {
        let dir = std::env::temp_dir().join(format!("chasqui-key-{}", uuid::Uuid::now_v7()));
        let file = dir.join("k");
        let a = Sealer::load("", &file).expect("create");
        let b = Sealer::load("", &file).expect("reuse");
        assert_eq!(b.open(&a.seal("s")).expect("same key"), "s");
        let _ = std::fs::remove_dir_all(dir);
    }
}
