//! Vendor-compatible endpoints: each dialect is a thin translation from a vendor's paths, fields,
//! auth header and envelope into the one send service (and the template services) and back.
//!
//! Dialect routes are mounted without the native `authorize` middleware: each handler reads its
//! vendor's credential header, authenticates it as a Chasqui API key, checks its scope and
//! renders refusals in its vendor's envelope.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method};
use axum::routing::{on, MethodFilter, MethodRouter};
use chasqui_domain::Scope;

use super::body::MAX_BODY_BYTES;
use super::AppState;
use crate::config::DialectsConfig;

pub mod innova;
pub mod wolkvox;

/// One dialect route.
pub struct DialectRoute {
    /// The HTTP method.
    pub method: Method,
    /// The path.
    pub path: &'static str,
    /// The scope its least-privileged operation needs (a route serving several operations checks
    /// each one's own scope).
    pub scope: Scope,
    /// The vendor: `wolkvox`, `innova`...
    pub dialect: &'static str,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// Every dialect route the configuration switches on.
pub fn table(cfg: &DialectsConfig) -> Vec<DialectRoute> {
    let mut all = Vec::new();
    if cfg.wolkvox.enabled {
        // `list_templates` is documented as GET and the rest as POST; both methods reach every
        // operation, since `api=` alone decides what is done.
        all.push(DialectRoute {
            method: Method::POST,
            path: "/api/v2/whatsapp.php",
            scope: Scope::Send,
            dialect: "wolkvox",
            handler: on(MethodFilter::POST.or(MethodFilter::GET), wolkvox::whatsapp),
        });
        all.push(DialectRoute {
            method: Method::GET,
            path: "/api/v2/information.php",
            scope: Scope::Read,
            dialect: "wolkvox",
            handler: on(
                MethodFilter::GET.or(MethodFilter::POST),
                wolkvox::information,
            ),
        });
    }
    if cfg.innova.enabled {
        all.push(DialectRoute {
            method: Method::POST,
            path: "/api/whatsapp/enviar",
            scope: Scope::Send,
            dialect: "innova",
            handler: on(MethodFilter::POST, innova::enviar),
        });
    }
    all
}

/// An `Idempotency-Key` header a vendor client may add (Chasqui's extension): printable, 1 to
/// 255 characters; anything else is ignored rather than refused, since no vendor defines it.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_owned)
}

/// The request body, read only after the caller was admitted, so a slow upload holds its
/// in-flight slot like any other running request. Over [`MAX_BODY_BYTES`]: `None`.
pub(crate) async fn read_body(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok()
}

/// `limit`, lowered to `cap` when `cap` is set: a dialect's own quota never raises the key's.
pub(crate) fn capped(limit: Option<i64>, cap: Option<i64>) -> Option<i64> {
    match (limit, cap) {
        (Some(l), Some(c)) => Some(l.min(c)),
        (l, c) => l.or(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switched_off_dialects_have_no_routes() {
        let mut cfg = DialectsConfig::default();
        assert_eq!(table(&cfg).len(), 3);
        cfg.wolkvox.enabled = false;
        let paths: Vec<_> = table(&cfg).iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/api/whatsapp/enviar"]);
        cfg.innova.enabled = false;
        assert!(table(&cfg).is_empty());
    }

    #[test]
    fn a_dialect_cap_only_lowers() {
        assert_eq!(capped(None, None), None);
        assert_eq!(capped(Some(5), None), Some(5));
        assert_eq!(capped(None, Some(2)), Some(2));
        assert_eq!(capped(Some(5), Some(2)), Some(2));
        assert_eq!(capped(Some(1), Some(2)), Some(1));
    }
}
