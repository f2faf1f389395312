//! Vendor-compatible endpoints: each dialect is a thin translation from a vendor's paths, fields,
//! auth header and envelope into the one send service and back.

pub mod innova;
pub mod wolkvox;
