//! Webhooks: Meta → Chasqui (verify, dedupe, apply). Chasqui → business comes with a later issue.

mod meta;
mod signature;

pub use meta::routes;
pub use signature::verify_signature;
