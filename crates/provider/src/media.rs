//! Media calls (reference §7.1), shared by every provider: the multipart upload body, reading
//! `{"id"}` and media-info answers, and downloads.

use std::time::Duration;

use reqwest::RequestBuilder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::templates::{self, ManageError};

/// Media calls carry up to 100 MB, so they get this much time instead of the send timeout.
pub(crate) const MEDIA_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest file read back from a download (WhatsApp's largest media, documents, are 100 MB).
pub const MAX_DOWNLOAD_BYTES: usize = 100_000_000 + 1_000_000;

/// What `GET /{version}/{media-id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Where to download the file (with the channel's credentials); it expires in minutes.
    pub url: String,
    /// The file's MIME type.
    pub mime_type: Option<String>,
    /// SHA-256 of the file as the provider gives it (Meta: base64 or hex).
    pub sha256: Option<String>,
    /// Size in bytes.
    pub file_size: Option<u64>,
}

/// The multipart form Meta's upload takes: `messaging_product`, `type`, `file`.
pub(crate) fn upload_form(
    mime: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<reqwest::multipart::Form, ManageError> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(filename.to_owned())
        .mime_str(mime)
        .map_err(|e| ManageError::Unsupported(format!("bad MIME type {mime:?}: {e}")))?;
    Ok(reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", mime.to_owned())
        .part("file", part))
}

/// The `id` of an upload answer.
pub(crate) fn uploaded_id(answer: &Value) -> Result<String, ManageError> {
    answer
        .get("id")
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ManageError::BadAnswer("an upload answer without `id`".into()))
}

/// Reads a media-info answer (`file_size` may be a string or a number).
pub(crate) fn info(answer: &Value) -> Result<MediaInfo, ManageError> {
    let url = answer
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ManageError::BadAnswer("a media answer without `url`".into()))?;
    let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
    let file_size = answer.get("file_size").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    Ok(MediaInfo {
        url: url.to_owned(),
        mime_type: text("mime_type"),
        sha256: text("sha256"),
        file_size,
    })
}

/// A media id may only be a path segment (Meta's are digits).
pub(crate) fn check_media_id(media_id: &str) -> Result<(), ManageError> {
    let ok = !media_id.is_empty()
        && media_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ManageError::Unsupported(format!(
            "the media id {media_id:?} is not a provider media id"
        )))
    }
}

/// Sends a download request; a 2xx body is the file (at most [`MAX_DOWNLOAD_BYTES`]).
pub(crate) async fn download(request: RequestBuilder) -> Result<Vec<u8>, ManageError> {
    let response = request
        .timeout(MEDIA_TIMEOUT)
        .send()
        .await
        .map_err(|e| ManageError::Unreachable(crate::cloud_api::chain(&e)))?;
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOWNLOAD_BYTES as u64)
    {
        return Err(ManageError::BadAnswer(format!(
            "the file is larger than {MAX_DOWNLOAD_BYTES} bytes"
        )));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ManageError::Unreachable(crate::cloud_api::chain(&e)))?;
    if !status.is_success() {
        return Err(templates::answer(status, &bytes)
            .err()
            .unwrap_or_else(|| ManageError::BadAnswer(format!("HTTP {status}"))));
    }
    if bytes.len() > MAX_DOWNLOAD_BYTES {
        return Err(ManageError::BadAnswer(format!(
            "the file is larger than {MAX_DOWNLOAD_BYTES} bytes"
        )));
    }
    Ok(bytes.to_vec())
}

/// `url` re-rooted at `base_url` (scheme and host replaced, path and query kept): 360dialog
/// serves Meta's lookaside URLs through its own host.
pub(crate) fn rehost(url: &str, base_url: &str) -> Result<String, ManageError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ManageError::BadAnswer(format!("bad media URL: {e}")))?;
    let mut out = base_url.trim_end_matches('/').to_owned();
    out.push_str(parsed.path());
    if let Some(query) = parsed.query() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn info_reads_string_sizes() {
        let got = info(
            &json!({"url":"https://x/y","mime_type":"image/png","sha256":"abc","file_size":"12"}),
        )
        .unwrap();
        assert_eq!(got.file_size, Some(12));
        assert!(info(&json!({"id":"1"})).is_err());
    }

    #[test]
    fn rehost_keeps_path_and_query() {
        assert_eq!(
            rehost(
                "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
                "https://waba-v2.360dialog.io/"
            )
            .unwrap(),
            "https://waba-v2.360dialog.io/whatsapp_business/attachments/?mid=1"
        );
    }

    #[test]
    fn media_ids_cannot_change_the_path() {
        assert!(check_media_id("4490709327384033").is_ok());
        assert!(check_media_id("../x").is_err());
        assert!(check_media_id("").is_err());
    }
}
