//! What WhatsApp accepts as media (reference §7.2): the MIME types of each category and their
//! size limits, checked before an upload so a file is refused here rather than by Meta.
//!
//! Sizes use decimal units (1 MB = 1 000 000 bytes, 1 KB = 1 000 bytes): Meta's table does not
//! say which it means, and the decimal reading is the smaller, so a file accepted here is
//! accepted under either reading.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Problem;

/// The MIME type is not one WhatsApp accepts for any media category.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
/// The file is larger than its category allows.
pub const TOO_LARGE: &str = "too_large";

/// One megabyte, decimal.
const MB: u64 = 1_000_000;
/// One kilobyte, decimal.
const KB: u64 = 1_000;

/// Images: 5 MB.
pub const IMAGE_MAX_BYTES: u64 = 5 * MB;
/// Videos: 16 MB.
pub const VIDEO_MAX_BYTES: u64 = 16 * MB;
/// Audio: 16 MB.
pub const AUDIO_MAX_BYTES: u64 = 16 * MB;
/// Documents: 100 MB.
pub const DOCUMENT_MAX_BYTES: u64 = 100 * MB;
/// Static stickers: 100 KB.
pub const STICKER_STATIC_MAX_BYTES: u64 = 100 * KB;
/// Animated stickers: 500 KB.
pub const STICKER_ANIMATED_MAX_BYTES: u64 = 500 * KB;

/// `image/*` WhatsApp accepts (8-bit RGB or RGBA).
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png"];
/// `video/*` WhatsApp accepts (H.264 video and AAC audio).
const VIDEO_TYPES: &[&str] = &["video/mp4", "video/3gpp"];
/// `audio/*` WhatsApp accepts; `audio/ogg` must be OPUS, which a MIME type cannot tell.
const AUDIO_TYPES: &[&str] = &[
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
];
/// Document types WhatsApp accepts.
const DOCUMENT_TYPES: &[&str] = &[
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];
/// Stickers are WebP (512×512).
const STICKER_TYPES: &[&str] = &["image/webp"];

/// A media category of the Cloud API, named like the message type that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaCategory {
    /// `image`
    Image,
    /// `video`
    Video,
    /// `audio`
    Audio,
    /// `document`
    Document,
    /// `sticker`
    Sticker,
}

impl MediaCategory {
    /// Every category.
    pub const ALL: [MediaCategory; 5] = [
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Document,
        Self::Sticker,
    ];

    /// The message type name (`image`, `video`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    /// The MIME types accepted in this category, lower case.
    pub fn mime_types(self) -> &'static [&'static str] {
        match self {
            Self::Image => IMAGE_TYPES,
            Self::Video => VIDEO_TYPES,
            Self::Audio => AUDIO_TYPES,
            Self::Document => DOCUMENT_TYPES,
            Self::Sticker => STICKER_TYPES,
        }
    }

    /// The largest accepted file, in bytes. For stickers this is the animated limit, since a
    /// MIME type cannot tell an animated WebP; see [`sticker_max_bytes`].
    pub fn max_bytes(self) -> u64 {
        match self {
            Self::Image => IMAGE_MAX_BYTES,
            Self::Video => VIDEO_MAX_BYTES,
            Self::Audio => AUDIO_MAX_BYTES,
            Self::Document => DOCUMENT_MAX_BYTES,
            Self::Sticker => STICKER_ANIMATED_MAX_BYTES,
        }
    }
}

impl fmt::Display for MediaCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sticker limit once it is known whether the WebP is animated.
pub fn sticker_max_bytes(animated: bool) -> u64 {
    if animated {
        STICKER_ANIMATED_MAX_BYTES
    } else {
        STICKER_STATIC_MAX_BYTES
    }
}

/// `Image/JPEG; charset=x` → `image/jpeg`: parameters dropped, case folded (MIME types are
/// case-insensitive).
fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The category a MIME type belongs to, if WhatsApp accepts it at all. `image/webp` is a sticker:
/// WhatsApp does not take WebP as an image.
pub fn category_for_mime(mime: &str) -> Option<MediaCategory> {
    let essence = essence(mime);
    MediaCategory::ALL
        .into_iter()
        .find(|c| c.mime_types().contains(&essence.as_str()))
}

/// Checks an upload's MIME type (field `type`) and size in bytes (field `file`), returning its
/// category.
pub fn check_upload(mime: &str, size: u64) -> Result<MediaCategory, Problem> {
    let Some(category) = category_for_mime(mime) else {
        let message = format!(
            "\"{mime}\" is not a media type WhatsApp accepts; accepted: {}",
            MediaCategory::ALL
                .iter()
                .flat_map(|c| c.mime_types())
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(Problem::new("type", UNSUPPORTED_MEDIA_TYPE, message));
    };
    let max = category.max_bytes();
    if size > max {
        let message = format!(
            "is {size} bytes; {category} files may be at most {max} bytes ({})",
            human(max)
        );
        return Err(Problem::new("file", TOO_LARGE, message));
    }
    Ok(category)
}

/// `5 MB`, `500 KB`.
fn human(bytes: u64) -> String {
    if bytes >= MB && bytes % MB == 0 {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes / KB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn categories_for_the_reference_types() {
        let cases = [
            ("image/jpeg", MediaCategory::Image),
            ("image/png", MediaCategory::Image),
            ("video/mp4", MediaCategory::Video),
            ("video/3gpp", MediaCategory::Video),
            ("audio/aac", MediaCategory::Audio),
            ("audio/amr", MediaCategory::Audio),
            ("audio/mpeg", MediaCategory::Audio),
            ("audio/mp4", MediaCategory::Audio),
            ("audio/ogg", MediaCategory::Audio),
            ("text/plain", MediaCategory::Document),
            ("application/pdf", MediaCategory::Document),
            ("application/msword", MediaCategory::Document),
            (
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                MediaCategory::Document,
            ),
            ("application/vnd.ms-excel", MediaCategory::Document),
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                MediaCategory::Document,
            ),
            ("application/vnd.ms-powerpoint", MediaCategory::Document),
            (
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                MediaCategory::Document,
            ),
            ("image/webp", MediaCategory::Sticker),
        ];
        for (mime, category) in cases {
            assert_eq!(category_for_mime(mime), Some(category), "{mime}");
        }
        assert_eq!(
            category_for_mime(" Audio/OGG; codecs=opus "),
            Some(MediaCategory::Audio)
        );
        for mime in [
            "",
            "image/gif",
            "image/jpg",
            "video/quicktime",
            "audio/wav",
            "application/zip",
            "image",
        ] {
            assert_eq!(category_for_mime(mime), None, "{mime}");
        }
    }

    #[test]
    fn limits_hold_at_the_exact_boundary() {
        let cases = [
            ("image/png", 5_000_000),
            ("video/mp4", 16_000_000),
            ("audio/mpeg", 16_000_000),
            ("application/pdf", 100_000_000),
            ("image/webp", 500_000),
        ];
        for (mime, max) in cases {
            let category = category_for_mime(mime).unwrap();
            assert_eq!(check_upload(mime, max), Ok(category), "{mime}");
            assert_eq!(check_upload(mime, 0), Ok(category), "{mime}");
            let problem = check_upload(mime, max + 1).unwrap_err();
            assert_eq!(problem.code, TOO_LARGE);
            assert_eq!(problem.field, "file");
            assert!(
                problem.message.contains(&max.to_string()),
                "{}",
                problem.message
            );
        }
        assert_eq!(sticker_max_bytes(false), 100_000);
        assert_eq!(sticker_max_bytes(true), 500_000);
        let problem = check_upload("image/jpeg", 5_000_001).unwrap_err();
        assert_eq!(
            problem.message,
            "is 5000001 bytes; image files may be at most 5000000 bytes (5 MB)"
        );
        let problem = check_upload("image/webp", 500_001).unwrap_err();
        assert!(problem.message.ends_with("(500 KB)"), "{}", problem.message);
    }

    #[test]
    fn unsupported_types_are_named() {
        let problem = check_upload("image/gif", 1).unwrap_err();
        assert_eq!(problem.code, UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(problem.field, "type");
        assert!(problem.message.contains("\"image/gif\""));
        assert!(problem.message.contains("image/jpeg"));
    }

    #[test]
    fn categories_serialize_as_message_types() {
        for category in MediaCategory::ALL {
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                serde_json::json!(category.as_str())
            );
            assert_eq!(category.to_string(), category.as_str());
        }
    }

    proptest! {
        /// Every accepted type is accepted up to its limit and refused beyond it.
        #[test]
        fn size_limit_is_exact(category in prop::sample::select(MediaCategory::ALL.to_vec()), over in 1u64..1_000_000) {
            let max = category.max_bytes();
            for mime in category.mime_types() {
                prop_assert_eq!(check_upload(mime, max), Ok(category));
                prop_assert_eq!(check_upload(mime, max + over).map_err(|p| p.code), Err(TOO_LARGE));
            }
        }
    }
}
