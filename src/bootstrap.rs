//! First-start set-up: the default workspace, its default channel (from configuration) and, when
//! the workspace has none, an API key printed once.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{ProviderKind, ScopeSet};
use chasqui_store::{Channel, KeyLimits, Store, StoreError};

use crate::clock::now_ms;
use crate::config::Config;
use crate::ids;
use crate::secrets::Sealer;

/// The default workspace's id.
pub const DEFAULT_WORKSPACE: &str = "ws_default";

/// [`DEFAULT_WORKSPACE`] as an id.
pub fn default_workspace() -> WorkspaceId {
    WorkspaceId::from_trusted(DEFAULT_WORKSPACE)
}
/// The default channel's id.
pub const DEFAULT_CHANNEL: &str = "ch_default";

/// What bootstrap produced.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// A key created now (only on first start), to print once.
    pub new_api_key: Option<String>,
    /// The in-process sandbox's app secret (when the default channel uses it).
    pub sandbox_app_secret: String,
}

/// Ensures the default workspace and channel; creates an API key if the workspace has none.
pub async fn run(
    store: &dyn Store,
    config: &Config,
    sealer: &Sealer,
) -> Result<Bootstrapped, StoreError> {
    let now = now_ms();
    store
        .ensure_workspace(&default_workspace(), "Default", now)
        .await?;
    let ch = &config.default_channel;
    // Without a configured secret the in-process sandbox gets a fresh one each start: it lives in
    // this process only, so nothing outside needs to know it.
    let app_secret = ch.app_secret.clone().unwrap_or_else(ids::random_token);
    let verify_token = ch
        .verify_token
        .clone()
        .unwrap_or_else(|| "chasqui-sandbox".into());
    // Settings only the admin API changes survive a restart; the rest comes from configuration.
    let existing = store
        .get_channel(&ChannelId::from_trusted(DEFAULT_CHANNEL))
        .await?;
    let channel = Channel {
        id: ChannelId::from_trusted(DEFAULT_CHANNEL),
        workspace_id: default_workspace(),
        name: ch.name.clone(),
        provider: ch.provider,
        phone_number_id: ch.phone_number_id.clone(),
        display_phone_number: ch.display_phone_number.trim_start_matches('+').to_string(),
        // Templates belong to a WABA: a sandbox channel gets the sandbox's own when none is set.
        waba_id: ch.waba_id.clone().or_else(|| {
            (ch.provider == ProviderKind::Sandbox).then(|| config.sandbox.waba_id.clone())
        }),
        base_url: ch.base_url.clone().filter(|b| !b.is_empty()),
        api_version: ch.api_version.clone(),
        // A channel on the in-process sandbox uses the sandbox's own token, not a stored one; a
        // standalone `chasqui sandbox` without a configured token accepts any.
        access_token: ch
            .access_token
            .as_deref()
            .or((ch.provider == ProviderKind::Sandbox).then_some("sandbox-token"))
            .map(|t| sealer.seal(t)),
        app_secret: Some(sealer.seal(&app_secret)),
        verify_token: Some(sealer.seal(&verify_token)),
        rate_per_sec: ch.rate_per_sec,
        pair_interval_ms: ch.pair_interval_ms,
        pair_burst: ch.pair_burst,
        is_default: existing.as_ref().is_none_or(|c| c.is_default),
        enabled: existing.as_ref().is_none_or(|c| c.enabled),
        messaging_limit: existing.as_ref().and_then(|c| c.messaging_limit),
        auto_read: existing.as_ref().is_some_and(|c| c.auto_read),
        wolkvox_connector_id: existing
            .as_ref()
            .and_then(|c| c.wolkvox_connector_id.clone()),
        respond_channel_id: existing.as_ref().and_then(|c| c.respond_channel_id.clone()),
        window_fallback: existing.as_ref().and_then(|c| c.window_fallback.clone()),
        marketing_messages: existing.as_ref().is_some_and(|c| c.marketing_messages),
        // Given by the store.
        num: 0,
        window_policy: ch.window_policy,
    };
    store.upsert_channel(&channel, now).await?;
    let new_api_key = if store.count_api_keys(&default_workspace()).await? == 0 {
        Some(create_api_key(store, &default_workspace(), "default").await?)
    } else {
        None
    };
    Ok(Bootstrapped {
        new_api_key,
        sandbox_app_secret: app_secret,
    })
}

/// Creates an API key with every scope for `workspace_id` and returns it; only its hash is stored.
pub async fn create_api_key(
    store: &dyn Store,
    workspace_id: &WorkspaceId,
    name: &str,
) -> Result<String, StoreError> {
    let created = crate::admin::keys::mint(
        store,
        workspace_id,
        name,
        ScopeSet::all(),
        None,
        KeyLimits::default(),
    )
    .await?;
    Ok(created.secret)
}
