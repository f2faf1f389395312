//! Chasqui's own path and query extractors: axum's, with every rejection (a segment that is not
//! UTF-8 once percent-decoded, a malformed query string) answered through [`ApiError`] instead of
//! axum's plain text, and the NUL character refused in any segment or parameter, so no handler
//! hands it to the store (PostgreSQL `text` cannot hold it). Handlers use these, never axum's.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::Uri;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Path parameters, deserialized as axum's `Path` does.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // NUL first, so it gets its own answer whatever type the segment parses into. A segment
        // that is not UTF-8 fails here and is answered by the typed extraction below.
        let mut only_key = None;
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            if let Some((key, _)) = raw.iter().find(|(_, v)| v.contains('\0')) {
                return Err(ApiError::NulInParameter {
                    field: key.to_owned(),
                });
            }
            let mut keys = raw.iter().map(|(k, _)| k);
            only_key = keys
                .next()
                .filter(|_| keys.next().is_none())
                .map(str::to_owned);
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(rejection, only_key)),
        }
    }
}

/// Maps axum's rejection; `only_key` names the route's one parameter, for errors of a value that
/// axum reports without its key (a single-value `Path<T>`).
fn path_rejection(rejection: PathRejection, only_key: Option<String>) -> ApiError {
    let bad = |field: String, message: String| ApiError::BadParameter { field, message };
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.into_kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                bad(key, "must be valid UTF-8 once percent-decoded".into())
            }
            ErrorKind::ParseErrorAtKey {
                key, expected_type, ..
            } => bad(key, format!("must be a {expected_type}")),
            ErrorKind::DeserializeError { key, message, .. } => bad(key, message),
            // A route whose handler expects other parameters than its path has: a bug here.
            kind @ (ErrorKind::WrongNumberOfParameters { .. }
            | ErrorKind::UnsupportedType { .. }) => {
                ApiError::Internal(format!("path parameters: {kind}"))
            }
            other => bad(only_key.unwrap_or_else(|| "path".into()), other.to_string()),
        },
        other => ApiError::Internal(format!("path parameters: {other}")),
    }
}

/// The query string, deserialized as axum's `Query` does (`HashMap<String, String>` for a
/// handler that checks each parameter's name itself).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        refuse_nul(&parts.uri)?;
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| ApiError::BadParameter {
                field: "query".into(),
                message: e.body_text(),
            })
    }
}

/// Refuses a query string whose parameter names or values hold NUL once decoded.
fn refuse_nul(uri: &Uri) -> Result<(), ApiError> {
    // Cheap test first: a NUL can only arrive percent-encoded (`%00`).
    if !uri.query().is_some_and(|q| q.contains("%00")) {
        return Ok(());
    }
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|e| {
        ApiError::BadParameter {
            field: "query".into(),
            message: e.body_text(),
        }
    })?;
    match pairs
        .0
        .into_iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        Some((field, _)) => Err(ApiError::NulInParameter { field }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    async fn query(uri: &str) -> Result<HashMap<String, String>, ApiError> {
        let (mut parts, ()) = axum::http::Request::builder()
            .uri(uri)
            .body(())
            .expect("request")
            .into_parts();
        Query::<HashMap<String, String>>::from_request_parts(&mut parts, &())
            .await
            .map(|q| q.0)
    }

    #[tokio::test]
    async fn a_nul_in_a_query_parameter_is_refused_naming_it() {
        assert!(matches!(
            query("/x?limit=5&search=a%00b").await,
            Err(ApiError::NulInParameter { field }) if field == "search"
        ));
        // `%2500` is the text `%00`, not a NUL.
        assert_eq!(query("/x?search=%2500").await.expect("ok")["search"], "%00");
    }
}
