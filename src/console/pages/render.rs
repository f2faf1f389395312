//! Pieces every page draws the same way: times in the workspace's zone, the window's state,
//! status ticks and a message's content. Customer text only ever goes through maud's escaping.

use chasqui_domain::window::window_open_until;
use chasqui_store::Millis;
use jiff::tz::TimeZone;
use maud::{html, Markup};
use serde_json::Value;

use crate::console::i18n::Lang;

/// How long before its end a window counts as closing soon.
const CLOSING_SOON_MS: i64 = 2 * 60 * 60 * 1000;

/// The time zone pages show times in.
#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

impl Zone {
    /// The workspace's zone, or UTC when it names none (or an unknown one).
    pub fn new(name: Option<&str>) -> Self {
        Zone(
            name.and_then(|n| TimeZone::get(n).ok())
                .unwrap_or(TimeZone::UTC),
        )
    }

    /// The zone of the workspace `user` is looking at.
    pub async fn of(
        state: &crate::api::AppState,
        user: &crate::console::session::ConsoleUser,
    ) -> Result<Self, chasqui_store::StoreError> {
        let ws = state
            .store
            .get_workspace(&user.principal.workspace_id)
            .await?;
        Ok(Self::new(ws.and_then(|w| w.timezone).as_deref()))
    }

    /// `ms` as a date and time in this zone.
    pub fn format(&self, ms: Millis) -> String {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(self.0.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

/// The customer-service window of a conversation whose last inbound message was at `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Open, with this many milliseconds left.
    Open(i64),
    /// Open, but ending within two hours.
    ClosingSoon(i64),
    /// Closed: only templates may go.
    Closed,
}

impl WindowState {
    /// The window at `now`.
    pub fn at(last_inbound_at: Option<Millis>, now: Millis) -> Self {
        match window_open_until(last_inbound_at) {
            Some(until) if until > now && until - now <= CLOSING_SOON_MS => {
                WindowState::ClosingSoon(until - now)
            }
            Some(until) if until > now => WindowState::Open(until - now),
            _ => WindowState::Closed,
        }
    }

    /// Whether free-form messages may go.
    pub fn is_open(self) -> bool {
        !matches!(self, WindowState::Closed)
    }

    /// A badge: open / closing soon with the time left, or closed.
    pub fn badge(self, lang: Lang) -> Markup {
        let left = |ms: i64| {
            let minutes = ms / 60_000;
            format!("{}h {:02}m", minutes / 60, minutes % 60)
        };
        match self {
            WindowState::Open(ms) => html! {
                span.window.open data-state="open" { (lang.t("window-open")) " · " (left(ms)) }
            },
            WindowState::ClosingSoon(ms) => html! {
                span.window.closing data-state="closing" { (lang.t("window-closing")) " · " (left(ms)) }
            },
            WindowState::Closed => html! {
                span.window.closed data-state="closed" { (lang.t("window-closed")) }
            },
        }
    }
}

/// An outbound message's status as ticks: ✓ sent, ✓✓ delivered, blue ✓✓ read, ⚠ failed.
pub fn ticks(status: &str, lang: Lang) -> Markup {
    let (mark, class) = match status {
        "sent" => ("✓", "sent"),
        "delivered" => ("✓✓", "delivered"),
        "read" => ("✓✓", "read"),
        "failed" => ("⚠", "failed"),
        _ => ("🕓", "pending"),
    };
    html! {
        span class={ "ticks " (class) } data-status=(status) title=(lang.t(&format!("status-{class}"))) { (mark) }
    }
}

fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A one-line summary of a message (the inbox's preview).
pub fn summary(kind: &str, content: &Value, lang: Lang) -> String {
    let body = content
        .get(kind)
        .filter(|b| b.is_object())
        .unwrap_or(content);
    match kind {
        "text" => text_of(body, "body").unwrap_or_default().to_string(),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let label = lang.kind(kind);
            match text_of(body, "caption") {
                Some(c) => format!("{label}: {c}"),
                None => label,
            }
        }
        other => lang.kind(other),
    }
}

/// The body of one message in a conversation. Outbound content is Meta's message object (the
/// type's object under its name); inbound content is the type's object itself.
pub fn message_body(kind: &str, content: &Value, lang: Lang) -> Markup {
    let body = content
        .get(kind)
        .filter(|b| b.is_object())
        .unwrap_or(content);
    match kind {
        "text" => html! { p.text dir="auto" { (text_of(body, "body").unwrap_or_default()) } },
        "image" | "sticker" => {
            let label = lang.kind(kind);
            html! {
                @match media_src(body) {
                    Some(Src::Stored(src)) => img.media src=(src) alt=(label) loading="lazy";,
                    // The page loads nothing from another origin: a link stays a link.
                    Some(Src::Link(href)) => a.download href=(href) rel="noopener noreferrer" target="_blank" { "🖼 " (label) },
                    None => p.kind { (label) },
                }
                @if let Some(c) = text_of(body, "caption") { p.caption dir="auto" { (c) } }
            }
        }
        "video" | "audio" | "document" => {
            let src = media_src(body).map(Src::into_href);
            let name = text_of(body, "filename")
                .map(str::to_string)
                .unwrap_or_else(|| lang.kind(kind));
            html! {
                @if let Some(src) = src { a.download href=(src) download { "⬇ " (name) } }
                @else { p.kind { (name) } }
                @if let Some(c) = text_of(body, "caption") { p.caption dir="auto" { (c) } }
            }
        }
        "location" => {
            let coord = |k: &str| {
                body.get(k)
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_default()
            };
            html! {
                p.location {
                    "📍 "
                    @if let Some(n) = text_of(body, "name") { strong dir="auto" { (n) } " " }
                    @if let Some(a) = text_of(body, "address") { span dir="auto" { (a) } " " }
                    span.coords { (coord("latitude")) ", " (coord("longitude")) }
                }
            }
        }
        "reaction" => html! {
            p.reaction { (text_of(body, "emoji").unwrap_or("∅")) " " small { (lang.t("kind-reaction")) } }
        },
        "interactive" | "button" => {
            // An inbound reply names the button or row chosen; an outbound one carries its body.
            let chosen = text_of(body, "title")
                .or_else(|| text_of(body, "text"))
                .or_else(|| body.get("body").and_then(|b| text_of(b, "text")));
            html! { p.reply dir="auto" { "↩ " (chosen.unwrap_or_default()) } }
        }
        "template" => {
            let name = text_of(body, "name").unwrap_or_default();
            html! { p.template { (lang.t("kind-template")) ": " code { (name) } } }
        }
        other => html! { p.kind { (lang.kind(other)) } },
    }
}

/// Where a message's media is.
enum Src {
    /// Stored here, served by the console's own authenticated route.
    Stored(String),
    /// An outbound message's public link.
    Link(String),
}

impl Src {
    fn into_href(self) -> String {
        match self {
            Src::Stored(s) | Src::Link(s) => s,
        }
    }
}

/// An outbound link as given, or the stored copy of Meta's (or an uploaded) media id.
fn media_src(body: &Value) -> Option<Src> {
    if let Some(link) = text_of(body, "link") {
        return Some(Src::Link(link.to_string()));
    }
    text_of(body, "id").map(|id| Src::Stored(format!("/console/media/{id}")))
}

/// `text` made safe for a URL's query or path.
pub fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
