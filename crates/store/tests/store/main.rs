//! The store's integration tests, one binary: each case on a fresh database, on both back ends
//! where the behaviour is shared.

mod common;

mod contract;

mod contact_import;
mod dialect_ids;
mod fsync_failure;
mod inbox_lease;
mod inbox_scale;
mod quotas;
mod sqlite_close;
mod webhook_order;
mod write_counters;
