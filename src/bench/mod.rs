//! `chasqui bench`: runs a real `chasqui serve` whose channel is on a `chasqui sandbox` process
//! (Meta is remote, so the simulated Cloud API is too; pacing off), loads the server over HTTP
//! and prints, for each phase, what it costs:
//!
//! 1. the trivial route (`GET /healthz`), the ceiling;
//! 2. with delivery: sends while the dispatcher delivers them to the sandbox, whose status
//!    webhooks come back, until every message is delivered;
//! 3. accept only: sends to a server without its dispatcher (`--accept-only` runs only this).
//!
//! Each send phase has a server (and a sandbox) of its own, and prints accepted/s, accept
//! latency, delivered/s, the CPU of the server, of the sandbox and of the load generator apart,
//! row writes (PostgreSQL: per table) and bytes written per message, and the server's peak RSS;
//! then the ratios between the phases.
//!
//! Layout: `procs` (the child processes), `load` (the clients), `usage` (`/proc` readings),
//! `rows` (row-write counters), `figures` (every figure, computed once), `report` (printing).

mod console;
mod figures;
mod load;
mod metrics_cost;
mod procs;
mod report;
mod rows;
mod usage;

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use figures::{Measured, Phase, Results, Trivial};
use procs::{Deployment, Sandbox, Server, ServerConfig};
use rows::RowCounter;
use usage::Sample;

/// Benchmark options.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds each load phase lasts.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Database to run against (default: a new SQLite file per phase in a temporary folder). Use
    /// an empty PostgreSQL database: the benchmark fills it, the phase with delivery first.
    #[arg(long)]
    pub database: Option<String>,
    /// Distinct recipients the load rotates over.
    #[arg(long, default_value_t = 10_000)]
    pub recipients: usize,
    /// Run only the accept-only phase: the server without its dispatcher.
    #[arg(long)]
    pub accept_only: bool,
    /// Instead: the accept-only phase with metrics off and on (`metrics_listen`), alternately,
    /// `--metrics-rounds` times each, and what the metrics cost of the accept rate.
    #[arg(long)]
    pub metrics_cost: bool,
    /// Rounds of `--metrics-cost` (each runs both servers once).
    #[arg(long, default_value_t = 2)]
    pub metrics_rounds: usize,
    /// Instead: the console's page times with a full workspace (see `bench/console.rs`).
    #[arg(long)]
    pub console: bool,
    /// People (so conversations) of `--console`.
    #[arg(long, default_value_t = 10_000)]
    pub console_conversations: usize,
    /// Inbound messages of `--console`, spread over the people.
    #[arg(long, default_value_t = 100_000)]
    pub console_messages: usize,
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bench = Bench::new(args).await?;
    if bench.args.console {
        let result = console::run(&bench).await;
        let _ = std::fs::remove_dir_all(&bench.dir);
        return result;
    }
    if bench.args.metrics_cost {
        let cost = metrics_cost::run(&bench).await;
        let _ = std::fs::remove_dir_all(&bench.dir);
        metrics_cost::print(bench.backend(), &bench.args, &cost?);
        return Ok(());
    }
    let results = bench.run().await;
    let _ = std::fs::remove_dir_all(&bench.dir);
    let results = results?;
    let args = &bench.args;
    report::print(
        bench.backend(),
        args.concurrency,
        args.seconds,
        usage::cores(),
        &results,
    );
    Ok(())
}

/// One run's settings and the clients it measures with.
struct Bench {
    args: BenchArgs,
    /// Configuration, key file and (by default) the SQLite databases.
    dir: PathBuf,
    http: reqwest::Client,
    rows: RowCounter,
    /// Signs the sandbox's webhooks; the server's channel knows it.
    app_secret: String,
}

impl Bench {
    async fn new(args: BenchArgs) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("chasqui-bench-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let rows = RowCounter::for_database(args.database.as_deref().unwrap_or("sqlite:")).await?;
        Ok(Self {
            args,
            dir,
            http,
            rows,
            app_secret: crate::ids::random_token(),
        })
    }

    fn backend(&self) -> &'static str {
        match self.rows {
            RowCounter::Postgres(_) => "postgresql",
            RowCounter::Sqlite => "sqlite",
        }
    }

    /// The given database, or a new SQLite file for each phase.
    fn database(&self, phase: Phase) -> String {
        let file = match phase {
            Phase::Delivery => "delivery.db",
            Phase::AcceptOnly => "accept-only.db",
        };
        self.args
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.join(file).display()))
    }

    async fn run(&self) -> Result<Results, String> {
        let phases: &[Phase] = if self.args.accept_only {
            &[Phase::AcceptOnly]
        } else {
            // On a shared database, the accept-only phase's messages stay queued: it goes last.
            &[Phase::Delivery, Phase::AcceptOnly]
        };
        let mut trivial = None;
        let mut measured = Vec::new();
        // The database and API key of the phase before.
        let mut last: Option<(String, String)> = None;
        for &phase in phases {
            let database = self.database(phase);
            let known_key = last
                .as_ref()
                .filter(|(db, _)| *db == database)
                .map(|(_, key)| key.clone());
            let deployment = self.deploy(phase, &database, known_key).await?;
            last = Some((database, deployment.server.key.clone()));
            if trivial.is_none() {
                eprintln!("chasqui bench: the trivial route, {} s", self.args.seconds);
                trivial = Some(self.trivial(&deployment.server).await);
            }
            eprintln!("chasqui bench: {}, {} s", phase.name(), self.args.seconds);
            measured.push(self.measure(phase, deployment).await?);
        }
        let accept_only = measured.pop().ok_or("no phase ran")?;
        Ok(Results {
            trivial: trivial.ok_or("no phase ran")?,
            delivery: measured.pop(),
            accept_only,
        })
    }

    /// Starts the sandbox, then the server on it.
    async fn deploy(
        &self,
        phase: Phase,
        database: &str,
        known_key: Option<String>,
    ) -> Result<Deployment, String> {
        let port = procs::free_port()?;
        let webhook_url = format!("http://127.0.0.1:{port}/webhooks/meta");
        let sandbox = Sandbox::start(&self.http, &webhook_url, &self.app_secret).await?;
        let config = ServerConfig {
            dir: &self.dir,
            port,
            database,
            dispatcher: phase.dispatcher(),
            sandbox_base: &sandbox.base,
            app_secret: &self.app_secret,
            metrics_port: None,
        };
        let server = Server::start(&self.http, &config, known_key).await?;
        Ok(Deployment { sandbox, server })
    }

    async fn trivial(&self, server: &Server) -> Trivial {
        let started = Instant::now();
        let load =
            load::trivial(&self.http, server, self.args.concurrency, self.args.seconds).await;
        Trivial {
            load,
            secs: started.elapsed().as_secs_f64(),
        }
    }

    /// Loads the sends, waits for delivery (with the dispatcher), then stops the deployment to
    /// read the row counts.
    async fn measure(&self, phase: Phase, deployment: Deployment) -> Result<Measured, String> {
        let (server, sandbox) = (&deployment.server, &deployment.sandbox);
        let sample = || Sample::take(server.pid(), sandbox.pid());
        let rows_at_start = self.rows.start(server).await?;
        let start = sample()?;
        let args = &self.args;
        let load = load::sends(
            &self.http,
            server,
            args.concurrency,
            args.seconds,
            args.recipients,
        )
        .await;
        let load_end = sample()?;
        let drained = match phase {
            Phase::Delivery => Some(load::drain(&self.http, server).await?),
            Phase::AcceptOnly => None,
        };
        let end = sample()?;
        let peak_rss_mb = usage::peak_rss_mb(server.pid());
        let at_shutdown = deployment.stop();
        let rows = self.rows.end(&rows_at_start, at_shutdown).await?;
        Ok(Measured {
            phase,
            load,
            during_load: load_end.since(&start),
            whole: end.since(&start),
            drained,
            rows,
            peak_rss_mb,
        })
    }
}
