//! Media objects (`{id | link, caption?, filename?}`), in media messages and in headers.

use super::check::{join, Checker, Object, Str};

/// The caption limit of image, video and document messages.
pub(super) const MAX_CAPTION_CHARS: usize = 1024;

/// Every field a media object can have somewhere.
const MEDIA_FIELDS: [&str; 5] = ["id", "link", "caption", "filename", "voice"];

/// Where a media object appears, which decides its optional fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaUse {
    /// The object of an image/video/audio/document/sticker message.
    Message,
    /// An interactive header or template header parameter: no captions.
    Header,
}

/// Checks the object of a media message; `path` is its type (`image`, `audio`...).
pub(super) fn check_message(c: &mut Checker, media: &Object, path: &str) {
    check(c, media, path, path, MediaUse::Message);
}

/// Checks a media object of type `kind` at `path`.
pub(super) fn check(c: &mut Checker, media: &Object, path: &str, kind: &str, usage: MediaUse) {
    let in_message = usage == MediaUse::Message;
    let caption = in_message && matches!(kind, "image" | "video" | "document");
    let filename = kind == "document";
    // Voice notes (OGG/OPUS) are flagged on send by some clients; Meta ignores it elsewhere.
    let voice = in_message && kind == "audio";

    let mut allowed = vec!["id", "link"];
    allowed.extend(caption.then_some("caption"));
    allowed.extend(filename.then_some("filename"));
    allowed.extend(voice.then_some("voice"));
    let context = if in_message {
        format!("in {kind} messages")
    } else {
        format!("in a {kind} header")
    };
    c.keys(media, path, &allowed, &MEDIA_FIELDS, &context);

    match c.exactly_one_of(media, path, &["id", "link"]) {
        Some("id") => {
            c.string(media, path, "id", Str::REQUIRED);
        }
        Some(_) => {
            c.url(media, path, "link", true);
        }
        None => {}
    }
    if caption {
        c.string(media, path, "caption", Str::optional(MAX_CAPTION_CHARS));
    }
    if filename {
        c.string(media, path, "filename", Str::OPTIONAL);
    }
    if voice {
        c.boolean(media, path, "voice");
    }
}

/// Checks `holder[kind]` as a header media object (the `image` of `{"type":"image","image":{..}}`).
pub(super) fn check_in_header(c: &mut Checker, holder: &Object, path: &str, kind: &str) {
    if let Some(media) = c.object(holder, path, kind, true) {
        check(c, media, &join(path, kind), kind, MediaUse::Header);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use serde_json::json;

    #[test]
    fn accepts_the_reference_examples() {
        for example in [
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"image",
 "image":{"id":"1234567890","caption":"optional, <=1024"}}"#,
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"document",
 "document":{"link":"https://cdn.example.com/invoice.pdf","caption":"Invoice","filename":"invoice-42.pdf"}}"#,
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"audio","audio":{"link":"https://.../note.ogg"}}"#,
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"sticker","sticker":{"id":"<MEDIA_ID>"}}"#,
        ] {
            assert_ok(&message(example));
        }
        assert_accepted(
            "video",
            json!({"link": "http://example.com/v.mp4", "caption": "clip"}),
        );
        assert_accepted("audio", json!({"id": "1", "voice": true}));
    }

    #[test]
    fn needs_exactly_one_of_id_and_link() {
        for kind in ["image", "video", "audio", "document", "sticker"] {
            assert_refused(kind, json!({}), &[(kind, "exactly_one_of")]);
            assert_refused(
                kind,
                json!({"id": "1", "link": "https://x.com/a"}),
                &[(kind, "exactly_one_of")],
            );
        }
        assert_refused("image", json!({"id": ""}), &[("image.id", "empty")]);
        assert_refused("image", json!({"id": 12}), &[("image.id", "invalid_type")]);
    }

    #[test]
    fn link_must_be_http_or_https() {
        assert_refused(
            "image",
            json!({"link": "ftp://x.com/a.png"}),
            &[("image.link", "invalid_url")],
        );
        assert_refused(
            "image",
            json!({"link": "x.com/a.png"}),
            &[("image.link", "invalid_url")],
        );
        assert_refused(
            "image",
            json!({"link": ""}),
            &[("image.link", "invalid_url")],
        );
    }

    #[test]
    fn caption_only_on_image_video_document_and_bounded() {
        assert_refused(
            "image",
            json!({"id": "1", "caption": "c".repeat(1025)}),
            &[("image.caption", "too_long")],
        );
        assert_accepted("document", json!({"id": "1", "caption": "c".repeat(1024)}));
        assert_refused(
            "audio",
            json!({"id": "1", "caption": "c"}),
            &[("audio.caption", "not_allowed")],
        );
        assert_refused(
            "sticker",
            json!({"id": "1", "caption": "c"}),
            &[("sticker.caption", "not_allowed")],
        );
    }

    #[test]
    fn filename_only_on_documents_voice_only_on_audio() {
        assert_refused(
            "image",
            json!({"id": "1", "filename": "a.png"}),
            &[("image.filename", "not_allowed")],
        );
        assert_refused(
            "video",
            json!({"id": "1", "voice": true}),
            &[("video.voice", "not_allowed")],
        );
        assert_refused(
            "audio",
            json!({"id": "1", "voice": "yes"}),
            &[("audio.voice", "invalid_type")],
        );
        assert_refused(
            "document",
            json!({"id": "1", "filename": 3}),
            &[("document.filename", "invalid_type")],
        );
        assert_refused(
            "image",
            json!({"id": "1", "mime_type": "image/png"}),
            &[("image.mime_type", "unknown_field")],
        );
    }
}
