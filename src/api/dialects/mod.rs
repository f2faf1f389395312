//! Vendor-compatible endpoints: each dialect translates its vendor's paths, fields, credentials
//! and envelopes into the native send service and store, and nothing else of its own.

pub mod curbe;
pub mod innova;
pub mod respond;
pub mod wolkvox;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{on, MethodFilter, MethodRouter};
use chasqui_domain::Scope;

use super::error::ApiError;
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
    /// The scope the handler requires; `None` for a login. A route serving several operations
    /// (Wolkvox's `api=`) names its least-privileged one's and checks each operation's own.
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
    if cfg.wolkvox.enabled {
        // `list_templates` is documented as GET and the rest as POST; both methods reach every
        // operation, since `api=` alone decides what is done.
        all.push(DialectRoute {
            dialect: "wolkvox",
            method: Method::POST,
            path: "/api/v2/whatsapp.php",
            scope: Some(Scope::Send),
            handler: on(MethodFilter::POST.or(MethodFilter::GET), wolkvox::whatsapp),
        });
        all.push(DialectRoute {
            dialect: "wolkvox",
            method: Method::GET,
            path: "/api/v2/information.php",
            scope: Some(Scope::Read),
            handler: on(
                MethodFilter::GET.or(MethodFilter::POST),
                wolkvox::information,
            ),
        });
    }
    if cfg.innova.enabled {
        all.push(DialectRoute {
            dialect: "innova",
            method: Method::POST,
            path: "/api/whatsapp/enviar",
            scope: Some(Scope::Send),
            handler: on(MethodFilter::POST, innova::enviar),
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
/// in-flight slot like any other running request. Over
/// [`MAX_BODY_BYTES`](super::body::MAX_BODY_BYTES): `None`.
pub(crate) async fn read_body(body: Body) -> Option<Bytes> {
    super::body::read(body).await.ok()
}

/// Logs what a vendor envelope hides: a gateway failure's details go to the log, never to the
/// client (as the native API's problem rendering does).
pub(crate) fn log_failure(e: &ApiError) {
    match e {
        ApiError::Internal(detail)
        | ApiError::Limited(crate::limits::LimitError::Store(detail)) => {
            tracing::error!(error = %detail, "internal error in a dialect request")
        }
        ApiError::Unavailable => tracing::warn!("a dialect request found the store not ready"),
        // The store said why, once, at error level; every refused write need not repeat it.
        ApiError::StorageUnavailable(_)
        | ApiError::Limited(crate::limits::LimitError::StoreUnavailable(_)) => {
            tracing::debug!("a dialect request found the store stopped")
        }
        ApiError::ProviderUnavailable(detail) => {
            tracing::warn!(error = %detail, "a dialect request could not reach the provider")
        }
        _ => {}
    }
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
        let paths = |cfg: &DialectsConfig| table(cfg).iter().map(|r| r.path).collect::<Vec<_>>();
        assert!(paths(&cfg).contains(&"/api/v2/whatsapp.php"));
        assert!(paths(&cfg).contains(&"/api/whatsapp/enviar"));
        cfg.wolkvox.enabled = false;
        assert!(!paths(&cfg).iter().any(|p| p.starts_with("/api/v2/")));
        assert!(paths(&cfg).contains(&"/api/whatsapp/enviar"));
        cfg.innova.enabled = false;
        assert!(!paths(&cfg).contains(&"/api/whatsapp/enviar"));
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
