//! The normalised content of an inbound message: Meta's per-type object reduced to the fields
//! callers act on. Whatever a typed form cannot hold stays in the message's `raw`.

use serde::Serialize;
use serde_json::Value;

use super::json::{bool_at, id_at, number_at, object_at, str_at, text_at, unix_seconds};
use super::InboundKind;

/// A message's content. Serialises untagged, so each form reads like Meta's object for its kind
/// (the kind travels next to it). `Raw` holds the type's object as sent when it lacks a field
/// the typed form needs, or when the kind is not one Chasqui knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InboundContent {
    /// `text`.
    Text(Text),
    /// `image`, `video`, `audio`/voice, `document`, `sticker`.
    Media(Media),
    /// `location`.
    Location(Location),
    /// `contacts`.
    Contacts(Contacts),
    /// `reaction`.
    Reaction(Reaction),
    /// `button_reply` and `list_reply`.
    Reply(Reply),
    /// `button` (template quick reply).
    Button(Button),
    /// `nfm_reply` (Flow completion).
    FlowReply(FlowReply),
    /// `call_permission_reply`.
    CallPermissionReply(CallPermissionReply),
    /// `order`.
    Order(Order),
    /// `system`.
    System(System),
    /// `unsupported`.
    Unsupported(Unsupported),
    /// `edit`.
    Edit(Edit),
    /// `revoke`.
    Revoke(Revoke),
    /// The type's object as sent (`null` when there is none).
    Raw(Value),
}

/// `text.body`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    /// The text as written.
    pub body: String,
}

/// A media object: fetch it from Meta by `id` (the `url`, when sent, lives only minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    /// Meta's media id.
    pub id: String,
    /// `mime_type`, e.g. `image/jpeg` or `audio/ogg; codecs=opus`.
    pub mime_type: Option<String>,
    /// `sha256` of the file, base64, as Meta sends it.
    pub sha256: Option<String>,
    /// `caption` (image, video, document).
    pub caption: Option<String>,
    /// `filename` (document).
    pub filename: Option<String>,
    /// `url`: the short-lived lookaside link newer payloads carry.
    pub url: Option<String>,
    /// `animated` (sticker).
    pub animated: Option<bool>,
    /// `voice` (audio): `true` for a recorded voice note.
    pub voice: Option<bool>,
}

/// A shared location; inbound coordinates are numbers (outbound ones are strings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    /// `latitude` in degrees.
    pub latitude: f64,
    /// `longitude` in degrees.
    pub longitude: f64,
    /// `name` of a chosen place.
    pub name: Option<String>,
    /// `address` of a chosen place.
    pub address: Option<String>,
    /// `url` of a chosen place.
    pub url: Option<String>,
}

/// Shared contact cards, kept as sent because every field of a card is optional.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contacts {
    /// The `contacts[]` cards.
    pub contacts: Vec<Value>,
}

/// An emoji reaction on an earlier message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reaction {
    /// The wamid reacted to.
    pub message_id: String,
    /// The emoji; `None` when the reaction was removed (Meta sends `""` or no `emoji`).
    pub emoji: Option<String>,
}

/// A tapped reply button or a chosen list row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// The `id` the business gave the button or row.
    pub id: String,
    /// Its `title`.
    pub title: Option<String>,
    /// Its `description` (list rows only).
    pub description: Option<String>,
}

/// A tapped template quick-reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    /// The `payload` set on the template button when sending.
    pub payload: String,
    /// The button `text` the user saw.
    pub text: Option<String>,
}

/// A completed WhatsApp Flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReply {
    /// `name` (usually `flow`).
    pub name: Option<String>,
    /// `body` shown in the chat (usually `Sent`).
    pub body: Option<String>,
    /// `response_json` exactly as sent: a JSON document inside a string.
    pub response_json: String,
    /// `response_json` decoded, when it is a JSON object.
    pub response: Option<Value>,
    /// `flow_token` from the response, to match the completion to the Flow that was sent.
    pub flow_token: Option<String>,
}

/// The user's answer to a call-permission request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallPermissionReply {
    /// `accept` or `reject`.
    pub response: String,
    /// Until when an accepted permission lasts, unix seconds.
    pub expiration_timestamp: Option<i64>,
    /// `response_source`, e.g. `user_action`.
    pub response_source: Option<String>,
}

/// A cart sent from a catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// `catalog_id`.
    pub catalog_id: Option<String>,
    /// `text` the user added (often empty).
    pub text: Option<String>,
    /// The readable `product_items[]`; items without `product_retailer_id` are left out.
    pub product_items: Vec<OrderItem>,
}

/// One line of an [`Order`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderItem {
    /// `product_retailer_id`: the catalog's SKU.
    pub product_retailer_id: String,
    /// `quantity`.
    pub quantity: Option<i64>,
    /// `item_price`, per unit, in `currency`.
    pub item_price: Option<f64>,
    /// `currency`, ISO 4217.
    pub currency: Option<String>,
}

/// A system notice about the user (number or identity change).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct System {
    /// `system.type`, e.g. `user_changed_number` or `customer_identity_changed`.
    #[serde(rename = "type")]
    pub system_type: Option<String>,
    /// `system.body`, the human-readable notice.
    pub body: Option<String>,
    /// `system.wa_id`: the user's new wa_id after a number change.
    pub wa_id: Option<String>,
    /// `system.user_id`: the user's BSUID after the change.
    pub user_id: Option<String>,
    /// `system.parent_user_id`: the user's parent BSUID after the change.
    pub parent_user_id: Option<String>,
    /// `system.previous_user_id`: the BSUID the user had (`user_changed_user_id`, and number
    /// changes, which regenerate it).
    pub previous_user_id: Option<String>,
    /// The message's `identity` object (identity changes), as sent.
    pub identity: Option<Value>,
}

/// The ids a person moved between, as a `system` message reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityMove {
    /// The BSUID they had.
    pub previous_user_id: Option<String>,
    /// The number they had (the message's `from`), for a number change.
    pub previous_wa_id: Option<String>,
    /// Their new number, for a number change.
    pub wa_id: Option<String>,
    /// Their new BSUID.
    pub user_id: Option<String>,
    /// Their new parent BSUID.
    pub parent_user_id: Option<String>,
}

impl System {
    /// What changed, for a `user_changed_user_id` or `user_changed_number` notice sent `from`
    /// a number; `None` when nothing did.
    pub fn identity_move(&self, from: Option<&str>) -> Option<IdentityMove> {
        let new_number = self.wa_id.as_deref().filter(|new| Some(*new) != from);
        if self.previous_user_id.is_none() && new_number.is_none() {
            return None;
        }
        Some(IdentityMove {
            previous_user_id: self.previous_user_id.clone(),
            previous_wa_id: new_number.and(from).map(str::to_string),
            wa_id: new_number.map(str::to_string),
            user_id: self.user_id.clone(),
            parent_user_id: self.parent_user_id.clone(),
        })
    }
}

/// A message WhatsApp could not hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// `unsupported.type` when Meta names what it was (e.g. `pool`).
    pub unsupported_type: Option<String>,
}

/// An edit of an earlier message, with its new content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edit {
    /// The wamid of the message that was edited.
    pub original_message_id: String,
    /// The kind of the new content, when `edit.message` is sent.
    pub kind: Option<InboundKind>,
    /// The new content, normalised like any message's.
    pub content: Option<Box<InboundContent>>,
}

/// The deletion of an earlier message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revoke {
    /// The wamid of the message that was deleted.
    pub original_message_id: String,
}

/// The kind of one `messages[]` item (or an edit's `message`), from `type` and its object.
pub(super) fn kind_of(message: &Value) -> InboundKind {
    let Some(wire) = message.get("type").and_then(Value::as_str) else {
        // Nothing says what it is; treat it as Meta treats what it cannot show.
        return InboundKind::Unsupported;
    };
    match wire {
        "text" => InboundKind::Text,
        "image" => InboundKind::Image,
        "video" => InboundKind::Video,
        "audio" if message.pointer("/audio/voice").and_then(Value::as_bool) == Some(true) => {
            InboundKind::Voice
        }
        "audio" => InboundKind::Audio,
        "document" => InboundKind::Document,
        "sticker" => InboundKind::Sticker,
        "location" => InboundKind::Location,
        "contacts" => InboundKind::Contacts,
        "reaction" => InboundKind::Reaction,
        "button" => InboundKind::Button,
        "order" => InboundKind::Order,
        "system" => InboundKind::System,
        "unsupported" | "unknown" => InboundKind::Unsupported,
        "edit" => InboundKind::Edit,
        "revoke" => InboundKind::Revoke,
        "interactive" => match message.pointer("/interactive/type").and_then(Value::as_str) {
            Some("button_reply") => InboundKind::ButtonReply,
            Some("list_reply") => InboundKind::ListReply,
            Some("nfm_reply") => InboundKind::FlowReply,
            Some("call_permission_reply") => InboundKind::CallPermissionReply,
            _ => InboundKind::Other("interactive".to_owned()),
        },
        other => InboundKind::Other(other.to_owned()),
    }
}

/// The normalised content of `message` for `kind`; `Raw` when the typed form's needs are unmet.
/// `nested` is set for an edit's new message, so an edit inside an edit is not followed further.
pub(super) fn content_of(kind: &InboundKind, message: &Value, nested: bool) -> InboundContent {
    let typed = match kind {
        InboundKind::Text => message.get("text").and_then(text),
        InboundKind::Image => message.get("image").and_then(media),
        InboundKind::Video => message.get("video").and_then(media),
        InboundKind::Audio | InboundKind::Voice => message.get("audio").and_then(media),
        InboundKind::Document => message.get("document").and_then(media),
        InboundKind::Sticker => message.get("sticker").and_then(media),
        InboundKind::Location => message.get("location").and_then(location),
        InboundKind::Contacts => message.get("contacts").and_then(contacts),
        InboundKind::Reaction => message.get("reaction").and_then(reaction),
        InboundKind::ButtonReply => message.pointer("/interactive/button_reply").and_then(reply),
        InboundKind::ListReply => message.pointer("/interactive/list_reply").and_then(reply),
        InboundKind::FlowReply => message.pointer("/interactive/nfm_reply").and_then(flow),
        InboundKind::CallPermissionReply => message
            .pointer("/interactive/call_permission_reply")
            .and_then(call_permission),
        InboundKind::Button => message.get("button").and_then(button),
        InboundKind::Order => message.get("order").and_then(order),
        InboundKind::System => Some(system(message)),
        InboundKind::Unsupported => Some(InboundContent::Unsupported(Unsupported {
            unsupported_type: message.get("unsupported").and_then(|u| text_at(u, "type")),
        })),
        InboundKind::Edit if !nested => message.get("edit").and_then(edit),
        InboundKind::Edit => None,
        InboundKind::Revoke => message.get("revoke").and_then(revoke),
        InboundKind::Other(_) => None,
    };
    typed.unwrap_or_else(|| InboundContent::Raw(type_object(kind, message)))
}

/// The object a kind's content lives in, as sent, for `Raw`.
fn type_object(kind: &InboundKind, message: &Value) -> Value {
    let key = match kind {
        InboundKind::Voice => "audio",
        InboundKind::ButtonReply
        | InboundKind::ListReply
        | InboundKind::FlowReply
        | InboundKind::CallPermissionReply => "interactive",
        // An `Other` kind's name is the wire type, except for unknown interactive sub-types,
        // which are named `interactive` too: either way the name is the key.
        other => other.as_str(),
    };
    message.get(key).cloned().unwrap_or(Value::Null)
}

fn text(text: &Value) -> Option<InboundContent> {
    Some(InboundContent::Text(Text {
        body: str_at(text, "body")?,
    }))
}

fn media(media: &Value) -> Option<InboundContent> {
    Some(InboundContent::Media(Media {
        id: id_at(media, "id")?,
        mime_type: text_at(media, "mime_type"),
        sha256: text_at(media, "sha256"),
        caption: str_at(media, "caption"),
        filename: str_at(media, "filename"),
        url: text_at(media, "url"),
        animated: bool_at(media, "animated"),
        voice: bool_at(media, "voice"),
    }))
}

fn location(location: &Value) -> Option<InboundContent> {
    Some(InboundContent::Location(Location {
        latitude: number_at(location, "latitude")?,
        longitude: number_at(location, "longitude")?,
        name: str_at(location, "name"),
        address: str_at(location, "address"),
        url: text_at(location, "url"),
    }))
}

fn contacts(contacts: &Value) -> Option<InboundContent> {
    Some(InboundContent::Contacts(Contacts {
        contacts: contacts.as_array()?.clone(),
    }))
}

fn reaction(reaction: &Value) -> Option<InboundContent> {
    Some(InboundContent::Reaction(Reaction {
        message_id: id_at(reaction, "message_id")?,
        emoji: text_at(reaction, "emoji"),
    }))
}

fn reply(reply: &Value) -> Option<InboundContent> {
    Some(InboundContent::Reply(Reply {
        id: id_at(reply, "id")?,
        title: str_at(reply, "title"),
        description: str_at(reply, "description"),
    }))
}

fn button(button: &Value) -> Option<InboundContent> {
    Some(InboundContent::Button(Button {
        payload: str_at(button, "payload")?,
        text: str_at(button, "text"),
    }))
}

fn flow(nfm: &Value) -> Option<InboundContent> {
    let response_json = str_at(nfm, "response_json")?;
    // A response that does not decode is still a completion: keep the string, decode nothing.
    let response = serde_json::from_str::<Value>(&response_json)
        .ok()
        .filter(Value::is_object);
    let flow_token = response.as_ref().and_then(|r| text_at(r, "flow_token"));
    Some(InboundContent::FlowReply(FlowReply {
        name: str_at(nfm, "name"),
        body: str_at(nfm, "body"),
        response_json,
        response,
        flow_token,
    }))
}

fn call_permission(reply: &Value) -> Option<InboundContent> {
    Some(InboundContent::CallPermissionReply(CallPermissionReply {
        response: text_at(reply, "response")?,
        expiration_timestamp: reply.get("expiration_timestamp").and_then(unix_seconds),
        response_source: text_at(reply, "response_source"),
    }))
}

fn order(order: &Value) -> Option<InboundContent> {
    if !order.is_object() {
        return None;
    }
    let items = order
        .get("product_items")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(order_item).collect())
        .unwrap_or_default();
    Some(InboundContent::Order(Order {
        catalog_id: id_at(order, "catalog_id"),
        text: str_at(order, "text"),
        product_items: items,
    }))
}

fn order_item(item: &Value) -> Option<OrderItem> {
    Some(OrderItem {
        product_retailer_id: id_at(item, "product_retailer_id")?,
        // Quantities are whole numbers; `unix_seconds` reads an integer from a number or string.
        quantity: item.get("quantity").and_then(unix_seconds),
        item_price: number_at(item, "item_price"),
        currency: text_at(item, "currency"),
    })
}

fn system(message: &Value) -> InboundContent {
    let system = message.get("system").unwrap_or(&Value::Null);
    InboundContent::System(System {
        system_type: text_at(system, "type"),
        body: str_at(system, "body"),
        wa_id: id_at(system, "wa_id"),
        user_id: id_at(system, "user_id"),
        parent_user_id: id_at(system, "parent_user_id"),
        previous_user_id: id_at(system, "previous_user_id"),
        identity: object_at(message, "identity"),
    })
}

fn edit(edit: &Value) -> Option<InboundContent> {
    let original_message_id = id_at(edit, "original_message_id")?;
    let new = edit.get("message").filter(|m| m.is_object());
    let kind = new.map(kind_of);
    let content = new
        .zip(kind.as_ref())
        .map(|(message, kind)| Box::new(content_of(kind, message, true)));
    Some(InboundContent::Edit(Edit {
        original_message_id,
        kind,
        content,
    }))
}

fn revoke(revoke: &Value) -> Option<InboundContent> {
    Some(InboundContent::Revoke(Revoke {
        original_message_id: id_at(revoke, "original_message_id")?,
    }))
}
