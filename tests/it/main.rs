//! Integration tests: the real server on a random port, a real database (SQLite and PostgreSQL),
//! and the sandbox as the Cloud API, all over HTTP.

mod browser;
mod process;
mod support;

mod admin;
mod bsuid;
mod business_webhooks;
mod cli;
mod console;
mod contact_import;
mod conversations;
mod dialect_curbe;
mod dialect_innova;
mod dialect_respond;
mod dialect_wolkvox;
mod edge;
mod faults;
mod first_hour;
mod idempotency;
mod implied_delivered;
mod inbox_lease;
mod isolation;
mod limits;
mod listing;
mod marketing_consent;
mod marketing_messages;
mod media;
mod meta_errors;
mod metrics;
mod openapi;
mod pricing;
mod read_receipts;
mod refusals;
mod send;
mod slow_clients;
mod storage_failure;
mod switching;
mod templates;
mod users;
mod webhook_addresses;
mod webhooks;
mod window_fallback;
