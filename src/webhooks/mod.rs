//! Webhooks: Meta → Chasqui (verify, store, then process). Chasqui → business comes later.

mod consent;
mod inbound;
pub mod ingest;
pub mod meta;
mod signature;
mod templates;

pub use meta::routes;
pub use signature::verify_signature;
pub use templates::apply_template_events;
