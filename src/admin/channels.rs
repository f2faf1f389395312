//! Channels: one WhatsApp sender number each, with its provider, credentials (sealed at rest),
//! pacing, window policy and messaging limit.

use chasqui_domain::problem::code;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::window_fallback::WindowFallback;
use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{PhoneNumber, ProviderKind};
use chasqui_store::{Channel, Store};
use serde_json::Value;

use super::input::Fields;
use super::workspaces::{self, MAX_QUOTA};
use super::{AdminError, AdminResult};
use crate::clock::now_ms;
use crate::config::Config;
use crate::ids;
use crate::secrets::Sealer;

/// Meta's highest per-number throughput.
const MAX_RATE: i64 = 1_000;
/// Longest secret accepted (Meta's tokens are a few hundred characters).
const MAX_SECRET: usize = 4096;
/// Longest vendor id of a channel.
const MAX_VENDOR_ID: usize = 64;

/// What a new channel gets when the request leaves a setting out.
#[derive(Debug, Clone)]
pub struct ChannelDefaults {
    /// Graph API version.
    pub api_version: String,
    /// Messages per second.
    pub rate_per_sec: i64,
    /// Pair spacing, ms.
    pub pair_interval_ms: i64,
    /// Pair burst.
    pub pair_burst: i64,
    /// The sandbox's WABA, for sandbox channels.
    pub sandbox_waba_id: String,
}

impl ChannelDefaults {
    /// From the configuration's default channel and sandbox sections.
    pub fn from_config(config: &Config) -> Self {
        let ch = &config.default_channel;
        Self {
            api_version: ch.api_version.clone(),
            rate_per_sec: 80,
            pair_interval_ms: ch.pair_interval_ms,
            pair_burst: ch.pair_burst,
            sandbox_waba_id: config.sandbox.waba_id.clone(),
        }
    }
}

/// Reads every settable field into `ch`; secrets are sealed as they are read.
fn apply(fields: &mut Fields, ch: &mut Channel, sealer: &Sealer) {
    if let Some(p) = fields.string("provider", 32) {
        match ProviderKind::parse(&p) {
            Some(kind) => ch.provider = kind,
            None => fields.reject(
                "provider",
                code::INVALID_VALUE,
                format!("must be {}", ProviderKind::names()),
            ),
        }
    }
    if let Some(name) = fields.string("name", 100) {
        ch.name = name;
    }
    if let Some(id) = fields.string("phone_number_id", 64) {
        ch.phone_number_id = id;
    }
    if let Some(number) = fields.string("display_phone_number", 32) {
        // Sandbox channels stand in for Meta's test numbers, which use the 555 range.
        let parsed = if ch.provider == ProviderKind::Sandbox {
            PhoneNumber::parse_test_sender(&number)
        } else {
            PhoneNumber::parse(&number)
        };
        match parsed {
            Ok(n) => ch.display_phone_number = n.digits().to_string(),
            Err(e) => fields.reject(
                "display_phone_number",
                code::INVALID_PHONE_NUMBER,
                format!(
                    "{number:?} is {e}{}",
                    if ch.provider == ProviderKind::Sandbox {
                        " (a sandbox channel also takes Meta's test range, +1 555 XXX XXXX)"
                    } else {
                        ""
                    }
                ),
            ),
        }
    }
    if let Some(waba) = fields.nullable_string("waba_id", 64) {
        ch.waba_id = waba;
    }
    if let Some(url) = fields.nullable_string("base_url", 2048) {
        let ok = url.as_deref().is_none_or(|u| {
            reqwest::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
        });
        if ok {
            ch.base_url = url;
        } else {
            fields.reject("base_url", code::INVALID_URL, "must be an http(s) URL");
        }
    }
    if let Some(v) = fields.string("api_version", 16) {
        match chasqui_domain::graph_version::check(&v, crate::clock::now_ms()) {
            Ok(_) => ch.api_version = v,
            Err(why) => fields.reject("api_version", code::INVALID_VALUE, why),
        }
    }
    for (field, slot) in [
        ("access_token", &mut ch.access_token),
        ("app_secret", &mut ch.app_secret),
        ("verify_token", &mut ch.verify_token),
    ] {
        if let Some(secret) = fields.nullable_string(field, MAX_SECRET) {
            *slot = secret.map(|s| sealer.seal(&s));
        }
    }
    if let Some(r) = fields.int("rate_per_sec", 0, MAX_RATE) {
        ch.rate_per_sec = r;
    }
    if let Some(ms) = fields.int("pair_interval_ms", 0, 86_400_000) {
        ch.pair_interval_ms = ms;
    }
    if let Some(b) = fields.int("pair_burst", 1, 1_000) {
        ch.pair_burst = b;
    }
    if let Some(p) = fields.string("window_policy", 16) {
        match WindowPolicy::parse(&p) {
            Some(policy) => ch.window_policy = policy,
            None => fields.reject(
                "window_policy",
                code::INVALID_VALUE,
                "must be enforce, warn or off",
            ),
        }
    }
    match fields.raw("window_fallback") {
        None => {}
        Some(Value::Null) => ch.window_fallback = None,
        Some(v) => match WindowFallback::parse(&v) {
            Ok(fb) => ch.window_fallback = Some(fb),
            Err(why) => fields.reject("window_fallback", code::INVALID_VALUE, why),
        },
    }
    if let Some(marketing_messages) = fields.bool("marketing_messages") {
        ch.marketing_messages = marketing_messages;
    }
    if let Some(auto_read) = fields.bool("auto_read") {
        ch.auto_read = auto_read;
    }
    if let Some(id) = fields.nullable_string("wolkvox_connector_id", MAX_VENDOR_ID) {
        ch.wolkvox_connector_id = id.map(|s| s.trim().to_string());
    }
    if let Some(id) = fields.nullable_string("respond_channel_id", MAX_VENDOR_ID) {
        match id.map(|s| s.trim().to_string()) {
            Some(n) if !n.bytes().all(|b| b.is_ascii_digit()) || n.is_empty() => fields.reject(
                "respond_channel_id",
                code::INVALID_VALUE,
                "must be respond.io's channel id, a whole number",
            ),
            id => ch.respond_channel_id = id,
        }
    }
    if let Some(enabled) = fields.bool("enabled") {
        ch.enabled = enabled;
    }
    if let Some(d) = fields.bool("is_default") {
        ch.is_default = d;
    }
    if let Some(limit) = fields.nullable_int("messaging_limit", 1, MAX_QUOTA) {
        ch.messaging_limit = limit;
    }
}

/// A vendor's id names one channel of a workspace: another of its channels may not have it.
fn check_vendor_ids(fields: &mut Fields, ch: &Channel, workspace_channels: &[Channel]) {
    let taken = |get: fn(&Channel) -> &Option<String>| {
        get(ch).as_ref().is_some_and(|id| {
            workspace_channels
                .iter()
                .any(|c| c.id != ch.id && get(c).as_ref() == Some(id))
        })
    };
    for (field, get) in [
        (
            "wolkvox_connector_id",
            (|c: &Channel| &c.wolkvox_connector_id) as fn(&Channel) -> &Option<String>,
        ),
        ("respond_channel_id", |c: &Channel| &c.respond_channel_id),
    ] {
        if taken(get) {
            fields.reject(
                field,
                code::DUPLICATE,
                "another channel of this workspace has it",
            );
        }
    }
}

/// Checks what a channel of its provider cannot work without.
fn check_complete(fields: &mut Fields, ch: &Channel) {
    let required: &[(&str, bool)] = &[
        ("phone_number_id", !ch.phone_number_id.is_empty()),
        ("display_phone_number", !ch.display_phone_number.is_empty()),
        (
            "access_token",
            ch.provider == ProviderKind::Sandbox || ch.access_token.is_some(),
        ),
        // Without it, Meta's status webhooks for this number could not be verified.
        (
            "app_secret",
            ch.provider != ProviderKind::CloudApi || ch.app_secret.is_some(),
        ),
    ];
    for (field, present) in required {
        // A field given but refused already has its problem: "required" would contradict it.
        if !present && !fields.has_problem(field) {
            fields.reject(
                field,
                code::REQUIRED,
                format!("is required for a {} channel", ch.provider),
            );
        }
    }
}

/// Creates a channel in a workspace. The first channel of a workspace becomes its default.
pub async fn create(
    store: &dyn Store,
    sealer: &Sealer,
    defaults: &ChannelDefaults,
    workspace_id: &WorkspaceId,
    body: Value,
) -> AdminResult<Channel> {
    workspaces::get(store, workspace_id).await?;
    let existing = store.list_channels(workspace_id).await?;
    let provider_given = body.get("provider").is_some();
    let mut fields = Fields::new(body)?;
    fields.require("provider");
    let mut ch = Channel {
        id: ids::channel_id(),
        workspace_id: workspace_id.clone(),
        name: String::new(),
        // Until the body names it (a channel without one is refused).
        provider: ProviderKind::CloudApi,
        phone_number_id: String::new(),
        display_phone_number: String::new(),
        waba_id: None,
        base_url: None,
        api_version: defaults.api_version.clone(),
        access_token: None,
        app_secret: None,
        verify_token: Some(sealer.seal(&ids::random_token())),
        rate_per_sec: defaults.rate_per_sec,
        pair_interval_ms: defaults.pair_interval_ms,
        pair_burst: defaults.pair_burst,
        is_default: existing.is_empty(),
        window_policy: WindowPolicy::default(),
        enabled: true,
        messaging_limit: None,
        auto_read: false,
        wolkvox_connector_id: None,
        respond_channel_id: None,
        window_fallback: None,
        marketing_messages: false,
        // Given by the store.
        num: 0,
    };
    apply(&mut fields, &mut ch, sealer);
    if ch.name.is_empty() {
        ch.name = format!("+{}", ch.display_phone_number);
    }
    if ch.provider == ProviderKind::Sandbox && ch.waba_id.is_none() {
        ch.waba_id = Some(defaults.sandbox_waba_id.clone());
    }
    if provider_given && !fields.has_problem("provider") {
        check_complete(&mut fields, &ch);
    }
    check_vendor_ids(&mut fields, &ch, &existing);
    fields.finish()?;
    store.upsert_channel(&ch, now_ms()).await?;
    Ok(ch)
}

/// One channel.
pub async fn get(store: &dyn Store, id: &ChannelId) -> AdminResult<Channel> {
    store
        .get_channel(id)
        .await?
        .ok_or(AdminError::NotFound("channel"))
}

/// A workspace's channels.
pub async fn list(store: &dyn Store, workspace_id: &WorkspaceId) -> AdminResult<Vec<Channel>> {
    workspaces::get(store, workspace_id).await?;
    Ok(store.list_channels(workspace_id).await?)
}

/// Changes the fields `body` names.
pub async fn update(
    store: &dyn Store,
    sealer: &Sealer,
    id: &ChannelId,
    body: Value,
) -> AdminResult<Channel> {
    let mut ch = get(store, id).await?;
    let mut fields = Fields::new(body)?;
    apply(&mut fields, &mut ch, sealer);
    check_complete(&mut fields, &ch);
    let others = store.list_channels(&ch.workspace_id).await?;
    check_vendor_ids(&mut fields, &ch, &others);
    fields.finish()?;
    store.upsert_channel(&ch, now_ms()).await?;
    Ok(ch)
}

/// Deletes a channel with no messages waiting to be sent.
pub async fn delete(store: &dyn Store, id: &ChannelId) -> AdminResult<()> {
    if store.delete_channel(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound("channel"))
    }
}
