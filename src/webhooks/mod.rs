//! Webhooks: Meta → Chasqui (verify, dedupe, apply). Chasqui → business comes with a later issue.

mod meta;
mod signature;
mod templates;

pub use meta::routes;
pub use signature::verify_signature;
pub use templates::apply_template_events;
