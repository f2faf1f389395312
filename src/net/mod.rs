//! Outbound connections made on a tenant's behalf: which addresses they may reach
//! (`address_policy`, pure) and how that rule is applied to DNS answers and URLs (`guard`).

pub mod address_policy;
pub mod guard;

pub use address_policy::{AddressPolicy, Refusal};
