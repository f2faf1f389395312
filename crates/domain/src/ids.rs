//! Identifiers of Chasqui's own records: one type per kind, so a channel id cannot be passed
//! where a workspace id is expected.
//!
//! Chasqui mints every id itself (a prefix such as `ws_` and a time-ordered UUID; minting needs
//! a clock, so it lives in the application). An id that arrives from outside (a URL path, a
//! request body, the command line) is parsed once with [`FromStr`]: it must be 1 to
//! [`MAX_ID_LEN`] characters of letters, digits, `_`, `-` and `.`. Anything else cannot name a
//! record and is refused before it reaches a query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest id accepted from outside.
pub const MAX_ID_LEN: usize = 128;

/// Why a value from outside is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing was given.
    #[error("an id cannot be empty")]
    Empty,
    /// Longer than [`MAX_ID_LEN`].
    #[error("an id has at most {MAX_ID_LEN} characters")]
    TooLong,
    /// A character ids never hold.
    #[error("an id holds only letters, digits, '_', '-' and '.'; found {0:?}")]
    Character(char),
}

/// Checks what every id kind shares.
fn check(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        Some(c) => Err(IdError::Character(c)),
        None => Ok(()),
    }
}

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident = $prefix:literal;)*) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, pattern = "^[A-Za-z0-9_.-]{1,128}$")]
        pub struct $name(String);

        impl $name {
            /// The prefix of the ids Chasqui mints of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps an id Chasqui minted or stored itself (already known to be well formed).
            pub fn from_trusted(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as owned text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(raw: &str) -> Result<Self, IdError> {
                check(raw).map(|()| Self(raw.to_string()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                check(&raw).map_err(serde::de::Error::custom)?;
                Ok(Self(raw))
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    )*};
}

id_type! {
    /// A workspace (a tenant): `ws_…`.
    WorkspaceId = "ws_";
    /// A channel (one WhatsApp number of a workspace): `ch_…`.
    ChannelId = "ch_";
    /// A message, inbound or outbound: `msg_…`.
    MessageId = "msg_";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_outside_are_checked_once() {
        let id: MessageId = "msg_0190abc".parse().unwrap();
        assert_eq!(id, "msg_0190abc");
        assert_eq!(id.to_string(), "msg_0190abc");
        assert_eq!("".parse::<ChannelId>(), Err(IdError::Empty));
        assert_eq!("ch 1".parse::<ChannelId>(), Err(IdError::Character(' ')));
        assert_eq!(
            "ws'--".parse::<WorkspaceId>(),
            Err(IdError::Character('\''))
        );
        assert_eq!(
            "x".repeat(MAX_ID_LEN + 1).parse::<WorkspaceId>(),
            Err(IdError::TooLong)
        );
        assert!("x".repeat(MAX_ID_LEN).parse::<WorkspaceId>().is_ok());
    }

    #[test]
    fn ids_are_plain_strings_in_json_and_checked_when_read() {
        let id = WorkspaceId::from_trusted("ws_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"ws_1\"");
        let back: WorkspaceId = serde_json::from_str("\"ws_1\"").unwrap();
        assert_eq!(back, id);
        let err = serde_json::from_str::<WorkspaceId>("\"ws/1\"").unwrap_err();
        assert!(err.to_string().contains("'/'"), "{err}");
    }
}
