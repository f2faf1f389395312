//! Vendor-compatible endpoints: each dialect translates its vendor's paths, fields, credentials
//! and envelopes into the native send service and store, and nothing else of its own.

pub mod respond;

use axum::http::Method;
use axum::routing::MethodRouter;
use chasqui_domain::Scope;

use super::AppState;
use crate::config::DialectsConfig;

/// One dialect route. Dialects authenticate with their own header and envelope, so the route
/// carries the scope its handler checks, for the authorization test.
pub struct DialectRoute {
    /// `curbe`, `respond`, `wolkvox` or `innova`.
    pub dialect: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path.
    pub path: &'static str,
    /// The scope the handler requires; `None` for a login.
    pub scope: Option<Scope>,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// Every route of the dialects switched on.
pub fn table(cfg: &DialectsConfig) -> Vec<DialectRoute> {
    let mut all = Vec::new();
    if cfg.respond {
        all.extend(respond::routes());
    }
    all
}
