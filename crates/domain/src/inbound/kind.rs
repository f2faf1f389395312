//! What kind of message a user sent, as one flat list (interactive replies and voice notes get
//! their own kinds because callers branch on them).

use serde::{Serialize, Serializer};

/// The kind of an inbound message. Unknown wire types are kept in [`InboundKind::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InboundKind {
    /// `text`
    Text,
    /// `image`
    Image,
    /// `video`
    Video,
    /// `audio` without `voice: true`: a shared audio file.
    Audio,
    /// `audio` with `voice: true`: a recorded voice note.
    Voice,
    /// `document`
    Document,
    /// `sticker`
    Sticker,
    /// `location`
    Location,
    /// `contacts`: shared contact cards.
    Contacts,
    /// `reaction`: an emoji on an earlier message, or its removal.
    Reaction,
    /// `interactive` + `button_reply`: a reply button tapped.
    ButtonReply,
    /// `interactive` + `list_reply`: a list row chosen.
    ListReply,
    /// `interactive` + `nfm_reply`: a WhatsApp Flow completed.
    FlowReply,
    /// `interactive` + `call_permission_reply`: the user answered a call-permission request.
    CallPermissionReply,
    /// `button`: a template quick-reply button tapped.
    Button,
    /// `order`: a cart sent from a catalog.
    Order,
    /// `system`: a number or identity change reported by WhatsApp, not written by the user.
    System,
    /// `unsupported` (or Meta's `unknown`, or no `type` at all): WhatsApp could not render it.
    Unsupported,
    /// `edit`: the user edited an earlier message.
    Edit,
    /// `revoke`: the user deleted an earlier message.
    Revoke,
    /// Any other wire type (or an `interactive` with an unknown sub-type, as `interactive`).
    Other(String),
}

impl InboundKind {
    /// Stable name: the wire type, or the interactive sub-type, or `voice`; `Other` gives its own.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Voice => "voice",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Reaction => "reaction",
            Self::ButtonReply => "button_reply",
            Self::ListReply => "list_reply",
            Self::FlowReply => "nfm_reply",
            Self::CallPermissionReply => "call_permission_reply",
            Self::Button => "button",
            Self::Order => "order",
            Self::System => "system",
            Self::Unsupported => "unsupported",
            Self::Edit => "edit",
            Self::Revoke => "revoke",
            Self::Other(name) => name,
        }
    }

    /// The inverse of [`as_str`](Self::as_str), for names read back from storage.
    pub fn parse(name: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|k| k.as_str() == name)
            .cloned()
            .unwrap_or_else(|| Self::Other(name.to_owned()))
    }

    /// Every kind except `Other`.
    pub const KNOWN: [InboundKind; 20] = [
        Self::Text,
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Voice,
        Self::Document,
        Self::Sticker,
        Self::Location,
        Self::Contacts,
        Self::Reaction,
        Self::ButtonReply,
        Self::ListReply,
        Self::FlowReply,
        Self::CallPermissionReply,
        Self::Button,
        Self::Order,
        Self::System,
        Self::Unsupported,
        Self::Edit,
        Self::Revoke,
    ];

    /// Whether the content is a media object (id, mime type, sha256) to fetch from Meta.
    pub fn is_media(&self) -> bool {
        matches!(
            self,
            Self::Image | Self::Video | Self::Audio | Self::Voice | Self::Document | Self::Sticker
        )
    }
}

impl Serialize for InboundKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
