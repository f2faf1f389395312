//! Vendor-compatible endpoints: each dialect translates its vendor's paths, fields, credentials
//! and envelopes into the native send service and store, and nothing else of its own.

pub mod curbe;
pub mod respond;

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::routing::{on, MethodFilter, MethodRouter};
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
    if cfg.curbe {
        all.push(DialectRoute {
            dialect: "curbe",
            method: Method::POST,
            path: curbe::LOGIN_PATH,
            scope: None,
            handler: on(MethodFilter::POST, curbe::login),
        });
        all.push(DialectRoute {
            dialect: "curbe",
            method: Method::POST,
            path: curbe::SEND_PATH,
            scope: Some(Scope::Send),
            handler: on(MethodFilter::POST, curbe::send),
        });
    }
    if cfg.respond {
        all.extend(respond::routes());
    }
    all
}

/// Rewrites paths a vendor matches case-insensitively to their documented spelling, before
/// routing.
pub async fn fold_case(mut req: Request) -> Request {
    let path = req.uri().path();
    let canonical = [curbe::SEND_PATH, curbe::LOGIN_PATH]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(path) && *p != path);
    if let Some(p) = canonical {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{p}?{q}"),
            None => p.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}
