//! The channels this process knows, with their secrets opened and their providers built.
//! Refreshed from the store, so channels changed elsewhere (another instance, the CLI) show up.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chasqui_domain::ProviderKind;
use chasqui_provider::cloud_api::CloudApiConfig;
use chasqui_provider::dialog360::Dialog360Config;
use chasqui_provider::sandbox::{InProcessProvider, Sandbox};
use chasqui_provider::{Provider, ProviderConfig};
use chasqui_store::{Channel, Store};

use crate::secrets::Sealer;

/// A channel ready to use.
pub struct LiveChannel {
    /// The stored channel (secrets still sealed).
    pub channel: Channel,
    /// Its provider.
    pub provider: Arc<dyn Provider>,
    /// The opened app secret that signs its webhooks.
    pub app_secret: Option<String>,
    /// The opened webhook verify token.
    pub verify_token: Option<String>,
}

/// Every known channel by id.
pub struct ChannelDirectory {
    store: Arc<dyn Store>,
    sealer: Sealer,
    client: reqwest::Client,
    /// The in-process sandbox, for sandbox channels without a base URL.
    sandbox: Option<Arc<Sandbox>>,
    /// Provider call timeout, for the in-process sandbox (the HTTP client has its own).
    timeout: std::time::Duration,
    live: RwLock<HashMap<ChannelId, Arc<LiveChannel>>>,
    /// Channels that appeared, or whose provider changed, since the first refresh: their
    /// templates are to be synced (`take_template_syncs`).
    template_syncs: Mutex<Vec<ChannelId>>,
    /// Told when a refresh finds a channel it did not know: the dispatcher leases it at once
    /// instead of at its next lease renewal.
    added: tokio::sync::Notify,
}

/// Whether what `after` reaches differs from `before`: another provider, endpoint, number,
/// credentials or WhatsApp Business Account, so its templates may differ too.
pub fn provider_changed(before: &Channel, after: &Channel) -> bool {
    before.provider != after.provider
        || before.base_url != after.base_url
        || before.api_version != after.api_version
        || before.phone_number_id != after.phone_number_id
        || before.access_token != after.access_token
        || before.waba_id != after.waba_id
}

impl ChannelDirectory {
    /// An empty directory; call `refresh` to fill it.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        client: reqwest::Client,
        sandbox: Option<Arc<Sandbox>>,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            store,
            sealer,
            client,
            sandbox,
            timeout,
            live: RwLock::new(HashMap::new()),
            template_syncs: Mutex::new(Vec::new()),
            added: tokio::sync::Notify::new(),
        }
    }

    /// Reloads channels from the store, rebuilding only those that changed.
    pub async fn refresh(&self) -> Result<(), chasqui_store::StoreError> {
        let channels = self.store.all_channels().await?;
        let current = self.snapshot();
        // The first fill is start-up, whose templates the periodic sync's first round covers.
        let first_fill = current.is_empty();
        let mut next = HashMap::with_capacity(channels.len());
        let mut changed = Vec::new();
        let mut any_added = false;
        for ch in channels {
            let live = match current.get(&ch.id) {
                Some(existing) if existing.channel == ch => existing.clone(),
                before => {
                    any_added |= before.is_none();
                    if !first_fill && before.is_none_or(|b| provider_changed(&b.channel, &ch)) {
                        changed.push(ch.id.clone());
                    }
                    Arc::new(self.build(ch))
                }
            };
            next.insert(live.channel.id.clone(), live);
        }
        if let Ok(mut guard) = self.live.write() {
            *guard = next;
        }
        if any_added && !first_fill {
            self.added.notify_one();
        }
        if !changed.is_empty() {
            if let Ok(mut pending) = self.template_syncs.lock() {
                pending.extend(changed);
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> HashMap<ChannelId, Arc<LiveChannel>> {
        self.live.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// The channels whose templates are due to be synced since the last call (new channels and
    /// changed providers), each once.
    pub fn take_template_syncs(&self) -> Vec<Arc<LiveChannel>> {
        let mut ids = self
            .template_syncs
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids.iter().filter_map(|id| self.get(id)).collect()
    }

    /// Resolves after a refresh that found a new channel (one waiter; a notice given while
    /// nobody waits is kept for the next).
    pub async fn channel_added(&self) {
        self.added.notified().await;
    }

    /// The channel with `id`.
    pub fn get(&self, id: &str) -> Option<Arc<LiveChannel>> {
        self.live.read().ok().and_then(|g| g.get(id).cloned())
    }

    /// A workspace's channel by id or sender number, or its default channel when `key` is `None`.
    pub fn lookup(&self, workspace_id: &WorkspaceId, key: Option<&str>) -> Option<Channel> {
        let guard = self.live.read().ok()?;
        let mut mine = guard
            .values()
            .map(|l| &l.channel)
            .filter(|c| c.workspace_id == *workspace_id);
        match key.map(|k| k.trim_start_matches('+')) {
            None => mine.find(|c| c.is_default).cloned(),
            Some(k) => mine
                .find(|c| c.id == k || c.display_phone_number == k)
                .cloned(),
        }
    }

    /// The workspace's channel a vendor's own id names (`wolkvox_connector_id`,
    /// `respond_channel_id`), picked by `id_of`.
    pub fn by_vendor_id(
        &self,
        workspace_id: &WorkspaceId,
        id_of: fn(&Channel) -> &Option<String>,
        id: &str,
    ) -> Option<Channel> {
        let guard = self.live.read().ok()?;
        guard
            .values()
            .map(|l| &l.channel)
            .find(|c| c.workspace_id == *workspace_id && id_of(c).as_deref() == Some(id.trim()))
            .cloned()
    }

    /// What an operator must know about the channels' Graph API versions at `now_ms`: one
    /// line per channel whose version expires soon or already expired (it is refused on any
    /// change; a stored one keeps its version until then, and Meta stops answering it).
    pub fn version_warnings(&self, now_ms: i64) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .all()
            .iter()
            .filter_map(|c| {
                let why = match chasqui_domain::graph_version::check(&c.channel.api_version, now_ms)
                {
                    Ok(warning) => warning?,
                    Err(refusal) => refusal,
                };
                Some(format!("channel {}: {why}", c.channel.id))
            })
            .collect();
        warnings.sort();
        warnings
    }

    /// Every channel.
    pub fn all(&self) -> Vec<Arc<LiveChannel>> {
        self.snapshot().into_values().collect()
    }

    fn open(&self, sealed: &Option<String>) -> Option<String> {
        let sealed = sealed.as_ref()?;
        match self.sealer.open(sealed) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot open a channel secret");
                None
            }
        }
    }

    fn build(&self, channel: Channel) -> LiveChannel {
        if let (ProviderKind::Sandbox, None, Some(sandbox)) =
            (channel.provider, &channel.base_url, &self.sandbox)
        {
            // Every channel on the in-process sandbox is simulated by it: its token and the
            // secret its webhooks are signed with are the sandbox's own.
            let settings = sandbox.settings();
            let token = settings.access_token.clone().unwrap_or_default();
            return LiveChannel {
                provider: Arc::new(InProcessProvider::new(
                    sandbox,
                    &channel.api_version,
                    &channel.phone_number_id,
                    &token,
                    self.timeout,
                )),
                app_secret: Some(settings.app_secret.clone()),
                verify_token: self.open(&channel.verify_token),
                channel,
            };
        }
        let token = self.open(&channel.access_token).unwrap_or_default();
        let base = &channel.base_url;
        let provider: Arc<dyn Provider> = match channel.provider {
            ProviderKind::Dialog360 => {
                let mut c = Dialog360Config::new(token);
                if let Some(base) = base {
                    c.base_url = base.clone();
                }
                ProviderConfig::Dialog360(c).build(self.client.clone())
            }
            // A sandbox channel with a base URL talks to a standalone `chasqui sandbox` as to Meta.
            ProviderKind::CloudApi | ProviderKind::Sandbox => {
                let mut c = CloudApiConfig::new(channel.phone_number_id.clone(), token);
                c.api_version = channel.api_version.clone();
                if let Some(base) = base {
                    c.base_url = base.clone();
                }
                ProviderConfig::CloudApi(c).build(self.client.clone())
            }
        };
        LiveChannel {
            provider,
            app_secret: self.open(&channel.app_secret),
            verify_token: self.open(&channel.verify_token),
            channel,
        }
    }
}
