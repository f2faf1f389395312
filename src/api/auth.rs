//! Authentication and authorization: a bearer credential becomes a [`Principal`] (its workspace,
//! scopes and limits), and each route's one required scope is checked before its handler runs.
//!
//! Credentials are looked up on every request, so a revoked or expired key, or a disabled
//! workspace, is refused on the very next request, on every instance.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{Scope, ScopeSet};
use chasqui_store::{ApiKey, KeyLimits, TOUCH_INTERVAL_MS};

use super::error::ApiError;
use super::AppState;
use crate::clock::now_ms;
use crate::ids::sha256_hex;
use crate::limits::Admission;

/// Who is calling: the credential, its workspace, what it may do and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential's id (an API key's id): scopes idempotency keys and limits.
    pub id: String,
    /// The workspace everything the caller sees and changes belongs to.
    pub workspace_id: WorkspaceId,
    /// What the credential may do.
    pub scopes: ScopeSet,
    /// The credential's limits.
    pub limits: KeyLimits,
}

impl From<ApiKey> for Principal {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            workspace_id: k.workspace_id,
            scopes: k.scopes,
            limits: k.limits,
        }
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether `token` is a user's login session token rather than an API key.
pub fn is_session_token(token: &str) -> bool {
    token.starts_with(crate::ids::SESSION_TOKEN_PREFIX)
}

/// The principal a token stands for: a live API key of an enabled workspace, or a live login
/// session of an enabled user (with the user's scopes and no limits of its own).
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    let now = now_ms();
    if is_session_token(token) {
        let hash = sha256_hex(token.as_bytes());
        let session = state.store.find_session(&hash, now).await?;
        return Ok(session.map(|s| Principal {
            id: s.id,
            workspace_id: s.workspace_id,
            scopes: ScopeSet::from_stored(&s.scopes),
            limits: KeyLimits::default(),
        }));
    }
    let Some(key) = state
        .store
        .find_api_key(&sha256_hex(token.as_bytes()), now)
        .await?
    else {
        return Ok(None);
    };
    if key.last_used_at.is_none_or(|t| t < now - TOUCH_INTERVAL_MS) {
        // Off the request path: a lost touch only makes `last_used_at` a minute older.
        let (store, id) = (state.store.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, now).await {
                tracing::debug!(error = %e, "could not record a key's last use");
            }
        });
    }
    Ok(Some(key.into()))
}

/// Authenticates a token however it was carried (a vendor dialect's own header) and checks
/// `scope`.
pub async fn authenticate_token(
    state: &AppState,
    token: &str,
    scope: Scope,
) -> Result<Principal, ApiError> {
    let principal = resolve(state, token)
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    if !principal.scopes.contains(scope) {
        return Err(ApiError::InsufficientScope(scope));
    }
    Ok(principal)
}

/// Authenticates `token`, checks `scope`, then the credential's rate and concurrency limits:
/// what every authenticated request goes through, whichever header carried its token. Hold the
/// [`Admission`] until the answer is ready: it is the request's in-flight slot.
pub async fn admit(
    state: &AppState,
    token: &str,
    scope: Scope,
) -> Result<(Principal, Admission), ApiError> {
    let principal = authenticate_token(state, token, scope).await?;
    // Limits only after the scope check, so a refused call counts against nothing.
    let admission = state
        .limits
        .admit(&principal.id, &principal.limits)
        .await
        .inspect_err(|e| state.metrics.limit_refused(e))?;
    Ok((principal, admission))
}

/// Middleware in front of every authenticated route: authenticates, checks the route's scope
/// and hands the [`Principal`] to the handler.
pub async fn authorize(
    State((state, scope)): State<(AppState, Scope)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(req.headers()).ok_or(ApiError::MissingApiKey)?;
    let (principal, admission) = admit(&state, token, scope).await?;
    req.extensions_mut().insert(principal);
    let mut resp = next.run(req).await;
    // A send's answer carries its daily quota's standing, which says more than the rate's.
    if let Some(h) = &admission.headers {
        if !resp.headers().contains_key("ratelimit-limit") {
            h.apply(resp.headers_mut());
        }
    }
    // The in-flight slot is given back only now, with the answer ready (or, dropped during
    // unwinding, when the handler panicked).
    drop(admission);
    Ok(resp)
}

/// The authenticated caller, as [`authorize`] left it.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // A handler mounted without `authorize` fails closed.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(ApiError::MissingApiKey)
    }
}
