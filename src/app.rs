//! Wiring: the store, bootstrap, channels, the in-process sandbox, the HTTP server and the
//! dispatcher, started and stopped together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chasqui_provider::sandbox::Sandbox;
use chasqui_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::api::{self, AppState};
use crate::bootstrap;
use crate::channels::ChannelDirectory;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::ids;
use crate::secrets::Sealer;
use crate::webhooks::ingest::Ingest;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] chasqui_store::StoreError),
    /// The secret key could not be loaded.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// The `[limits]` section is invalid.
    #[error(transparent)]
    Limits(#[from] crate::limits::LimitsConfigError),
    /// The password hashing settings are unusable.
    #[error(transparent)]
    Users(#[from] crate::users::PasswordError),
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {0}: {1}. Choose another address with `--listen 127.0.0.1:8081`, \
         the CHASQUI_LISTEN environment variable or `listen` in the configuration file"
    )]
    Bind(SocketAddr, std::io::Error),
    /// The metrics listen address could not be bound.
    #[error(
        "cannot listen on {0} (metrics_listen): {1}. Choose another address, or leave it unset"
    )]
    MetricsBind(SocketAddr, std::io::Error),
    /// The HTTP client for business webhooks could not be built.
    #[error("cannot build the business webhook HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A gateway ready to run: bound, migrated and bootstrapped.
pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    dispatcher: Option<Arc<Dispatcher>>,
    new_api_key: Option<String>,
    template_sync_secs: u64,
    quota_prune_secs: u64,
    business_webhooks: crate::config::BusinessWebhooksConfig,
    webhook_client: reqwest::Client,
    server: crate::server::Settings,
    inbox_lease_ms: i64,
    /// `metrics_listen`, bound.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store = chasqui_store::open(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

impl App {
    /// Opens the store, binds the listener and bootstraps the default workspace.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        // `Config::load` checks too; a configuration built in code (tests, embedders) must not
        // skip the checks that keep delivery safe (the unknown-outcome wait against the lease).
        config.validate()?;
        let sealer = Sealer::load(&config.secret_key, &config.secret_key_file)?;
        let store = open_store(&config).await?;
        let limits = Arc::new(crate::limits::Limits::new(store.clone(), &config.limits)?);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError::Bind(config.listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.listen, e))?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => {
                let l = TcpListener::bind(at)
                    .await
                    .map_err(|e| StartError::MetricsBind(at, e))?;
                let bound = l.local_addr().map_err(|e| StartError::MetricsBind(at, e))?;
                Some((l, bound))
            }
            None => None,
        };
        let metrics = if metrics_listener.is_some() {
            crate::telemetry::Metrics::new()
        } else {
            crate::telemetry::Metrics::off()
        };
        let boot = bootstrap::run(store.as_ref(), &config, &sealer).await?;

        let ch = &config.default_channel;
        let sandbox = (ch.provider == chasqui_domain::ProviderKind::Sandbox
            && ch.base_url.as_deref().unwrap_or("").is_empty())
        .then(|| {
            let mut settings = config.sandbox.clone();
            settings.webhook_url = Some(format!("http://{addr}/webhooks/meta"));
            settings.app_secret = boot.sandbox_app_secret.clone();
            // Its Graph API is served publicly under /sandbox/graph: without a configured
            // token it takes a fresh random one, so no published default opens it.
            settings.access_token = Some(ch.access_token.clone().unwrap_or_else(ids::random_token));
            settings.display_phone_number =
                ch.display_phone_number.trim_start_matches('+').to_string();
            if let Some(waba_id) = ch.waba_id.clone() {
                settings.waba_id = waba_id;
            }
            let sandbox = Sandbox::new(settings);
            sandbox.spawn_workers();
            sandbox
        });

        let timeout = Duration::from_millis(config.dispatcher.provider_timeout_ms);
        let client = chasqui_provider::http_client(timeout);
        let sealer_for_hooks = sealer.clone();
        let business_webhooks = config.business_webhooks.clone();
        let address_policy = Arc::new(crate::net::AddressPolicy::new(
            business_webhooks.allow_private.clone(),
        ));
        let webhook_client = crate::net::guard::guarded_client(
            address_policy.clone(),
            Duration::from_millis(business_webhooks.timeout_ms),
        )
        .map_err(StartError::HttpClient)?;
        let channels = Arc::new(ChannelDirectory::new(
            store.clone(),
            sealer,
            client,
            sandbox.clone(),
            timeout,
        ));
        channels.refresh().await?;
        for warning in channels.version_warnings(crate::clock::now_ms()) {
            tracing::warn!("{warning}");
        }
        let wake = Arc::new(Notify::new());
        let dispatcher = config.dispatcher.enabled.then(|| {
            let d = Dispatcher::new(
                store.clone(),
                channels.clone(),
                config.dispatcher.clone(),
                ids::prefixed("worker_"),
                wake.clone(),
            );
            d.observe(metrics.clone());
            d
        });
        let users = crate::users::Users::new(&config.users)?;
        {
            // In the background: start-up need not wait for the dummy hash (a login that comes
            // first makes it itself).
            let users = users.clone();
            tokio::spawn(async move {
                if let Err(e) = users.hasher().prepare().await {
                    tracing::warn!(error = %e, "could not prepare the dummy password hash");
                }
            });
        }
        let state = AppState {
            store,
            channels,
            wake,
            sandbox,
            ingest: Arc::new(Notify::new()),
            sealer: sealer_for_hooks,
            media: Arc::new(crate::media::MediaFiles::new(config.media.dir.clone())),
            limits,
            dialects: Arc::new(config.dialects.clone()),
            channel_defaults: Arc::new(crate::admin::channels::ChannelDefaults::from_config(
                &config,
            )),
            users,
            address_policy,
            metrics,
            live: crate::live::Live::default(),
        };
        Ok(Self {
            listener,
            addr,
            state,
            dispatcher,
            new_api_key: boot.new_api_key,
            template_sync_secs: config.templates.sync_interval_secs,
            quota_prune_secs: config.limits.prune_interval_secs,
            business_webhooks,
            webhook_client,
            server: crate::server::Settings::from(&config.server),
            inbox_lease_ms: config.webhooks.inbox_lease_ms,
            metrics_listener,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `metrics_listen` address, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, a)| *a)
    }

    /// The API key created on first start, if this was one.
    pub fn new_api_key(&self) -> Option<&str> {
        self.new_api_key.as_deref()
    }

    /// The in-process sandbox, when the default channel uses it.
    pub fn sandbox(&self) -> Option<Arc<Sandbox>> {
        self.state.sandbox.clone()
    }

    /// Serves until `shutdown` completes; then stops claiming, finishes in-flight work and exits.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_rx_metrics = stop_rx.clone();
        let ingest = Ingest::new(
            self.state.store.clone(),
            self.state.channels.clone(),
            self.state.ingest.clone(),
            ids::prefixed("ingest_"),
            self.inbox_lease_ms,
        )
        .with_metrics(self.state.metrics.clone())
        .with_live(self.state.live.clone());
        let ingest = tokio::spawn(ingest.run(stop_rx.clone()));
        let notifier = self.business_webhooks.enabled.then(|| {
            let notifier = crate::business_webhooks::Notifier::new(
                self.state.store.clone(),
                self.state.sealer.clone(),
                self.webhook_client.clone(),
                self.state.address_policy.clone(),
                self.business_webhooks.clone(),
                ids::prefixed("notifier_"),
            );
            notifier.observe(self.state.metrics.clone());
            tokio::spawn(notifier.run(stop_rx.clone()))
        });
        let media = tokio::spawn(
            crate::media::worker::MediaWorker::new(
                self.state.store.clone(),
                self.state.channels.clone(),
                self.state.media.clone(),
            )
            .run(stop_rx.clone()),
        );
        let dispatcher = self.dispatcher.map(|d| tokio::spawn(d.run(stop_rx)));
        let refresher = {
            let channels = self.state.channels.clone();
            let store = self.state.store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if let Err(e) = channels.refresh().await {
                        tracing::warn!(error = %e, "refreshing channels failed");
                    }
                    // Channels made or changed elsewhere (the CLI, another instance).
                    crate::templates::sync_changed(&store, &channels);
                }
            })
        };
        let template_sync = (self.template_sync_secs > 0).then(|| {
            crate::templates::spawn_periodic(
                self.state.store.clone(),
                self.state.channels.clone(),
                Duration::from_secs(self.template_sync_secs),
            )
        });
        // Ended sessions and stale throttle rows only take space; an hourly sweep is plenty.
        let login_purge = self
            .state
            .users
            .spawn_purge(self.state.store.clone(), Duration::from_secs(3_600));
        let quota_pruner = (self.quota_prune_secs > 0).then(|| {
            crate::limits::Limits::spawn_pruner(
                self.state.store.clone(),
                Duration::from_secs(self.quota_prune_secs),
            )
        });
        let sandbox = self.state.sandbox.clone();
        let store = self.state.store.clone();
        let counters = crate::write_counters::on_signal(store.clone());
        let metrics_server = self.metrics_listener.map(|(listener, _)| {
            let app = crate::telemetry::metrics::router(
                self.state.metrics.clone(),
                self.state.store.clone(),
            );
            let mut stopped = stop_rx_metrics.clone();
            tokio::spawn(crate::server::serve(
                listener,
                app,
                self.server,
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            ))
        });
        let router = api::router(self.state);
        // Before routing: some vendor paths match whatever their case.
        let app = tower::Layer::layer(
            &axum::middleware::map_request(api::dialects::fold_case),
            router,
        );
        let served = crate::server::serve(self.listener, app, self.server, async move {
            shutdown.await;
            tracing::info!("shutting down: no new claims; finishing in-flight work");
            let _ = stop_tx.send(true);
        })
        .await;
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        let _ = ingest.await;
        if let Some(n) = notifier {
            let _ = n.await;
        }
        let _ = media.await;
        if let Some(m) = metrics_server {
            let _ = m.await;
        }
        refresher.abort();
        login_purge.abort();
        if let Some(t) = template_sync {
            t.abort();
        }
        if let Some(t) = quota_pruner {
            t.abort();
        }
        if let Some(s) = sandbox {
            s.close();
        }
        if let Some(t) = counters {
            t.abort();
        }
        crate::write_counters::at_shutdown(store.as_ref());
        served
    }
}
