//! Configuration: defaults, then a TOML file (`--config` / `CHASQUI_CONFIG`), then `CHASQUI_*`
//! environment variables (`__` between section and key), then command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use chasqui_domain::window::WindowPolicy;
use chasqui_domain::ProviderKind;
use chasqui_provider::sandbox::SandboxSettings;
use serde::{Deserialize, Serialize};

/// Everything `chasqui serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (the default, created on start) or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// Base64 of 32 bytes that encrypts secrets at rest; when empty, `secret_key_file` is used.
    pub secret_key: String,
    /// File holding the secret key, created with a random key when missing.
    pub secret_key_file: PathBuf,
    /// Logging filter (`info`, `chasqui=debug`, ...); `RUST_LOG` overrides it.
    pub log: String,
    /// Colours in the log: `auto` (only on a terminal, and not when `NO_COLOR` is set),
    /// `always` or `never`.
    pub log_color: LogColor,
    /// Log lines as `text` (the default) or `json` (one object per line).
    pub log_format: crate::telemetry::logging::LogFormat,
    /// Address of the Prometheus endpoint (`GET /metrics`), its own listener: whoever can reach
    /// it may read the metrics, so keep it on loopback or a private network. Unset (the
    /// default): no metrics are recorded or served.
    pub metrics_listen: Option<SocketAddr>,
    /// The dispatcher.
    pub dispatcher: DispatcherConfig,
    /// The channel `serve` creates or updates in the default workspace.
    pub default_channel: DefaultChannelConfig,
    /// The in-process sandbox (used when the default channel is a sandbox with no `base_url`).
    pub sandbox: SandboxSettings,
    /// The template registry.
    pub templates: TemplatesConfig,
    /// Webhooks to the business.
    pub business_webhooks: BusinessWebhooksConfig,
    /// Media files.
    pub media: MediaConfig,
    /// Quotas and limits.
    pub limits: LimitsConfig,
    /// Users who log in with a password.
    pub users: UsersConfig,
    /// Vendor-compatible endpoints, each switched on or off.
    pub dialects: DialectsConfig,
    /// The HTTP server's timeouts and connection cap.
    pub server: ServerConfig,
    /// Meta's webhooks as received.
    pub webhooks: WebhooksConfig,
}

/// `[webhooks]`: processing of the Meta webhook deliveries Chasqui has stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// How long a claimed delivery stays this process's without a renewal: after a crash,
    /// another instance (or this one restarted) applies it this long after the claim. Renewed
    /// every third of it while the batch is processed, so a slow batch is not taken over.
    pub inbox_lease_ms: i64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            inbox_lease_ms: 5_000,
        }
    }
}

/// `[server]`: how long clients may take and how many may be connected, so slow or idle
/// connections cannot use up the process's file descriptors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Milliseconds a client has to send a complete request head, counted from its first byte
    /// (a connection that sends nothing is idle, and closed at `idle_timeout_ms`). 10 s: a head
    /// is a few KB, even mobile links send it in well under a second.
    pub header_timeout_ms: u64,
    /// Milliseconds to receive a whole request body once its head arrived; the request is
    /// answered 408 `request_timeout`. 60 s: a 16 MB video upload needs about 2.2 Mbit/s; raise
    /// it for 100 MB documents over slow links.
    pub body_timeout_ms: u64,
    /// Milliseconds a connection may wait for its first or next request. 75 s: longer than
    /// the 60 s upstream idle timeouts of common reverse proxies and load balancers, so they
    /// close first and never reuse a connection Chasqui just closed.
    pub idle_timeout_ms: u64,
    /// Most client connections open at once; at the cap, the connection idle the longest is
    /// closed for a new one. 512: under the usual 1,024-file limit, with room for database,
    /// provider and webhook connections and media files.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            idle_timeout_ms: 75_000,
            max_connections: 512,
        }
    }
}

/// When the log is written with ANSI colour codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogColor {
    /// Only when standard error is a terminal and `NO_COLOR` is not set: a file or a pipe
    /// (journald, a log shipper) gets plain text.
    #[default]
    Auto,
    /// Always, e.g. for a pager that renders them.
    Always,
    /// Never.
    Never,
}

impl LogColor {
    /// Whether to colour a log written to standard error.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// `[dialects]`: which vendor-compatible endpoints are served, and their settings. Each
/// dialect takes a boolean (`wolkvox = false`) or a table (`[dialects.wolkvox] licences = 3`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DialectsConfig {
    /// Curbe "Corporativo API" (`/api/login`, `/api/WhatsappIntegration/send/message`).
    pub curbe: bool,
    /// Wolkvox's `/api/v2/whatsapp.php` and `/api/v2/information.php`.
    #[serde(deserialize_with = "switch")]
    pub wolkvox: WolkvoxDialect,
    /// InnovaAPI's `/api/whatsapp/enviar`.
    #[serde(deserialize_with = "switch")]
    pub innova: InnovaDialect,
    /// respond.io Developer API v2 as resold by Ecuabots (`/v2/...`).
    pub respond: bool,
}

impl Default for DialectsConfig {
    fn default() -> Self {
        Self {
            curbe: true,
            wolkvox: WolkvoxDialect::default(),
            innova: InnovaDialect::default(),
            respond: true,
        }
    }
}

/// A dialect's settings that a bare boolean can stand for.
pub trait Switchable: Default {
    /// Turns the dialect on or off, other settings at their defaults.
    fn with_enabled(enabled: bool) -> Self;
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Switch<T> {
    On(bool),
    Settings(T),
}

fn switch<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Switchable + Deserialize<'de>,
{
    Ok(match Switch::<T>::deserialize(d)? {
        Switch::On(enabled) => T::with_enabled(enabled),
        Switch::Settings(t) => t,
    })
}

/// `[dialects.wolkvox]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WolkvoxDialect {
    /// Whether the endpoints are served.
    pub enabled: bool,
    /// Wolkvox licences: a token's daily quota is licences × 1,000 sends (as Wolkvox's).
    pub licences: i64,
    /// Sends per token per day, instead of licences × 1,000 (unset: licences × 1,000).
    pub daily_quota: Option<i64>,
}

impl Default for WolkvoxDialect {
    fn default() -> Self {
        Self {
            enabled: true,
            licences: 1,
            daily_quota: None,
        }
    }
}

impl Switchable for WolkvoxDialect {
    fn with_enabled(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }
}

/// `[dialects.innova]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InnovaDialect {
    /// Whether the endpoint is served.
    pub enabled: bool,
    /// Messages per day per API key through this endpoint's quota (on top of the key's and the
    /// workspace's own daily quotas; the lower wins); unset: only those apply.
    pub daily_limit: Option<i64>,
}

impl Default for InnovaDialect {
    fn default() -> Self {
        Self {
            enabled: true,
            daily_limit: None,
        }
    }
}

impl Switchable for InnovaDialect {
    fn with_enabled(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }
}

/// `[limits]` configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// IANA time zone whose midnight resets daily quotas, unless a workspace names its own.
    pub timezone: String,
    /// Seconds an in-flight slot counts at most: a request still running after this (or one of
    /// an instance that crashed) stops counting against the concurrency limit.
    pub inflight_ttl_secs: u64,
    /// Seconds between deletions of counters and slots that no longer count.
    pub prune_interval_secs: u64,
    /// How long a workspace's quota settings are cached (a change made through another instance
    /// takes this long to apply; 0 reads them on every send).
    pub workspace_cache_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            inflight_ttl_secs: 300,
            prune_interval_secs: 300,
            workspace_cache_ms: 2_000,
        }
    }
}

/// Users, their sessions and login throttling (`[users]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UsersConfig {
    /// How long a login token works, in seconds.
    pub session_ttl_secs: u64,
    /// Failed logins for one username within `failure_window_secs` that lock it.
    pub max_failed_logins: u32,
    /// How long failed logins are counted together, in seconds.
    pub failure_window_secs: u64,
    /// How long a locked username stays locked, in seconds.
    pub lockout_secs: u64,
    /// Argon2id memory cost in KiB for new password hashes (OWASP's minimum, 19456, by default).
    pub argon2_memory_kib: u32,
    /// Argon2id passes over the memory.
    pub argon2_iterations: u32,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 86_400,
            max_failed_logins: 5,
            failure_window_secs: 900,
            lockout_secs: 900,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
        }
    }
}

/// Media files (`[media]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Directory where uploaded and received media files are kept.
    pub dir: PathBuf,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./chasqui-media"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://chasqui.db".into(),
            secret_key: String::new(),
            secret_key_file: PathBuf::from("chasqui.key"),
            log: "info".into(),
            log_color: LogColor::Auto,
            log_format: crate::telemetry::logging::LogFormat::Text,
            metrics_listen: None,
            dispatcher: DispatcherConfig::default(),
            default_channel: DefaultChannelConfig::default(),
            sandbox: SandboxSettings::default(),
            templates: TemplatesConfig::default(),
            business_webhooks: BusinessWebhooksConfig::default(),
            media: MediaConfig::default(),
            limits: LimitsConfig::default(),
            users: UsersConfig::default(),
            dialects: DialectsConfig::default(),
            server: ServerConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

/// The template registry's periodic sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplatesConfig {
    /// Seconds between syncs of every channel's templates from its provider (the first at
    /// start); 0 disables the periodic sync.
    pub sync_interval_secs: u64,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            sync_interval_secs: 3_600,
        }
    }
}

/// Delivery of webhooks to the business.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BusinessWebhooksConfig {
    /// Run the delivery worker in this process.
    pub enabled: bool,
    /// Timeout of one delivery request.
    pub timeout_ms: u64,
    /// How often to look for due deliveries.
    pub poll_ms: u64,
    /// First retry delay (each next one is 4 times longer, with ±20% jitter).
    pub initial_backoff_ms: u64,
    /// Longest retry delay.
    pub max_backoff_ms: u64,
    /// Retries stop (the delivery is dead) after the first failure this long after queueing.
    pub retry_window_ms: i64,
    /// Most deliveries in flight in this process.
    pub max_in_flight: usize,
    /// Most deliveries in flight to one endpoint.
    pub per_endpoint_in_flight: usize,
    /// Internal ranges endpoints may point to after all (CIDR, e.g. `["10.1.2.0/24", "::1/128"]`,
    /// or one comma-separated string in `CHASQUI_BUSINESS_WEBHOOKS__ALLOW_PRIVATE`). Empty by
    /// default: loopback, private, link-local, unique-local, multicast, unspecified and other
    /// special-purpose addresses are refused, at registration and at every delivery.
    #[serde(deserialize_with = "cidr_list")]
    pub allow_private: Vec<ipnet::IpNet>,
}

/// A list of CIDR ranges, as a list or as one comma-separated string (environment variables).
fn cidr_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        List::Many(items) => items,
    };
    items
        .iter()
        .map(|t| crate::net::address_policy::parse_range(t).map_err(serde::de::Error::custom))
        .collect()
}

impl Default for BusinessWebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout_ms: 10_000,
            poll_ms: 250,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 4 * 3_600_000,
            retry_window_ms: 25 * 3_600_000,
            max_in_flight: 64,
            per_endpoint_in_flight: 4,
            allow_private: Vec::new(),
        }
    }
}

/// What the dispatcher does when a provider call's outcome is unknown and no status webhook
/// named the message within `unknown_outcome_wait_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownOutcomePolicy {
    /// Send again (at-least-once: a duplicate is possible only if Meta had it and never said so).
    Resend,
    /// Mark it failed with code `chasqui_unknown_outcome` (at-most-once).
    Fail,
}

/// Dispatcher tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatcherConfig {
    /// Run the dispatcher in this process.
    pub enabled: bool,
    /// Most messages claimed per round.
    pub batch: i64,
    /// Most provider calls in flight per channel.
    pub max_in_flight: usize,
    /// How long a claim holds if this process goes silent.
    pub lease_ms: i64,
    /// How long this process holds a channel between renewals.
    pub channel_lease_ms: i64,
    /// How often to look for due work when nothing wakes the dispatcher.
    pub poll_ms: u64,
    /// Timeout of one provider call.
    pub provider_timeout_ms: u64,
    /// First retry delay.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Give up retrying this long after acceptance.
    pub retry_deadline_ms: i64,
    /// How long to wait for a status webhook after an unknown outcome.
    pub unknown_outcome_wait_ms: i64,
    /// What to do when that wait ends.
    pub unknown_outcome_policy: UnknownOutcomePolicy,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            batch: 256,
            max_in_flight: 256,
            lease_ms: 60_000,
            channel_lease_ms: 15_000,
            poll_ms: 250,
            provider_timeout_ms: 20_000,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            retry_deadline_ms: 24 * 3_600_000,
            unknown_outcome_wait_ms: 300_000,
            unknown_outcome_policy: UnknownOutcomePolicy::Resend,
        }
    }
}

/// The default channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultChannelConfig {
    /// `sandbox`, `cloud_api` or `dialog360`.
    pub provider: ProviderKind,
    /// Label.
    pub name: String,
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// Sender number, digits.
    pub display_phone_number: String,
    /// WhatsApp Business Account id.
    pub waba_id: Option<String>,
    /// Provider base URL; for `sandbox`, empty means the in-process sandbox.
    pub base_url: Option<String>,
    /// Graph API version.
    pub api_version: String,
    /// Access token (Cloud API) or API key (360dialog).
    pub access_token: Option<String>,
    /// Meta app secret that signs webhooks (generated for the in-process sandbox).
    pub app_secret: Option<String>,
    /// Token Meta's webhook verification must present.
    pub verify_token: Option<String>,
    /// Messages per second (0 = unpaced).
    pub rate_per_sec: i64,
    /// Spacing between messages to one person after the burst, ms (0 = none).
    pub pair_interval_ms: i64,
    /// Messages to one person allowed back to back.
    pub pair_burst: i64,
    /// Free-form sends outside the 24-hour customer service window: `enforce` (refused with
    /// 422 `window_closed`), `warn` (sent, with a warning in the answer) or `off`.
    pub window_policy: WindowPolicy,
}

impl Default for DefaultChannelConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Sandbox,
            name: "Sandbox".into(),
            phone_number_id: "100000000000001".into(),
            display_phone_number: "15550000001".into(),
            waba_id: None,
            base_url: None,
            api_version: chasqui_domain::graph_version::DEFAULT.into(),
            access_token: None,
            app_secret: None,
            verify_token: None,
            rate_per_sec: 80,
            pair_interval_ms: 6_000,
            pair_burst: 10,
            window_policy: WindowPolicy::Enforce,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, the optional file, then `CHASQUI_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("CHASQUI")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .ignore_empty(true),
        );
        let cfg: Config = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Refuses settings that cannot work together, naming them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ch = &self.default_channel;
        chasqui_domain::graph_version::check(&ch.api_version, crate::clock::now_ms())
            .map_err(|why| ConfigError(format!("default_channel.api_version: {why}")))?;
        if ch.provider != ProviderKind::Sandbox && ch.access_token.is_none() {
            return Err(ConfigError(format!(
                "default_channel.access_token is required for {}",
                ch.provider
            )));
        }
        if ch.provider == ProviderKind::CloudApi && ch.app_secret.is_none() {
            return Err(ConfigError(
                "default_channel.app_secret is required for cloud_api".into(),
            ));
        }
        if !(0..=1000).contains(&ch.rate_per_sec) {
            return Err(ConfigError(
                "default_channel.rate_per_sec must be between 0 and 1000".into(),
            ));
        }
        if self.dispatcher.batch < 1 || self.dispatcher.max_in_flight < 1 {
            return Err(ConfigError(
                "dispatcher.batch and dispatcher.max_in_flight must be at least 1".into(),
            ));
        }
        let lease = self.webhooks.inbox_lease_ms;
        if lease < 100 {
            return Err(ConfigError(format!(
                "webhooks.inbox_lease_ms must be at least 100, not {lease}"
            )));
        }
        // A status webhook already stored may wait for a dead process's lease on it; ending the
        // unknown-outcome wait before that lease could resend a message Meta already has.
        if self.dispatcher.unknown_outcome_wait_ms <= lease {
            return Err(ConfigError(format!(
                "dispatcher.unknown_outcome_wait_ms ({}) must be longer than \
                 webhooks.inbox_lease_ms ({lease}): a status webhook held by a crashed \
                 instance's lease would come too late, and the message could be sent twice",
                self.dispatcher.unknown_outcome_wait_ms
            )));
        }
        let u = &self.users;
        if u.session_ttl_secs == 0 || u.max_failed_logins == 0 || u.argon2_iterations == 0 {
            return Err(ConfigError(
                "users.session_ttl_secs, users.max_failed_logins and users.argon2_iterations \
                 must be at least 1"
                    .into(),
            ));
        }
        let sv = &self.server;
        if sv.header_timeout_ms == 0
            || sv.body_timeout_ms == 0
            || sv.idle_timeout_ms == 0
            || sv.max_connections == 0
        {
            return Err(ConfigError(
                "server.header_timeout_ms, server.body_timeout_ms, server.idle_timeout_ms and \
                 server.max_connections must be at least 1"
                    .into(),
            ));
        }
        // Argon2 itself refuses less than 8 KiB per lane.
        if u.argon2_memory_kib < 8 {
            return Err(ConfigError(
                "users.argon2_memory_kib must be at least 8".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Config {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The sample configuration shipped beside the README.
    const SAMPLE: &str = include_str!("../chasqui.example.toml");

    /// Every leaf of `value` with its dotted path.
    fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }

    /// The sample sets every option to its real default (or names it in a comment when its
    /// default is "unset", which TOML cannot write), and nothing that is not an option.
    #[test]
    fn the_sample_configuration_lists_every_option_with_its_default() {
        let sample = serde_json::to_value(from_toml(SAMPLE)).expect("sample");
        let defaults = serde_json::to_value(Config::default()).expect("defaults");
        let given: serde_json::Value = config::Config::builder()
            .add_source(config::File::from_str(SAMPLE, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("sample parses");
        let (mut expected, mut written) = (Vec::new(), Vec::new());
        leaves("", &defaults, &mut expected);
        leaves("", &given, &mut written);
        assert_eq!(sample, defaults, "the sample's values are the defaults");
        let mut missing = Vec::new();
        for (path, value) in &expected {
            let key = path.rsplit('.').next().unwrap_or(path);
            let present = if value.is_null() {
                SAMPLE.contains(&format!("# {key} = "))
            } else {
                written.iter().any(|(p, _)| p == path)
            };
            if !present {
                missing.push(path.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "options missing from the sample: {missing:?}"
        );
        let unknown: Vec<&String> = written
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !expected.iter().any(|(e, _)| e == *p))
            .collect();
        assert!(unknown.is_empty(), "not options: {unknown:?}");
    }

    #[test]
    fn the_unknown_outcome_wait_must_outlast_the_inbox_lease() {
        assert!(Config::default().validate().is_ok());
        assert_eq!(from_toml("").webhooks.inbox_lease_ms, 5_000);
        let cfg = from_toml(
            "[webhooks]\ninbox_lease_ms = 2000\n[dispatcher]\nunknown_outcome_wait_ms = 2000\n",
        );
        let err = cfg.validate().expect_err("equal is refused").to_string();
        assert!(
            err.contains("dispatcher.unknown_outcome_wait_ms (2000)")
                && err.contains("webhooks.inbox_lease_ms (2000)"),
            "{err}"
        );
        let cfg = from_toml(
            "[webhooks]\ninbox_lease_ms = 2000\n[dispatcher]\nunknown_outcome_wait_ms = 2001\n",
        );
        assert!(cfg.validate().is_ok());
        let cfg = from_toml("[webhooks]\ninbox_lease_ms = 0\n");
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn dialects_take_a_boolean_or_a_table() {
        let d = from_toml("").dialects;
        assert!(d.wolkvox.enabled && d.innova.enabled);
        assert_eq!((d.wolkvox.licences, d.wolkvox.daily_quota), (1, None));
        let d = from_toml("[dialects]\nwolkvox = false\ninnova = true\n").dialects;
        assert!(!d.wolkvox.enabled && d.innova.enabled);
        assert_eq!(d.wolkvox.licences, 1);
        let d = from_toml(
            "[dialects.wolkvox]\nlicences = 3\n[dialects.innova]\nenabled = false\ndaily_limit = 50\n",
        )
        .dialects;
        assert!(d.wolkvox.enabled && !d.innova.enabled);
        assert_eq!(d.wolkvox.licences, 3);
        assert_eq!(d.innova.daily_limit, Some(50));
    }

    #[test]
    fn allow_private_takes_a_list_or_a_comma_separated_string() {
        let list = from_toml("[business_webhooks]\nallow_private = [\"10.1.2.0/24\", \"::1\"]\n");
        let text = from_toml("[business_webhooks]\nallow_private = \"10.1.2.0/24, ::1/128\"\n");
        let want = vec!["10.1.2.0/24".to_string(), "::1/128".to_string()];
        for cfg in [list, text] {
            let got: Vec<String> = cfg
                .business_webhooks
                .allow_private
                .iter()
                .map(|n| n.to_string())
                .collect();
            assert_eq!(got, want);
        }
        assert!(from_toml("").business_webhooks.allow_private.is_empty());
        let bad = config::Config::builder()
            .add_source(config::File::from_str(
                "[business_webhooks]\nallow_private = [\"intranet\"]\n",
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|c| c.try_deserialize::<Config>());
        assert!(bad.is_err());
    }
}
