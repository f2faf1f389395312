//! Integration tests: the real server on a random port, a real database (SQLite and PostgreSQL),
//! and the sandbox as the Cloud API, all over HTTP.

mod process;
mod support;

mod business_webhooks;
mod cli;
mod conversations;
mod faults;
mod idempotency;
mod isolation;
mod listing;
mod media;
mod refusals;
mod send;
mod templates;
mod webhooks;
