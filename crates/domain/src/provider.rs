//! Which API delivers a channel's messages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A channel's provider: the API its messages go out through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Meta's WhatsApp Cloud API (Graph).
    CloudApi,
    /// 360dialog's hosted Cloud API: the same bodies behind its own endpoint and header.
    Dialog360,
    /// Chasqui's simulated Cloud API, for trying Chasqui and for tests.
    Sandbox,
}

impl ProviderKind {
    /// Every provider.
    pub const ALL: [ProviderKind; 3] = [Self::CloudApi, Self::Dialog360, Self::Sandbox];

    /// The configuration and storage name: `cloud_api`, `dialog360` or `sandbox`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudApi => "cloud_api",
            Self::Dialog360 => "dialog360",
            Self::Sandbox => "sandbox",
        }
    }

    /// Parses a name exactly as [`ProviderKind::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The names, for error messages: `"cloud_api", "dialog360" or "sandbox"`.
    pub fn names() -> String {
        let quoted: Vec<String> = Self::ALL
            .iter()
            .map(|p| format!("{:?}", p.as_str()))
            .collect();
        match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.join(""),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_reads_back_its_own_name_and_nothing_else() {
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(p.as_str()), Some(p));
        }
        assert_eq!(ProviderKind::parse("CLOUD_API"), None);
        assert_eq!(ProviderKind::parse("whatsapp"), None);
        assert_eq!(
            ProviderKind::names(),
            "\"cloud_api\", \"dialog360\" or \"sandbox\""
        );
    }
}
