//! The command line: `serve`, `migrate`, `workspace|channel|key|user ...`, `sandbox`, `bench`.

mod admin;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, App};
use crate::config::Config;

/// Chasqui: a self-hosted WhatsApp Business messaging gateway.
#[derive(Debug, Parser)]
#[command(name = "chasqui", version = crate::build_info::LONG_VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every database-using command takes.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// TOML configuration file.
    #[arg(long, env = "CHASQUI_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long = "database", env = "CHASQUI_DATABASE_URL", global = true)]
    database: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: HTTP API, webhooks and dispatcher.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on.
        #[arg(long, env = "CHASQUI_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Manage workspaces (tenants).
    Workspace {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: admin::WorkspaceAction,
    },
    /// Manage channels (WhatsApp sender numbers).
    Channel {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: admin::ChannelAction,
    },
    /// Manage API keys.
    Key {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: admin::KeyAction,
    },
    /// Manage users who log in with a username and password.
    User {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: users::UserAction,
    },
    /// Run the sandbox (a simulated WhatsApp Cloud API) on its own port.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// Where to post status and inbound webhooks (e.g. http://127.0.0.1:8080/webhooks/meta).
        #[arg(long)]
        webhook_url: Option<String>,
        /// App secret that signs the webhooks (X-Hub-Signature-256).
        #[arg(
            long,
            env = "CHASQUI_SANDBOX_APP_SECRET",
            default_value = "sandbox-app-secret"
        )]
        app_secret: String,
        /// Bearer token the simulated Graph API requires (any non-empty one when absent).
        #[arg(long, env = "CHASQUI_SANDBOX_ACCESS_TOKEN")]
        access_token: Option<String>,
    },
    /// Load the API against the sandbox and print throughput, latency and memory figures.
    Bench(crate::bench::BenchArgs),
}

fn load(common: &Common) -> Result<Config, String> {
    let mut cfg = Config::load(common.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(db) = &common.database {
        cfg.database_url = db.clone();
    }
    Ok(cfg)
}

/// Configuration and a migrated store, for the operator's commands.
async fn open_for_admin(
    common: &Common,
) -> Result<(Config, std::sync::Arc<dyn chasqui_store::Store>), String> {
    let cfg = load(common)?;
    init_logging("warn", cfg.log_color);
    let store = app::open_store(&cfg).await.map_err(|e| e.to_string())?;
    Ok((cfg, store))
}

fn init_logging(filter: &str, color: crate::config::LogColor) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color.enabled())
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chasqui: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chasqui: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { common, listen } => {
            let mut cfg = load(&common)?;
            if let Some(l) = listen {
                cfg.listen = l;
            }
            crate::telemetry::logging::init(&cfg.log, cfg.log_color, cfg.log_format);
            let app = App::build(cfg).await.map_err(|e| e.to_string())?;
            if let Some(key) = app.new_api_key() {
                println!("Created the default workspace's first API key (shown only this once):\n\n    {key}\n");
            }
            tracing::info!(addr = %app.local_addr(), "chasqui listening");
            app.run(shutdown_signal()).await.map_err(|e| e.to_string())
        }
        Command::Migrate { common } => {
            let cfg = load(&common)?;
            crate::telemetry::logging::init(&cfg.log, cfg.log_color, cfg.log_format);
            app::open_store(&cfg).await.map_err(|e| e.to_string())?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Workspace { common, action } => {
            let (_, store) = open_for_admin(&common).await?;
            admin::workspace(store.as_ref(), action).await
        }
        Command::Channel { common, action } => {
            let (cfg, store) = open_for_admin(&common).await?;
            let sealer = crate::secrets::Sealer::load(&cfg.secret_key, &cfg.secret_key_file)
                .map_err(|e| e.to_string())?;
            admin::channel(store.as_ref(), &cfg, &sealer, action).await
        }
        Command::Key { common, action } => {
            let (_, store) = open_for_admin(&common).await?;
            admin::key(store.as_ref(), action).await
        }
        Command::User { common, action } => {
            let (cfg, store) = open_for_admin(&common).await?;
            let service = crate::users::Users::new(&cfg.users).map_err(|e| e.to_string())?;
            users::user(store.as_ref(), &service, action).await
        }
        Command::Sandbox {
            listen,
            webhook_url,
            app_secret,
            access_token,
        } => {
            init_logging("info", crate::config::LogColor::Auto);
            let settings = chasqui_provider::sandbox::SandboxSettings {
                webhook_url,
                app_secret,
                access_token,
                ..Default::default()
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            tracing::info!(%listen, "sandbox listening (Graph API at /, control API at /sandbox/)");
            chasqui_provider::sandbox::serve_standalone(listener, settings, shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Bench(args) => crate::bench::run(args).await,
    }
}
