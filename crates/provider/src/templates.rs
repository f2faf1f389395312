//! Template management calls (`/{waba-id}/message_templates`, reference §5.1), shared by every
//! provider: reading Graph-style answers, and following a listing's pages.

use std::future::Future;

use chasqui_domain::MetaError;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::cloud_api::{meta_error, status_line};

/// A listing is followed for at most this many pages, so a provider that keeps answering
/// with a `next` page cannot hold a sync forever.
pub(crate) const MAX_PAGES: usize = 100;

/// Templates asked for per page.
pub(crate) const PAGE_LIMIT: usize = 100;

/// Why a template management call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManageError {
    /// The provider answered with an error (Meta's envelope when it sent one).
    #[error("the provider refused (HTTP {http_status}): {} {}", error.code, error.title)]
    Rejected {
        /// HTTP status of the answer.
        http_status: u16,
        /// Meta's error, or a synthesised one (code -1) for other bodies.
        error: MetaError,
    },
    /// No answer could be read (connection refused, timeout, unreadable body).
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// A 2xx answer that is not what Meta answers.
    #[error("the provider's answer is not understood: {0}")]
    BadAnswer(String),
    /// This provider cannot manage templates (or not for this channel).
    #[error("{0}")]
    Unsupported(String),
}

/// `url` with `query` appended, each value URL-encoded (cursors are opaque base64).
pub(crate) fn with_query(url: &str, query: &[(&str, String)]) -> Result<reqwest::Url, ManageError> {
    let mut url = reqwest::Url::parse(url)
        .map_err(|e| ManageError::Unsupported(format!("bad provider URL {url:?}: {e}")))?;
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in query {
            pairs.append_pair(key, value);
        }
    }
    Ok(url)
}

/// Sends `request` and reads the JSON answer.
pub(crate) async fn call(request: RequestBuilder) -> Result<Value, ManageError> {
    let response = request
        .send()
        .await
        .map_err(|e| ManageError::Unreachable(crate::cloud_api::chain(&e)))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ManageError::Unreachable(crate::cloud_api::chain(&e)))?;
    answer(status, &bytes)
}

/// A complete answer: the JSON of a 2xx, else the error it carries.
pub(crate) fn answer(status: StatusCode, body: &[u8]) -> Result<Value, ManageError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        return json
            .ok_or_else(|| ManageError::BadAnswer(format!("HTTP {status} without a JSON body")));
    }
    let error = json
        .as_ref()
        .and_then(|v| meta_error(v, status))
        .unwrap_or_else(|| MetaError {
            code: -1,
            title: status_line(status),
            details: Some(String::from_utf8_lossy(body).chars().take(200).collect())
                .filter(|d: &String| !d.is_empty()),
        });
    Err(ManageError::Rejected {
        http_status: status.as_u16(),
        error,
    })
}

/// Follows a Graph listing: `fetch(after)` returns one page (`data[]`, `paging`); the next
/// page is asked for with `paging.cursors.after` while `paging.next` says there is one.
pub(crate) async fn all_pages<F, Fut>(mut fetch: F) -> Result<Vec<Value>, ManageError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Value, ManageError>>,
{
    let mut items = Vec::new();
    let mut after = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(after.take()).await?;
        let data = page
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| ManageError::BadAnswer("a page of templates without `data`".into()))?;
        items.extend(data.iter().cloned());
        let paging = page.get("paging");
        if paging.and_then(|p| p.get("next")).is_none() {
            return Ok(items);
        }
        match paging
            .and_then(|p| p.pointer("/cursors/after"))
            .and_then(Value::as_str)
        {
            Some(cursor) if !cursor.is_empty() => after = Some(cursor.to_owned()),
            _ => return Ok(items),
        }
    }
    Err(ManageError::BadAnswer(format!(
        "the listing did not end within {MAX_PAGES} pages"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn pages_are_followed_until_no_next() {
        let pages = [
            json!({"data":[{"name":"a"}],"paging":{"cursors":{"after":"c1"},"next":"https://x"}}),
            json!({"data":[{"name":"b"}],"paging":{"cursors":{"after":"c2"}}}),
        ];
        let mut asked = Vec::new();
        let items = all_pages(|after| {
            asked.push(after.clone());
            let page = if after.is_none() {
                pages[0].clone()
            } else {
                pages[1].clone()
            };
            async move { Ok(page) }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![json!({"name":"a"}), json!({"name":"b"})]);
        assert_eq!(asked, vec![None, Some("c1".to_owned())]);
    }

    #[test]
    fn errors_keep_metas_code() {
        let body = json!({"error":{"message":"(#100) Invalid parameter","code":100}});
        let err = answer(StatusCode::BAD_REQUEST, body.to_string().as_bytes()).unwrap_err();
        let ManageError::Rejected { http_status, error } = err else {
            panic!()
        };
        assert_eq!((http_status, error.code), (400, 100));
        let other = answer(StatusCode::BAD_GATEWAY, b"<html>").unwrap_err();
        assert!(matches!(other, ManageError::Rejected { error, .. } if error.code == -1));
    }
}
