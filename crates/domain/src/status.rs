//! A message's lifecycle status and the monotonic order between them.

use serde::{Deserialize, Serialize};

/// Where a message is in its life. `queued` and `sending` are Chasqui's own; `sent`, `delivered`
/// and `read` come from WhatsApp; `failed` is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Committed and waiting for the dispatcher.
    Queued,
    /// Handed to the provider; the outcome is not known yet.
    Sending,
    /// The provider accepted it (Meta's `sent`).
    Sent,
    /// Delivered to the recipient's device.
    Delivered,
    /// Read by the recipient.
    Read,
    /// Permanently failed; carries Meta's error.
    Failed,
}

impl MessageStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [MessageStatus; 6] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
    ];

    /// The wire name (`queued`, `sending`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Progress rank: a status may only replace one of lower rank. `failed` ranks with `sent`,
    /// so a late `failed` does not undo `delivered`/`read`, and `delivered`/`read` after `failed`
    /// (which Meta does send, rarely) prove the message arrived after all.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sending => 1,
            Self::Sent | Self::Failed => 2,
            Self::Delivered => 3,
            Self::Read => 4,
        }
    }

    /// Whether moving from `self` to `next` is forward progress (and so changes the current status).
    pub fn advances_to(self, next: MessageStatus) -> bool {
        next.rank() > self.rank() || (self == Self::Sent && next == Self::Failed)
    }

    /// Whether the dispatcher is done with a message in this status.
    pub fn is_final_for_dispatch(self) -> bool {
        self.rank() >= 2
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
