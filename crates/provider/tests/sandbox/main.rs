//! The sandbox end to end, over HTTP, with the real providers.
//!
//! `send`, `faults` and `statuses` go through `chasqui_domain::parse_outbound` (the sandbox
//! validates every message with it) and start with `require_domain()`, which fails with a clear
//! message while that function is still `todo!()`. `auth_and_transport`, `control`, `inbound`
//! and `dialog360` do not depend on it.

mod auth_and_transport;
mod control;
mod dialog360;
mod faults;
mod inbound;
mod media;
mod send;
mod statuses;
mod support;
mod templates;
