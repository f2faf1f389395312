//! The outbound message object as the spec describes it: one schema per message type, after
//! Meta's own (`TextMessage`, `ImageMessage`, `InteractiveMessage`, `TemplateMessage`... in
//! Meta's OpenAPI file). The handler keeps the body a validated JSON value, so that fields Meta
//! adds pass through; these types only document it, and are never deserialized.

#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A message to send: Meta's message object, with `type` naming which of its objects is set,
/// plus Chasqui's optional `channel`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundMessage {
    /// `text`.
    Text(TextMessage),
    /// `image`.
    Image(ImageMessage),
    /// `audio`.
    Audio(AudioMessage),
    /// `video`.
    Video(VideoMessage),
    /// `document`.
    Document(DocumentMessage),
    /// `sticker`.
    Sticker(StickerMessage),
    /// `location`.
    Location(LocationMessage),
    /// `contacts`.
    Contacts(ContactsMessage),
    /// `interactive`.
    Interactive(InteractiveMessage),
    /// `template`.
    Template(TemplateMessage),
    /// `reaction`.
    Reaction(ReactionMessage),
}

/// What every message carries besides its content.
#[derive(Serialize, ToSchema)]
pub struct Recipient {
    /// `whatsapp`.
    #[schema(example = "whatsapp")]
    messaging_product: Option<String>,
    /// `individual`.
    #[schema(example = "individual")]
    recipient_type: Option<String>,
    /// The recipient's phone number, in international format.
    #[schema(example = "+593991234567", max_length = 32)]
    to: String,
    /// Chasqui: the sending channel's id or number (the workspace's default otherwise).
    channel: Option<String>,
    /// Replies to a message: `{ "message_id": "wamid..." }`.
    context: Option<Context>,
    /// Opaque data Meta returns in this message's status webhooks.
    #[schema(max_length = 512)]
    biz_opaque_callback_data: Option<String>,
}

/// The message a reply quotes.
#[derive(Serialize, ToSchema)]
pub struct Context {
    /// Its wamid.
    message_id: String,
}

/// A text message.
#[derive(Serialize, ToSchema)]
pub struct TextMessage {
    #[serde(flatten)]
    recipient: Recipient,
    text: Text,
}

/// `text`.
#[derive(Serialize, ToSchema)]
pub struct Text {
    /// The text, up to 4096 characters.
    #[schema(max_length = 4096, example = "Hola, ¿en qué podemos ayudarte?")]
    body: String,
    /// Whether WhatsApp shows a preview of the first URL.
    preview_url: Option<bool>,
}

/// A media object: an uploaded media `id` (from `POST /v1/media`) or a public `link`.
#[derive(Serialize, ToSchema)]
pub struct Media {
    /// The media id.
    id: Option<String>,
    /// An https URL Meta fetches.
    #[schema(format = "uri")]
    link: Option<String>,
    /// Caption (image, video, document), up to 1024 characters.
    #[schema(max_length = 1024)]
    caption: Option<String>,
    /// The file name shown (document).
    filename: Option<String>,
}

macro_rules! media_message {
    ($($name:ident $field:ident),*) => {$(
        #[doc = concat!("A message of type `", stringify!($field), "`.")]
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[serde(flatten)]
            recipient: Recipient,
            $field: Media,
        }
    )*};
}

media_message!(ImageMessage image, AudioMessage audio, VideoMessage video,
    DocumentMessage document, StickerMessage sticker);

/// A location message.
#[derive(Serialize, ToSchema)]
pub struct LocationMessage {
    #[serde(flatten)]
    recipient: Recipient,
    location: Location,
}

/// `location`.
#[derive(Serialize, ToSchema)]
pub struct Location {
    /// Degrees, -90 to 90.
    #[schema(example = -0.1807)]
    latitude: f64,
    /// Degrees, -180 to 180.
    #[schema(example = -78.4678)]
    longitude: f64,
    /// The place's name.
    name: Option<String>,
    /// Its address.
    address: Option<String>,
}

/// A contacts message: one to 257 contact cards, as Meta's `ContactObject`.
#[derive(Serialize, ToSchema)]
pub struct ContactsMessage {
    #[serde(flatten)]
    recipient: Recipient,
    #[schema(min_items = 1, max_items = 257)]
    contacts: Vec<ContactCard>,
}

/// A contact card (Meta's `ContactObject`).
#[derive(Serialize, ToSchema)]
pub struct ContactCard {
    /// `formatted_name` is required.
    name: Value,
    phones: Option<Vec<Value>>,
    emails: Option<Vec<Value>>,
    addresses: Option<Vec<Value>>,
    org: Option<Value>,
    urls: Option<Vec<Value>>,
    birthday: Option<String>,
}

/// An interactive message.
#[derive(Serialize, ToSchema)]
pub struct InteractiveMessage {
    #[serde(flatten)]
    recipient: Recipient,
    interactive: Interactive,
}

/// `interactive` (Meta's `InteractiveObject`).
#[derive(Serialize, ToSchema)]
pub struct Interactive {
    /// `button`, `list`, `cta_url`, `flow`, `product`, `product_list`, `catalog_message`,
    /// `location_request_message` or `call_permission_request`.
    #[serde(rename = "type")]
    kind: InteractiveKind,
    /// `text`, `image`, `video` or `document`; text up to 60 characters.
    header: Option<Value>,
    /// `{ "text": ... }`, up to 1024 characters.
    body: Option<Value>,
    /// `{ "text": ... }`, up to 60 characters.
    footer: Option<Value>,
    /// The type's action: buttons (up to 3), sections (up to 10, 10 rows in all), a URL, a
    /// flow, products.
    action: Value,
}

/// `interactive.type`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractiveKind {
    Button,
    List,
    CtaUrl,
    Flow,
    Product,
    ProductList,
    CatalogMessage,
    LocationRequestMessage,
    CallPermissionRequest,
}

/// A template message: the only kind that may open a conversation outside the 24-hour window.
#[derive(Serialize, ToSchema)]
pub struct TemplateMessage {
    #[serde(flatten)]
    recipient: Recipient,
    template: Template,
}

/// `template` (Meta's `TemplateObject`).
#[derive(Serialize, ToSchema)]
pub struct Template {
    /// The template's name, as registered on the channel.
    #[schema(example = "order_update")]
    name: String,
    language: Language,
    /// `header`, `body` and `button` components with their parameters.
    components: Option<Vec<Value>>,
}

/// `template.language`.
#[derive(Serialize, ToSchema)]
pub struct Language {
    /// The language code the template was approved in.
    #[schema(example = "es")]
    code: String,
    /// `deterministic`.
    policy: Option<String>,
}

/// A reaction to a message.
#[derive(Serialize, ToSchema)]
pub struct ReactionMessage {
    #[serde(flatten)]
    recipient: Recipient,
    reaction: Reaction,
}

/// `reaction`.
#[derive(Serialize, ToSchema)]
pub struct Reaction {
    /// The wamid reacted to.
    message_id: String,
    /// One emoji; empty removes the reaction.
    #[schema(example = "👍")]
    emoji: String,
}
