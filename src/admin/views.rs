//! The JSON shapes of workspaces, keys, channels and users: secrets appear only as masked
//! hints. The admin API and the CLI print the same types.

use chasqui_domain::window::WindowPolicy;
use chasqui_domain::{ChannelId, ProviderKind, ScopeSet, WorkspaceId};
use chasqui_store::{ApiKey, Channel, User, Workspace};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock::{now_ms, rfc3339};
use crate::secrets::Sealer;

/// A workspace: one business, its channels, keys, contacts and messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Chasqui's workspace id.
    pub id: WorkspaceId,
    /// Its name.
    #[schema(example = "Tienda Quito")]
    pub name: String,
    /// Refused every request while disabled.
    pub disabled: bool,
    /// When it was disabled (RFC 3339).
    pub disabled_at: Option<String>,
    /// Most messages a day across its keys.
    pub daily_quota: Option<i64>,
    /// The IANA time zone its day is counted in.
    #[schema(example = "America/Guayaquil")]
    pub timezone: Option<String>,
    /// Its stop and resume keywords; `null`: the defaults (stop `STOP`, `BAJA`, `PARAR`,
    /// `CANCELAR`, `SAIR`; resume `START`, `ALTA`, `VOLVER`, `REANUDAR`, `VOLTAR`).
    pub marketing_keywords: Option<chasqui_domain::consent::MarketingKeywords>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            disabled: w.disabled_at.is_some(),
            disabled_at: w.disabled_at.map(rfc3339),
            daily_quota: w.daily_quota,
            timezone: w.timezone.clone(),
            marketing_keywords: w.marketing_keywords.clone(),
            created_at: rfc3339(w.created_at),
        }
    }
}

/// A scope's names, as the API shows them.
fn scope_names(scopes: ScopeSet) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

/// An API key (never the key itself, which is shown once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The key's id.
    #[schema(example = "key_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f")]
    pub id: String,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// What it may do.
    #[schema(example = json!(["send", "read"]))]
    pub scopes: Vec<&'static str>,
    /// `active`, `revoked` or `expired`.
    #[schema(example = "active")]
    pub status: &'static str,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
    /// When it was revoked (RFC 3339).
    pub revoked_at: Option<String>,
    /// When it last authenticated a request (RFC 3339).
    pub last_used_at: Option<String>,
    /// Most sends a day.
    pub daily_quota: Option<i64>,
    /// Most requests in flight at once.
    pub max_concurrent: Option<i64>,
    /// Most requests a minute.
    pub rate_per_minute: Option<i64>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        let status = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now_ms() => "expired",
            _ => "active",
        };
        Self {
            id: k.id.clone(),
            workspace_id: k.workspace_id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: scope_names(k.scopes),
            status,
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            daily_quota: k.limits.daily_quota,
            max_concurrent: k.limits.max_concurrent,
            rate_per_minute: k.limits.rate_per_minute,
            created_at: rfc3339(k.created_at),
        }
    }
}

/// A new key, with the key itself: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's record.
    #[serde(flatten)]
    pub key_record: KeyView,
    /// The key: send it as `Authorization: Bearer <key>`.
    pub key: String,
}

/// The last four characters of a secret, so an operator can tell which one is set; nothing for
/// short secrets, where four characters would be too much of it.
pub fn hint(sealer: &Sealer, sealed: &Option<String>) -> Option<String> {
    let sealed = sealed.as_ref()?;
    Some(match sealer.open(sealed) {
        Ok(plain) if plain.chars().count() >= 16 => {
            let tail: String = plain
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        }
        _ => "…".into(),
    })
}

/// A channel: one WhatsApp sender number; its secrets only as hints.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// Chasqui's channel id.
    pub id: ChannelId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// The API it sends through.
    pub provider: ProviderKind,
    /// Meta's phone number id.
    #[schema(example = "106540352242922")]
    pub phone_number_id: String,
    /// The sender number in E.164.
    #[schema(example = "+593991234567")]
    pub display_phone_number: String,
    /// The WhatsApp Business Account that owns its templates.
    pub waba_id: Option<String>,
    /// Another Graph API address (a proxy, the sandbox).
    pub base_url: Option<String>,
    /// The Graph API version.
    #[schema(example = "v23.0")]
    pub api_version: String,
    /// The access token's last characters.
    pub access_token_hint: Option<String>,
    /// The app secret's last characters.
    pub app_secret_hint: Option<String>,
    /// The webhook verify token's last characters.
    pub verify_token_hint: Option<String>,
    /// Messages a second.
    pub rate_per_sec: i64,
    /// Least time between two messages to one recipient.
    pub pair_interval_ms: i64,
    /// Messages to one recipient allowed at once before the interval applies.
    pub pair_burst: i64,
    /// What to do with a free-form send outside the 24-hour window.
    pub window_policy: WindowPolicy,
    /// Sends messages.
    pub enabled: bool,
    /// The workspace's default channel.
    pub is_default: bool,
    /// Meta's messaging limit (unique business-initiated recipients a day).
    pub messaging_limit: Option<i64>,
    /// Whether every inbound message is marked read at once.
    pub auto_read: bool,
    /// The `connector_id` Wolkvox clients name this channel by.
    pub wolkvox_connector_id: Option<String>,
    /// The `channelId` respond.io clients name this channel by.
    pub respond_channel_id: Option<String>,
    /// The template a free-form text goes as when the window is closed.
    pub window_fallback: Option<chasqui_domain::window_fallback::WindowFallback>,
    /// Whether MARKETING templates go through Meta's Marketing Messages API.
    pub marketing_messages: bool,
    /// What the template sync after this change did (creation and credential changes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_sync: Option<TemplateSyncOutcome>,
}

/// The template sync after a channel change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TemplateSyncOutcome {
    /// It ran.
    Done {
        /// Templates stored.
        templates: usize,
        /// Templates that could not be read.
        unreadable: usize,
    },
    /// It failed (the periodic sync tries again).
    Failed {
        /// Why.
        error: String,
    },
}

impl ChannelView {
    /// The channel as shown, its secrets opened only to take their hints.
    pub fn new(sealer: &Sealer, c: &Channel) -> Self {
        Self {
            id: c.id.clone(),
            workspace_id: c.workspace_id.clone(),
            name: c.name.clone(),
            provider: c.provider,
            phone_number_id: c.phone_number_id.clone(),
            display_phone_number: format!("+{}", c.display_phone_number),
            waba_id: c.waba_id.clone(),
            base_url: c.base_url.clone(),
            api_version: c.api_version.clone(),
            access_token_hint: hint(sealer, &c.access_token),
            app_secret_hint: hint(sealer, &c.app_secret),
            verify_token_hint: hint(sealer, &c.verify_token),
            rate_per_sec: c.rate_per_sec,
            pair_interval_ms: c.pair_interval_ms,
            pair_burst: c.pair_burst,
            window_policy: c.window_policy,
            enabled: c.enabled,
            is_default: c.is_default,
            messaging_limit: c.messaging_limit,
            auto_read: c.auto_read,
            wolkvox_connector_id: c.wolkvox_connector_id.clone(),
            respond_channel_id: c.respond_channel_id.clone(),
            window_fallback: c.window_fallback.clone(),
            marketing_messages: c.marketing_messages,
            template_sync: None,
        }
    }
}

/// A console user (never the password).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Chasqui's user id.
    #[schema(example = "usr_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f")]
    pub id: String,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Login name, lower-cased.
    #[schema(example = "ana.perez")]
    pub username: String,
    /// What its sessions may do.
    pub scopes: Vec<&'static str>,
    /// Cannot log in while disabled.
    pub disabled: bool,
    /// When it was disabled (RFC 3339).
    pub disabled_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Last successful login (RFC 3339).
    pub last_login_at: Option<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            workspace_id: u.workspace_id.clone(),
            username: u.username.clone(),
            scopes: scope_names(ScopeSet::from_stored(&u.scopes)),
            disabled: u.disabled_at.is_some(),
            disabled_at: u.disabled_at.map(rfc3339),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            last_login_at: u.last_login_at.map(rfc3339),
        }
    }
}

/// Any view as JSON, for the CLI's printing.
pub fn to_json(view: &impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}
