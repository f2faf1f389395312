//! Chasqui's pure core: WhatsApp's message types and limits, phone numbers, message statuses,
//! Meta's error classes, pacing and retry arithmetic, and Meta webhook payloads.
//!
//! Nothing here does I/O or is async; every rule is testable with plain unit and property tests.

pub mod backoff;
pub mod consent;
pub mod graph_version;
pub mod ids;
pub mod inbound;
pub mod media_limits;
pub mod meta_error;
pub mod outbound;
pub mod pacing;
pub mod phone;
pub mod pricing;
pub mod problem;
pub mod provider;
pub mod quota;
pub mod recipient;
pub mod scope;
pub mod status;
pub mod template_registry;
pub mod webhook;
pub mod window;
pub mod window_fallback;

pub use ids::{ChannelId, MessageId, WorkspaceId};
pub use meta_error::{classify, ErrorClass, MetaError};
pub use outbound::{parse_outbound, MessageKind, OutboundMessage};
pub use phone::PhoneNumber;
pub use problem::Problem;
pub use provider::ProviderKind;
pub use recipient::{Recipient, UserId};
pub use scope::{Scope, ScopeSet};
pub use status::MessageStatus;
