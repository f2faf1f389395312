//! Identifiers Chasqui mints: message ids, channel ids, API keys and their hashes.

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new message id: `msg_` and a time-ordered UUIDv7 in hex.
pub fn message_id() -> MessageId {
    MessageId::from_trusted(prefixed(MessageId::PREFIX))
}

/// A new channel id: `ch_` and a time-ordered UUIDv7 in hex.
pub fn channel_id() -> ChannelId {
    ChannelId::from_trusted(prefixed(ChannelId::PREFIX))
}

/// A new workspace id: `ws_` and a time-ordered UUIDv7 in hex.
pub fn workspace_id() -> WorkspaceId {
    WorkspaceId::from_trusted(prefixed(WorkspaceId::PREFIX))
}

/// A new id with `prefix` (`key_`, `ch_`, `ins_`).
pub fn prefixed(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A fresh API key: `chq_` and 32 random bytes in URL-safe base64.
pub fn api_key() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "chq_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What every login session token starts with (API keys start with `chq_`).
pub const SESSION_TOKEN_PREFIX: &str = "chs_";

/// A fresh login session token: `chs_` and 32 random bytes in hex (stored only as its hash).
pub fn session_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SESSION_TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Lower-case hex SHA-256 of `data` (API keys are stored and looked up by this).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A random token for secrets Chasqui generates itself (sandbox app secret, verify token).
pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_unique_and_hash_stably() {
        let (a, b) = (api_key(), api_key());
        assert_ne!(a, b);
        assert!(a.starts_with("chq_") && a.len() > 40);
        assert_eq!(sha256_hex(a.as_bytes()), sha256_hex(a.as_bytes()));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn message_ids_sort_by_creation() {
        let a = message_id();
        let b = message_id();
        assert!(a < b, "{a} < {b}");
    }
}
