//! Chasqui: a self-hosted WhatsApp Business messaging gateway.
//!
//! The binary's layers: `api` (HTTP ingress), `dispatch` (the worker that paces messages out
//! to providers), `webhooks` (Meta → Chasqui), wired together by `app` from `config`.

pub mod admin;
pub mod api;
pub mod app;
pub mod bench;
pub mod bootstrap;
pub mod build_info;
pub mod business_webhooks;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod ids;
pub mod limits;
pub mod live;
pub mod media;
pub mod net;
pub mod secrets;
pub mod server;
pub mod telemetry;
pub mod templates;
pub mod users;
pub mod webhooks;
pub mod write_counters;
