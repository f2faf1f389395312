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

/// The query string, deserialized into a typed struct (`deny_unknown_fields`) or a
/// `HashMap<String, String>`. An unknown, repeated or malformed parameter is a 400 naming it.
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
        parse_query(parts.uri.query().unwrap_or("")).map(Self)
    }
}

/// Deserializes a query string, naming the parameter that is wrong.
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // Unknown and repeated parameters are reported at the top level, named in backticks.
        let named = message.split('`').nth(1).filter(|_| {
            message.starts_with("unknown field") || message.starts_with("duplicate field")
        });
        match named {
            Some(name) if message.starts_with("unknown field") => ApiError::BadParameter {
                field: name.to_owned(),
                message: format!(
                    "unknown query parameter{}",
                    message
                        .split_once(", expected")
                        .map(|(_, known)| format!(" (expected{known})"))
                        .unwrap_or_default()
                ),
            },
            Some(name) => ApiError::BadParameter {
                field: name.to_owned(),
                message: "given more than once".into(),
            },
            None => ApiError::BadParameter {
                field: if path == "." { "query".into() } else { path },
                message,
            },
        }
    })
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read through Debug only
    struct Listing {
        limit: Option<crate::api::paging::Limit>,
        search: Option<String>,
    }

    fn refused_field(raw: &str) -> (String, String) {
        match parse_query::<Listing>(raw) {
            Err(ApiError::BadParameter { field, message }) => (field, message),
            other => panic!("{raw}: expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn a_typed_query_names_the_parameter_it_refuses() {
        let ok = parse_query::<Listing>("limit=5&search=ana").expect("valid");
        assert_eq!(ok.limit.map(|l| l.get()), Some(5));
        assert_eq!(ok.search.as_deref(), Some("ana"));
        let (field, message) = refused_field("limit=5&colour=red");
        assert_eq!(field, "colour");
        assert!(
            message.contains("`limit`") && message.contains("`search`"),
            "{message}"
        );
        assert_eq!(refused_field("limit=0").0, "limit");
        assert_eq!(refused_field("limit=many").0, "limit");
        let (field, message) = refused_field("search=a&search=b");
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("search", "given more than once")
        );
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
