//! Inbound parsing against every pywa fixture, per-type content, and hostile payloads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::webhook::{status_updates, WebhookError};

const TEMPLATE_FIELDS: [&str; 4] = [
    "message_template_status_update",
    "template_category_update",
    "message_template_quality_update",
    "message_template_components_update",
];

/// Per fixture file: cases, messages, contacts, template events, ignored changes. Pinned so a
/// changed fixture is noticed; the walk test also recounts each case from the JSON itself.
const EXPECTED: &[(&str, usize, usize, usize, usize, usize)] = &[
    ("account_update", 17, 0, 0, 0, 17),
    ("call_connect", 2, 0, 0, 0, 2),
    ("call_permission_update", 2, 2, 2, 0, 0),
    ("call_status", 1, 0, 0, 0, 1),
    ("call_terminate", 1, 0, 0, 0, 1),
    ("callback_button", 3, 3, 3, 0, 0),
    ("callback_selection", 2, 2, 2, 0, 0),
    ("deleted_message", 1, 1, 1, 0, 0),
    ("edited_message", 1, 1, 1, 0, 0),
    ("flow_completion", 2, 2, 2, 0, 0),
    ("message", 23, 23, 23, 0, 0),
    ("message_status", 7, 0, 7, 0, 0),
    ("outgoing_message", 3, 0, 0, 0, 3),
    ("system", 2, 2, 1, 0, 0),
    ("template_category_update", 1, 0, 0, 1, 0),
    ("template_components_update", 1, 0, 0, 1, 0),
    ("template_quality_update", 1, 0, 0, 1, 0),
    ("template_status_update", 2, 0, 0, 2, 0),
    ("user_marketing_preferences", 2, 0, 0, 0, 0),
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta-webhooks/pywa")
}

fn cases(file: &str) -> Map<String, Value> {
    let path = fixture_dir().join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    match serde_json::from_str(&text) {
        Ok(Value::Object(cases)) => cases,
        other => panic!("{file} is not an object of cases: {other:?}"),
    }
}

fn batch(file: &str, case: &str) -> InboundBatch {
    let all = cases(file);
    let payload = all
        .get(case)
        .unwrap_or_else(|| panic!("{file}#{case} missing"));
    inbound_events(payload).unwrap_or_else(|e| panic!("{file}#{case}: {e}"))
}

fn single(file: &str, case: &str) -> InboundMessage {
    let mut b = batch(file, case);
    assert_eq!(b.messages.len(), 1, "{file}#{case}");
    b.messages.remove(0)
}

fn changes(payload: &Value) -> impl Iterator<Item = &Value> {
    payload["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
}

fn len_at(value: &Value, key: &str) -> usize {
    value[key].as_array().map_or(0, Vec::len)
}

#[test]
fn every_fixture_case_parses_with_the_counts_of_its_json() {
    let mut files: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    files.sort();
    let pinned: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(files, pinned, "a fixture file was added or removed");

    let mut total_messages = 0;
    for &(file, n_cases, n_messages, n_contacts, n_templates, n_ignored) in EXPECTED {
        let all = cases(file);
        assert_eq!(all.len(), n_cases, "{file}: cases");
        let mut got = (0, 0, 0, 0);
        for (case, payload) in &all {
            let where_ = format!("{file}#{case}");
            let b = inbound_events(payload).unwrap_or_else(|e| panic!("{where_}: {e}"));

            // Independent recount from the JSON.
            let (mut items, mut contacts, mut templates, mut ignored) = (Vec::new(), 0, 0, 0);
            let mut preferences = 0;
            for change in changes(payload) {
                let field = change["field"].as_str().unwrap_or_default();
                if field == "messages" {
                    items.extend(change["value"]["messages"].as_array().into_iter().flatten());
                    contacts += len_at(&change["value"], "contacts");
                } else if TEMPLATE_FIELDS.contains(&field) {
                    templates += 1;
                } else if field == "user_preferences" {
                    preferences += len_at(&change["value"], "user_preferences");
                } else {
                    ignored += 1;
                }
            }
            assert_eq!(b.messages.len(), items.len(), "{where_}: messages");
            assert_eq!(b.contacts.len(), contacts, "{where_}: contacts");
            assert_eq!(b.template_events.len(), templates, "{where_}: templates");
            assert_eq!(b.ignored_changes, ignored, "{where_}: ignored");
            assert_eq!(b.preferences.len(), preferences, "{where_}: preferences");

            // Every message id exactly once, in payload order, with the item kept verbatim.
            let want: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
            let have: Vec<&str> = b.messages.iter().map(|m| m.id.as_str()).collect();
            assert_eq!(have, want, "{where_}: ids");
            for (message, item) in b.messages.iter().zip(&items) {
                assert_eq!(&message.raw, *item, "{where_}: raw");
                assert_eq!(message.phone_number_id, item_channel(payload), "{where_}");
            }

            got.0 += b.messages.len();
            got.1 += b.contacts.len();
            got.2 += b.template_events.len();
            got.3 += b.ignored_changes;
        }
        assert_eq!(
            got,
            (n_messages, n_contacts, n_templates, n_ignored),
            "{file}: (messages, contacts, template events, ignored changes)"
        );
        total_messages += got.0;
    }
    assert_eq!(total_messages, 36);
}

/// The phone_number_id of the (single) change of a fixture case.
fn item_channel(payload: &Value) -> &str {
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
        .as_str()
        .unwrap()
}

#[test]
fn text_message_is_flattened_with_its_channel_and_sender() {
    let m = single("message", "text");
    assert_eq!(m.waba_id.as_deref(), Some("1234567890987654321"));
    assert_eq!(m.phone_number_id, "1122334455667");
    assert_eq!(m.display_phone_number.as_deref(), Some("972123456789"));
    assert_eq!(m.id, "wamid.xyzxyz");
    assert_eq!(m.from.as_deref(), Some("972987654321"));
    // No `from_user_id` on the message: the BSUID comes from the contact with the same wa_id.
    assert_eq!(m.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(
        m.parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
    assert_eq!(m.timestamp, 1_697_043_223);
    assert_eq!(m.timestamp_ms(), 1_697_043_223_000);
    assert_eq!(m.kind, InboundKind::Text);
    assert_eq!(
        m.content,
        InboundContent::Text(Text {
            body: "Body Text".into()
        })
    );
    assert_eq!((&m.context, &m.referral), (&None, &None));
    assert!(m.errors.is_empty());
    assert_eq!(m.sender(), Some("972987654321"));
}

#[test]
fn replies_and_forwards_carry_their_context() {
    let reply = single("message", "reply");
    assert_eq!(
        reply.context,
        Some(MessageContext {
            id: Some("wamid.xyzxyz==".into()),
            from: Some("972123456789".into()),
            forwarded: false,
            frequently_forwarded: false,
            referred_product: None,
        })
    );
    assert_eq!(
        reply.content,
        InboundContent::Text(Text {
            body: "replied text".into()
        })
    );
    let forwarded = single("message", "forwarded").context.unwrap();
    assert!(forwarded.forwarded && !forwarded.frequently_forwarded);
    assert_eq!((forwarded.id, forwarded.from), (None, None));
    let many = single("message", "forwarded_many_times").context.unwrap();
    assert!(many.frequently_forwarded && !many.forwarded);
}

#[test]
fn referral_keeps_the_type_and_exposes_the_ad() {
    let m = single("message", "referral");
    assert_eq!(m.kind, InboundKind::Text);
    assert_eq!(
        m.content,
        InboundContent::Text(Text {
            body: "BODY".into()
        })
    );
    let r = m.referral.unwrap();
    assert_eq!(r.source_url.as_deref(), Some("AD_OR_POST_FB_URL"));
    assert_eq!(r.source_id.as_deref(), Some("ADID"));
    assert_eq!(r.source_type.as_deref(), Some("ad or post"));
    assert_eq!(r.headline.as_deref(), Some("AD_TITLE"));
    assert_eq!(r.body.as_deref(), Some("AD_DESCRIPTION"));
    assert_eq!(r.media_type.as_deref(), Some("image or video"));
    assert_eq!(r.image_url.as_deref(), Some("RAW_IMAGE_URL"));
    assert_eq!(r.video_url.as_deref(), Some("RAW_VIDEO_URL"));
    assert_eq!(r.thumbnail_url.as_deref(), Some("RAW_THUMBNAIL_URL"));
    assert_eq!(r.ctwa_clid.as_deref(), Some("CTWA_CLID"));
    assert_eq!(r.welcome_message, None);
}

fn media_of(m: &InboundMessage) -> &Media {
    match &m.content {
        InboundContent::Media(media) => media,
        other => panic!("{:?} is not media: {other:?}", m.kind),
    }
}

#[test]
fn images_and_videos() {
    let image = single("message", "image");
    assert_eq!(image.kind, InboundKind::Image);
    assert_eq!(
        media_of(&image),
        &Media {
            id: "65463453".into(),
            mime_type: Some("image/jpeg".into()),
            sha256: Some("4654+8g=".into()),
            caption: None,
            filename: None,
            url: None,
            animated: None,
            voice: None,
        }
    );
    let with_url = single("message", "media_with_url");
    assert_eq!(
        media_of(&with_url).url.as_deref(),
        Some("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw")
    );
    let video = single("message", "video");
    assert_eq!(video.kind, InboundKind::Video);
    let v = media_of(&video);
    assert_eq!(v.id, "765756756");
    assert_eq!(v.mime_type.as_deref(), Some("video/mp4"));
    assert_eq!(v.caption.as_deref(), Some("caption"));
    assert_eq!(
        v.sha256.as_deref(),
        Some("Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=")
    );
    assert!(video.context.unwrap().forwarded);
}

#[test]
fn documents_keep_filename_and_caption() {
    let doc = single("message", "document");
    assert_eq!(doc.kind, InboundKind::Document);
    let d = media_of(&doc);
    assert_eq!(d.id, "1234567890987654321");
    assert_eq!(d.filename.as_deref(), Some("filename.pdf"));
    assert_eq!(d.caption.as_deref(), Some("caption"));
    assert_eq!(d.mime_type.as_deref(), Some("application/pdf"));
}

#[test]
fn audio_with_voice_true_is_a_voice_note() {
    let audio = single("message", "audio");
    assert_eq!(audio.kind, InboundKind::Audio);
    assert_eq!(media_of(&audio).voice, Some(false));
    assert_eq!(
        media_of(&audio).mime_type.as_deref(),
        Some("audio/ogg; codecs=opus")
    );
    let voice = single("message", "voice");
    assert_eq!(voice.kind, InboundKind::Voice);
    assert_eq!(voice.kind.as_str(), "voice");
    assert_eq!(media_of(&voice).voice, Some(true));
    assert_eq!(
        media_of(&voice).sha256.as_deref(),
        Some("m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=")
    );
    assert!(voice.kind.is_media() && !InboundKind::Text.is_media());
}

#[test]
fn stickers_say_whether_they_are_animated() {
    for (case, animated) in [("static_sticker", false), ("animated_sticker", true)] {
        let m = single("message", case);
        assert_eq!(m.kind, InboundKind::Sticker);
        assert_eq!(media_of(&m).animated, Some(animated), "{case}");
        assert_eq!(media_of(&m).mime_type.as_deref(), Some("image/webp"));
    }
}

#[test]
fn reactions_and_their_removal() {
    let m = single("message", "reaction");
    assert_eq!(m.kind, InboundKind::Reaction);
    assert_eq!(
        m.content,
        InboundContent::Reaction(Reaction {
            message_id: "wamid.yzxyzx=".into(),
            emoji: Some("\u{1F62E}".into()),
        })
    );
    for case in ["unreaction_empty", "unreaction_no_emoji"] {
        assert_eq!(
            single("message", case).content,
            InboundContent::Reaction(Reaction {
                message_id: "wamid.yzxyzx=".into(),
                emoji: None,
            }),
            "{case}"
        );
    }
}

#[test]
fn locations_current_and_chosen() {
    let current = single("message", "current_location");
    assert_eq!(current.kind, InboundKind::Location);
    assert_eq!(
        current.content,
        InboundContent::Location(Location {
            latitude: 12.25089,
            longitude: 43.90539,
            name: None,
            address: None,
            url: None,
        })
    );
    assert_eq!(
        single("message", "chosen_location").content,
        InboundContent::Location(Location {
            latitude: 37.4611978,
            longitude: -122.2164385,
            name: Some("Facebook HQ".into()),
            address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
            url: Some("https://maps.google.com/?cid=2000000000000000000".into()),
        })
    );
}

#[test]
fn shared_contacts_are_kept_as_cards() {
    let m = single("message", "contacts");
    assert_eq!(m.kind, InboundKind::Contacts);
    let InboundContent::Contacts(Contacts { contacts }) = &m.content else {
        panic!("{:?}", m.content);
    };
    assert_eq!(contacts.len(), 3);
    assert_eq!(contacts[0]["name"]["formatted_name"], "Chandler Bing");
    assert_eq!(contacts[1]["phones"][0]["phone"], "+1 666-666-6666");
    assert_eq!(contacts[2]["phones"][0]["type"], "WORK");
}

#[test]
fn orders_list_their_items() {
    let m = single("message", "order");
    assert_eq!(m.kind, InboundKind::Order);
    let item = |id: &str, quantity, price| OrderItem {
        product_retailer_id: id.into(),
        quantity: Some(quantity),
        item_price: Some(price),
        currency: Some("ILS".into()),
    };
    assert_eq!(
        m.content,
        InboundContent::Order(Order {
            catalog_id: Some("354160437058781".into()),
            text: Some(String::new()),
            product_items: vec![
                item("HAMBURGER", 3, 30.0),
                item("FRENCH_FRIES", 2, 35.0),
                item("SODA", 2, 10.0),
            ],
        })
    );
}

#[test]
fn unsupported_messages_keep_their_errors() {
    let m = single("message", "unsupported");
    assert_eq!(m.kind, InboundKind::Unsupported);
    assert_eq!(
        m.content,
        InboundContent::Unsupported(Unsupported {
            unsupported_type: None
        })
    );
    assert_eq!(
        m.errors,
        vec![MetaError {
            code: 131051,
            title: "Message type unknown".into(),
            details: Some("Message type is currently not supported.".into()),
        }]
    );
    let pool = single("message", "unsupported_with_type");
    assert_eq!(
        pool.content,
        InboundContent::Unsupported(Unsupported {
            unsupported_type: Some("pool".into())
        })
    );
    assert_eq!(pool.errors[0].code, 131051);
}

#[test]
fn interactive_without_content_takes_the_change_errors() {
    let m = single("message", "interactive_message_with_err");
    assert_eq!(m.kind, InboundKind::Other("interactive".into()));
    assert_eq!(m.kind.as_str(), "interactive");
    assert_eq!(m.content, InboundContent::Raw(Value::Null));
    assert_eq!(
        m.errors,
        vec![MetaError {
            code: 131000,
            title: "Something went wrong".into(),
            details: Some("Unsupported webhook payload".into()),
        }]
    );
    assert_eq!(
        m.context.unwrap().id.as_deref(),
        Some("wamid.gvwegfretge==")
    );
}

#[test]
fn reply_buttons_list_rows_and_template_quick_replies() {
    let button = single("callback_button", "button");
    assert_eq!(button.kind, InboundKind::ButtonReply);
    assert_eq!(
        button.content,
        InboundContent::Reply(Reply {
            id: "callback_data".into(),
            title: Some("title".into()),
            description: None,
        })
    );
    assert_eq!(
        button.context.unwrap().from.as_deref(),
        Some("1122334455667")
    );

    let quick = single("callback_button", "quick_reply");
    assert_eq!(quick.kind, InboundKind::Button);
    assert_eq!(
        quick.content,
        InboundContent::Button(Button {
            payload: "callback_data".into(),
            text: Some("title".into()),
        })
    );
    assert_eq!(quick.context.unwrap().id.as_deref(), Some("wamid.xyzxyz=="));

    let bare = single("callback_button", "quick_reply_without_context");
    assert_eq!(bare.id, "wamid.xsidjx");
    assert_eq!(bare.context, None);
    assert_eq!(bare.user_id.as_deref(), Some("US.13491208655302741918"));

    let row = single("callback_selection", "callback");
    assert_eq!(row.kind, InboundKind::ListReply);
    assert_eq!(
        row.content,
        InboundContent::Reply(Reply {
            id: "callback_data".into(),
            title: Some("title".into()),
            description: None,
        })
    );
    let described = single("callback_selection", "description");
    assert_eq!(
        described.content,
        InboundContent::Reply(Reply {
            id: "callback_data".into(),
            title: Some("title".into()),
            description: Some("description".into()),
        })
    );
}

#[test]
fn flow_completions_decode_the_response_and_token() {
    let m = single("flow_completion", "completion");
    assert_eq!(m.kind, InboundKind::FlowReply);
    assert_eq!(m.kind.as_str(), "nfm_reply");
    let InboundContent::FlowReply(flow) = &m.content else {
        panic!("{:?}", m.content);
    };
    assert_eq!(flow.name.as_deref(), Some("flow"));
    assert_eq!(flow.body.as_deref(), Some("Sent"));
    assert_eq!(
        flow.flow_token.as_deref(),
        Some("AQAAAAACS5FpgQ_cAAAAAD0QI3s.")
    );
    assert_eq!(
        flow.response.as_ref().unwrap()["comment_text"],
        "Comment Text"
    );
    assert!(flow.response_json.starts_with("{\"comment_text\""));

    let m = single("flow_completion", "without_flow_token");
    let InboundContent::FlowReply(flow) = &m.content else {
        panic!("{:?}", m.content);
    };
    assert_eq!(flow.flow_token, None);
    assert_eq!(flow.response.as_ref().unwrap()["delivery_rating"], "4");
}

#[test]
fn call_permission_replies() {
    let accept = single("call_permission_update", "accept");
    assert_eq!(accept.kind, InboundKind::CallPermissionReply);
    assert_eq!(
        accept.content,
        InboundContent::CallPermissionReply(CallPermissionReply {
            response: "accept".into(),
            expiration_timestamp: Some(1_753_186_982),
            response_source: Some("user_action".into()),
        })
    );
    let reject = single("call_permission_update", "reject");
    assert_eq!(
        reject.content,
        InboundContent::CallPermissionReply(CallPermissionReply {
            response: "reject".into(),
            expiration_timestamp: None,
            response_source: Some("user_action".into()),
        })
    );
}

#[test]
fn system_messages_report_number_and_identity_changes() {
    let b = batch("system", "phone_number_change");
    assert!(
        b.contacts.is_empty(),
        "system changes come without contacts"
    );
    let m = &b.messages[0];
    assert_eq!(m.kind, InboundKind::System);
    assert_eq!(m.user_id, None);
    assert_eq!(
        m.content,
        InboundContent::System(System {
            system_type: Some("user_changed_number".into()),
            body: Some("User A changed from 972987654321 to 972912345678".into()),
            wa_id: Some("972912345678".into()),
            user_id: None,
            parent_user_id: None,
            previous_user_id: None,
            identity: None,
        })
    );
    let m = single("system", "identity_change");
    assert_eq!(
        m.content,
        InboundContent::System(System {
            system_type: Some("customer_identity_changed".into()),
            body: Some("User identity changed".into()),
            wa_id: None,
            user_id: None,
            parent_user_id: None,
            previous_user_id: None,
            identity: Some(json!({
                "acknowledged": true, "created_timestamp": "1697044706", "hash": "xyzxyz"
            })),
        })
    );
    // The serialised form uses Meta's `type` key.
    assert_eq!(
        serde_json::to_value(&m.content).unwrap()["type"],
        "customer_identity_changed"
    );
}

#[test]
fn edits_carry_the_new_content_and_deletions_the_original_id() {
    let m = single("edited_message", "image");
    assert_eq!(m.kind, InboundKind::Edit);
    assert_eq!(m.from.as_deref(), Some("16505551234"));
    // The sender's wa_id matches no contact here, so no BSUID is borrowed from one.
    assert_eq!(m.user_id, None);
    let InboundContent::Edit(edit) = &m.content else {
        panic!("{:?}", m.content);
    };
    assert_eq!(
        edit.original_message_id,
        "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
    );
    assert_eq!(edit.kind, Some(InboundKind::Image));
    let Some(InboundContent::Media(media)) = edit.content.as_deref() else {
        panic!("{:?}", edit.content);
    };
    assert_eq!(media.id, "1234567890");
    assert_eq!(media.caption.as_deref(), Some("Updated image caption"));
    assert_eq!(
        media.url.as_deref(),
        Some("https://media.example.com/updated-image.jpg")
    );

    let m = single("deleted_message", "revoke");
    assert_eq!(m.kind, InboundKind::Revoke);
    assert_eq!(m.id, "<WHATSAPP_MESSAGE_ID>");
    assert_eq!(m.phone_number_id, "<BUSINESS_PHONE_NUMBER_ID>");
    assert_eq!(
        m.content,
        InboundContent::Revoke(Revoke {
            original_message_id: "<ORIGINAL_WHATSAPP_MESSAGE_ID>".into()
        })
    );
}

#[test]
fn contacts_name_the_user_by_phone_bsuid_and_username() {
    let b = batch("message", "text");
    assert_eq!(
        b.contacts,
        vec![InboundContact {
            phone_number_id: "1122334455667".into(),
            wa_id: Some("972987654321".into()),
            user_id: Some("US.13491208655302741918".into()),
            parent_user_id: Some("US.ENT.11815799212886844830".into()),
            name: Some("Test Name".into()),
            username: None,
        }]
    );
    // Status-only changes also carry contacts; the group one has a username.
    let group = batch("message_status", "group");
    assert!(group.messages.is_empty());
    assert_eq!(group.contacts[0].username.as_deref(), Some("<USERNAME>"));
    assert_eq!(group.contacts[0].user_id.as_deref(), Some("US.123456"));
    assert_eq!(
        group.contacts[0].phone_number_id,
        "<BUSINESS_PHONE_NUMBER_ID>"
    );
    // The identity-change contact has neither BSUID nor username.
    let identity = batch("system", "identity_change");
    assert_eq!(identity.contacts[0].name.as_deref(), Some("User A"));
    assert_eq!(identity.contacts[0].user_id, None);
}

#[test]
fn template_status_updates() {
    let approved = batch("template_status_update", "approved").template_events;
    assert_eq!(approved.len(), 1);
    let e = &approved[0];
    assert_eq!(e.waba_id, "102290129340398");
    assert_eq!(e.time, Some(1_751_247_548));
    assert_eq!(e.template_id, "1689556908129832");
    assert_eq!(e.name.as_deref(), Some("order_confirmation"));
    assert_eq!(e.language.as_deref(), Some("en_US"));
    assert_eq!(
        e.change,
        TemplateChange::Status {
            event: "APPROVED".into(),
            reason: Some("NONE".into()),
            category: Some("UTILITY".into()),
            rejection_info: None,
        }
    );
    assert_eq!(e.change.field(), "message_template_status_update");

    let rejected = &batch("template_status_update", "rejected").template_events[0];
    assert_eq!(rejected.template_id, "1689556908129835");
    let TemplateChange::Status {
        event,
        reason,
        category,
        rejection_info,
    } = &rejected.change
    else {
        panic!("{:?}", rejected.change);
    };
    assert_eq!(event, "REJECTED");
    assert_eq!(reason.as_deref(), Some("INVALID_FORMAT"));
    assert_eq!(category.as_deref(), Some("MARKETING"));
    assert!(rejection_info.as_ref().unwrap()["recommendation"]
        .as_str()
        .unwrap()
        .starts_with("Separate parameters"));
    assert_eq!(
        rejected.raw["rejection_info"],
        *rejection_info.as_ref().unwrap()
    );
}

#[test]
fn template_category_quality_and_components_updates() {
    let category = &batch("template_category_update", "marketing").template_events[0];
    assert_eq!(
        (
            category.waba_id.as_str(),
            category.template_id.as_str(),
            category.name.as_deref(),
            category.language.as_deref(),
            category.time
        ),
        (
            "57438975935",
            "12345678",
            Some("my_message_template"),
            Some("he"),
            Some(1_750_344_882)
        )
    );
    assert_eq!(
        category.change,
        TemplateChange::Category {
            new_category: "MARKETING".into(),
            previous_category: None,
        }
    );

    let quality = &batch("template_quality_update", "yellow").template_events[0];
    assert_eq!(quality.template_id, "806312974732579");
    assert_eq!(quality.name.as_deref(), Some("welcome_template"));
    assert_eq!(
        quality.change,
        TemplateChange::Quality {
            new_quality_score: "YELLOW".into(),
            previous_quality_score: Some("GREEN".into()),
        }
    );

    let components = &batch("template_components_update", "element").template_events[0];
    assert_eq!(components.template_id, "12345678");
    assert_eq!(
        components.change,
        TemplateChange::Components {
            title: None,
            body: Some("Hi {{1}}! Welcome to our service.".into()),
            footer: None,
            buttons: vec![],
        }
    );
    // The fixture nests a fuller payload under `all`; it parses on its own too.
    let all = &cases("template_components_update")["element"]["all"];
    let full = inbound_events(all).unwrap().template_events;
    assert_eq!(full.len(), 1);
    let TemplateChange::Components {
        title,
        body,
        footer,
        buttons,
    } = &full[0].change
    else {
        panic!("{:?}", full[0].change);
    };
    assert_eq!(full[0].template_id, "1315502779341834");
    assert_eq!(title.as_deref(), Some("Your order is confirmed!"));
    assert!(body
        .as_deref()
        .unwrap()
        .starts_with("Thank you for your order"));
    assert_eq!(
        footer.as_deref(),
        Some("Lucky Shrub: the Succulent Specialists!")
    );
    assert_eq!(buttons.len(), 2);
    assert_eq!(buttons[1]["message_template_button_type"], "URL");
    assert_eq!(
        serde_json::to_value(&full[0].change).unwrap()["field"],
        "message_template_components_update"
    );
}

#[test]
fn other_fields_are_only_counted() {
    for (file, case) in [
        ("account_update", "account_deleted"),
        ("call_connect", "user_initiated"),
        ("call_status", "call_status"),
        ("call_terminate", "call_terminate"),
        ("outgoing_message", "text"),
        ("outgoing_message", "edit"),
    ] {
        let b = batch(file, case);
        assert_eq!(
            (
                b.messages.len(),
                b.contacts.len(),
                b.template_events.len(),
                b.ignored_changes
            ),
            (0, 0, 0, 1),
            "{file}#{case}"
        );
    }
}

#[test]
fn marketing_preferences_name_the_user_and_what_they_ask() {
    for (case, opted_out) in [("resume", false), ("signup", false)] {
        let b = batch("user_marketing_preferences", case);
        assert_eq!(b.ignored_changes, 0, "{case}");
        let [p] = b.preferences.as_slice() else {
            panic!("{case}: {:?}", b.preferences);
        };
        assert_eq!(p.phone_number_id, "106540352242922");
        assert_eq!(p.wa_id.as_deref(), Some("16505551234"));
        // The change's contact is another number: its BSUID is not this user's.
        assert_eq!(p.user_id, None);
        assert_eq!(p.category.as_deref(), Some(MARKETING_MESSAGES));
        assert_eq!(p.value, case);
        assert_eq!(p.timestamp, Some(1_731_705_721));
        assert_eq!(p.marketing_opt_out(), Some(opted_out), "{case}");
        assert!(p.detail.is_some());
        assert_eq!(p.raw["value"], case);
    }
    let change = |items: Value, contacts: Value| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [
            {"field": "user_preferences", "value": {"metadata": {"phone_number_id": "9"},
             "contacts": contacts, "user_preferences": items}}]}]})
    };
    let b = inbound_events(&change(
        json!([
            {"wa_id": "51999", "category": "marketing_messages", "value": "STOP", "timestamp": "5"},
            {"wa_id": "51998", "category": "marketing_messages", "value": "pause"},
            {"wa_id": "51997", "category": "service_messages", "value": "stop"},
            {"category": "marketing_messages", "value": "stop"},
            {"wa_id": "51996"},
        ]),
        json!([{"wa_id": "51999", "user_id": "US.1"}, {"wa_id": "51000"}]),
    ))
    .unwrap();
    let got: Vec<(Option<&str>, Option<&str>, Option<bool>)> = b
        .preferences
        .iter()
        .map(|p| {
            (
                p.wa_id.as_deref(),
                p.user_id.as_deref(),
                p.marketing_opt_out(),
            )
        })
        .collect();
    // Unknown values and categories are kept, asking for nothing; an item naming no one (with
    // two contacts to choose from) or without a value is skipped.
    assert_eq!(
        got,
        [
            (Some("51999"), Some("US.1"), Some(true)),
            (Some("51998"), None, None),
            (Some("51997"), None, None),
        ]
    );
    assert_eq!(b.preferences[0].timestamp, Some(5));
    assert_ne!(b.preferences[0].event_key(), b.preferences[1].event_key());
    // With one contact, an item naming no one is that contact's.
    let b = inbound_events(&change(
        json!([{"category": "marketing_messages", "value": "stop"}]),
        json!([{"user_id": "US.7"}]),
    ))
    .unwrap();
    assert_eq!(b.preferences[0].user_id.as_deref(), Some("US.7"));
}

#[test]
fn statuses_are_left_to_the_status_parser() {
    for (case, payload) in &cases("message_status") {
        let b = inbound_events(payload).unwrap();
        assert!(
            b.messages.is_empty() && b.template_events.is_empty(),
            "{case}"
        );
        assert_eq!(b.ignored_changes, 0, "{case}");
        assert_eq!(status_updates(payload).unwrap().len(), 1, "{case}");
    }
}

fn envelope(value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [
        {"field": "messages", "value": value}
    ]}]})
}

#[test]
fn bsuid_only_users_have_no_phone() {
    // meta-cloud-api.md §3.6: username users come without `wa_id` and `from`.
    let payload = envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kerry", "username": "kerry.f"},
                      "user_id": "US.13491208655302741918",
                      "parent_user_id": "US.ENT.11815799212886844830"}],
        "messages": [{"from_user_id": "US.13491208655302741918",
                      "id": "wamid.bsuid", "timestamp": "1767225600",
                      "type": "text", "text": {"body": "hola"}}]
    }));
    let b = inbound_events(&payload).unwrap();
    let m = &b.messages[0];
    assert_eq!(m.from, None);
    assert_eq!(m.user_id.as_deref(), Some("US.13491208655302741918"));
    // Found through the contact with the same BSUID.
    assert_eq!(
        m.parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
    assert_eq!(m.sender(), Some("US.13491208655302741918"));
    assert!(m.opens_window());
    assert_eq!(
        b.contacts,
        vec![InboundContact {
            phone_number_id: "106540352242922".into(),
            wa_id: None,
            user_id: Some("US.13491208655302741918".into()),
            parent_user_id: Some("US.ENT.11815799212886844830".into()),
            name: Some("Kerry".into()),
            username: Some("kerry.f".into()),
        }]
    );
}

#[test]
fn a_message_naming_no_sender_is_the_one_contacts_or_unattributed() {
    let change = |contacts: Value| {
        envelope(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": contacts,
            "messages": [{"id": "wamid.nofrom", "timestamp": "1767225600",
                          "type": "text", "text": {"body": "hola"}}]
        }))
    };
    // Neither `from` nor `from_user_id`: the change's only contact sent it.
    let one = inbound_events(&change(json!([{"profile": {"name": "Kerry"},
        "user_id": "US.13491208655302741918", "parent_user_id": "US.ENT.1"}])))
    .unwrap();
    let m = &one.messages[0];
    assert_eq!(m.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(m.parent_user_id.as_deref(), Some("US.ENT.1"));
    assert_eq!(m.from, None);
    // Two contacts: which one is not known, so the message is kept without a sender.
    let two = inbound_events(&change(json!([{"user_id": "US.1"}, {"user_id": "US.2"}]))).unwrap();
    assert_eq!(two.messages.len(), 1);
    assert_eq!(two.messages[0].sender(), None);
    assert_eq!(two.messages[0].raw["id"], "wamid.nofrom");
}

#[test]
fn unknown_types_become_other_with_everything_kept() {
    let item = json!({"from": "1", "id": "w1", "timestamp": 5, "type": "poll_vote",
                      "poll_vote": {"option": 2}, "brand_new_field": [1, 2]});
    let b = inbound_events(&envelope(json!({
        "metadata": {"phone_number_id": 42}, "messages": [item.clone()]
    })))
    .unwrap();
    let m = &b.messages[0];
    assert_eq!(m.kind, InboundKind::Other("poll_vote".into()));
    assert_eq!(m.kind.as_str(), "poll_vote");
    assert_eq!(m.content, InboundContent::Raw(json!({"option": 2})));
    assert_eq!(m.raw, item);
    assert_eq!(m.phone_number_id, "42");
    assert_eq!(m.timestamp, 5);
    assert!(!m.opens_window());
    assert_eq!(serde_json::to_value(&m.kind).unwrap(), json!("poll_vote"));
}

#[test]
fn kind_names_round_trip() {
    for kind in InboundKind::KNOWN {
        assert_eq!(InboundKind::parse(kind.as_str()), kind);
    }
    assert_eq!(
        InboundKind::parse("request_welcome"),
        InboundKind::Other("request_welcome".into())
    );
}

#[test]
fn unusable_items_are_skipped_and_typed_content_falls_back_to_raw() {
    let payload = envelope(json!({
        "metadata": {"phone_number_id": "1"},
        "contacts": [{"profile": {"name": "nobody"}}, "junk", {"wa_id": 34600}],
        "errors": "not an array",
        "messages": [
            {"id": "no-timestamp", "type": "text", "text": {"body": "x"}},
            {"timestamp": "1", "type": "text", "text": {"body": "no id"}},
            "junk",
            {"id": "bad-ts", "timestamp": "yesterday", "type": "text"},
            {"id": "t1", "timestamp": "1", "type": "text", "text": {}},
            {"id": "t2", "timestamp": " 2 ", "type": "image", "image": {"mime_type": "image/png"}},
            {"id": "t3", "timestamp": 3, "type": "location", "location": {"latitude": "1.5", "longitude": 2}},
            {"id": "t4", "timestamp": 4},
            {"id": "t5", "timestamp": 5, "type": 7, "context": "junk", "referral": [], "errors": [{"title": "no code"}]},
            {"id": "t6", "timestamp": 6, "type": "edit", "edit": {"original_message_id": "o",
                "message": {"type": "edit", "edit": {"original_message_id": "deeper"}}}},
            {"id": "t7", "timestamp": 7, "type": "interactive", "interactive": {"type": "carousel_reply", "x": 1}},
            {"id": "t8", "timestamp": 8, "type": "order", "order": {"product_items": [{"quantity": 1}, {"product_retailer_id": 9, "quantity": "2", "item_price": "3.5"}]}},
            {"id": "t9", "timestamp": 9, "type": "unknown"}
        ]
    }));
    let b = inbound_events(&payload).unwrap();
    let ids: Vec<&str> = b.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]);
    let by_id: BTreeMap<&str, &InboundMessage> =
        b.messages.iter().map(|m| (m.id.as_str(), m)).collect();
    assert_eq!(by_id["t1"].content, InboundContent::Raw(json!({})));
    assert_eq!(
        by_id["t2"].content,
        InboundContent::Raw(json!({"mime_type": "image/png"}))
    );
    assert!(matches!(
        &by_id["t3"].content,
        InboundContent::Location(Location { latitude, longitude, .. }) if *latitude == 1.5 && *longitude == 2.0
    ));
    assert_eq!(by_id["t4"].kind, InboundKind::Unsupported);
    assert_eq!(by_id["t5"].kind, InboundKind::Unsupported);
    assert_eq!(
        (&by_id["t5"].context, &by_id["t5"].referral),
        (&None, &None)
    );
    assert!(by_id["t5"].errors.is_empty());
    let InboundContent::Edit(edit) = &by_id["t6"].content else {
        panic!("{:?}", by_id["t6"].content);
    };
    assert_eq!(edit.kind, Some(InboundKind::Edit));
    assert_eq!(
        edit.content.as_deref(),
        Some(&InboundContent::Raw(
            json!({"original_message_id": "deeper"})
        ))
    );
    assert_eq!(by_id["t7"].kind, InboundKind::Other("interactive".into()));
    assert_eq!(
        by_id["t7"].content,
        InboundContent::Raw(json!({"type": "carousel_reply", "x": 1}))
    );
    assert_eq!(
        by_id["t8"].content,
        InboundContent::Order(Order {
            catalog_id: None,
            text: None,
            product_items: vec![OrderItem {
                product_retailer_id: "9".into(),
                quantity: Some(2),
                item_price: Some(3.5),
                currency: None,
            }],
        })
    );
    assert_eq!(by_id["t9"].kind, InboundKind::Unsupported);
    let contacts: Vec<Option<&str>> = b.contacts.iter().map(|c| c.wa_id.as_deref()).collect();
    assert_eq!(contacts, [Some("34600")]);
}

#[test]
fn walks_every_entry_and_change() {
    let payload = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "A", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "1"},
                "messages": [{"id": "a1", "timestamp": "1", "type": "text", "text": {"body": "1"}},
                             {"id": "a2", "timestamp": "2", "type": "text", "text": {"body": "2"}}]}},
            {"field": "messages", "value": {"metadata": {},
                "messages": [{"id": "lost", "timestamp": "1", "type": "text", "text": {"body": "?"}}]}},
            {"field": "account_update", "value": {"event": "X"}},
            {"value": {}},
            {"field": "message_template_quality_update", "value": {"new_quality_score": "RED"}},
        ]},
        {"id": "not an entry with changes"},
        "junk",
        {"id": "B", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "2"},
                "messages": [{"id": "b1", "timestamp": "3", "type": "text", "text": {"body": "3"}}]}},
            {"field": "message_template_quality_update",
             "value": {"message_template_id": 7, "new_quality_score": "RED"}},
        ]},
    ]});
    let b = inbound_events(&payload).unwrap();
    let got: Vec<(Option<&str>, &str, &str)> = b
        .messages
        .iter()
        .map(|m| {
            (
                m.waba_id.as_deref(),
                m.phone_number_id.as_str(),
                m.id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some("A"), "1", "a1"),
            (Some("A"), "1", "a2"),
            (Some("B"), "2", "b1")
        ]
    );
    assert_eq!(b.ignored_changes, 2);
    assert_eq!(b.template_events.len(), 1);
    assert_eq!(b.template_events[0].waba_id, "B");
    assert_eq!(b.template_events[0].template_id, "7");
}

#[test]
fn refuses_what_is_not_a_business_account_webhook() {
    for payload in [
        json!(null),
        json!([]),
        json!("x"),
        json!({}),
        json!({"object": "page", "entry": []}),
        json!({"object": "whatsapp_business_account"}),
        json!({"object": "whatsapp_business_account", "entry": {}}),
    ] {
        assert!(
            matches!(inbound_events(&payload), Err(WebhookError::Malformed(_))),
            "{payload}"
        );
    }
    assert_eq!(
        inbound_events(&json!({"object": "whatsapp_business_account", "entry": []})),
        Ok(InboundBatch::default())
    );
}

#[test]
fn which_fixture_messages_open_the_window() {
    let expected = [
        ("message", "text", true),
        ("message", "image", true),
        ("message", "video", true),
        ("message", "document", true),
        ("message", "audio", true),
        ("message", "voice", true),
        ("message", "static_sticker", true),
        ("message", "current_location", true),
        ("message", "contacts", true),
        ("message", "order", true),
        ("message", "unsupported", true),
        ("message", "referral", true),
        ("callback_button", "button", true),
        ("callback_button", "quick_reply", true),
        ("callback_selection", "callback", true),
        ("flow_completion", "completion", true),
        ("message", "reaction", false),
        ("message", "unreaction_empty", false),
        ("message", "interactive_message_with_err", false),
        ("system", "phone_number_change", false),
        ("system", "identity_change", false),
        ("edited_message", "image", false),
        ("deleted_message", "revoke", false),
        ("call_permission_update", "accept", false),
    ];
    for (file, case, opens) in expected {
        assert_eq!(single(file, case).opens_window(), opens, "{file}#{case}");
    }
    let mut nobody = single("message", "text");
    nobody.from = None;
    nobody.user_id = None;
    assert!(!nobody.opens_window(), "a window needs a user to belong to");
}

#[test]
fn serialises_kind_as_its_name_and_content_like_meta() {
    let m = single("message", "voice");
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["kind"], "voice");
    assert_eq!(v["content"]["id"], "1234567890987654321");
    assert_eq!(v["content"]["voice"], true);
    assert_eq!(v["raw"]["type"], "audio");
}

/// Arbitrary JSON, a few levels deep, with keys Meta uses so parsers get exercised.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("id".to_owned()),
        Just("timestamp".to_owned()),
        Just("text".to_owned()),
        Just("interactive".to_owned()),
        Just("edit".to_owned()),
        Just("message".to_owned()),
        Just("errors".to_owned()),
        Just("context".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("text".to_owned()),
            Just("edit".to_owned()),
            Just("interactive".to_owned()),
            Just("audio".to_owned()),
            "[ -~]{0,6}"
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_and_keeps_at_most_every_item(
        items in prop::collection::vec(any_json(), 0..6),
        contacts in any_json(),
        field in prop_oneof![Just("messages"), Just("message_template_status_update"), Just("calls")],
    ) {
        let mut value = json!({"metadata": {"phone_number_id": "1"}, "contacts": contacts});
        value["messages"] = Value::Array(items.clone());
        let payload = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "W", "changes": [{"field": field, "value": value}]}
        ]});
        let b = inbound_events(&payload).unwrap();
        prop_assert!(b.messages.len() <= items.len());
        for m in &b.messages {
            let _ = m.opens_window();
            let _ = serde_json::to_value(m).unwrap();
        }
    }
}

#[test]
fn system_notices_say_which_ids_moved() {
    let notice = |wa_id: Option<&str>, user_id: Option<&str>, previous: Option<&str>| System {
        system_type: Some("user_changed_user_id".into()),
        body: None,
        wa_id: wa_id.map(Into::into),
        user_id: user_id.map(Into::into),
        parent_user_id: None,
        previous_user_id: previous.map(Into::into),
        identity: None,
    };
    let moved = notice(None, Some("US.2"), Some("US.1"))
        .identity_move(None)
        .expect("a BSUID change");
    assert_eq!(
        (moved.previous_user_id.as_deref(), moved.user_id.as_deref()),
        (Some("US.1"), Some("US.2"))
    );
    assert_eq!(moved.previous_wa_id, None);
    let moved = notice(Some("5215500000002"), None, None)
        .identity_move(Some("5215500000001"))
        .expect("a number change");
    assert_eq!(moved.previous_wa_id.as_deref(), Some("5215500000001"));
    assert_eq!(moved.wa_id.as_deref(), Some("5215500000002"));
    // The same number, or no previous id, is no move.
    assert_eq!(notice(Some("1"), None, None).identity_move(Some("1")), None);
    assert_eq!(notice(None, None, None).identity_move(Some("1")), None);
}
