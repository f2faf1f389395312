//! `chasqui bench --metrics-cost`: what recording metrics costs of the accept rate. The
//! accept-only phase runs on servers with metrics off and on, alternately and in swapped order
//! each round (so drift of the machine, and a shared database's growth, fall on both), each on a new database (SQLite) or on the one given.

use figures::Phase;
use procs::{Deployment, Sandbox, Server, ServerConfig};

use super::{figures, procs, Bench, BenchArgs};

/// One accept-only run.
pub struct Round {
    /// Whether metrics were on.
    pub metrics: bool,
    /// Messages accepted per second.
    pub accepted_per_sec: f64,
    /// Messages the load saw accepted.
    pub accepted: u64,
}

/// Every round, in the order run.
pub struct Cost {
    /// The rounds.
    pub rounds: Vec<Round>,
}

impl Cost {
    fn mean(&self, metrics: bool) -> f64 {
        let rates: Vec<f64> = self
            .rounds
            .iter()
            .filter(|r| r.metrics == metrics)
            .map(|r| r.accepted_per_sec)
            .collect();
        rates.iter().sum::<f64>() / (rates.len().max(1) as f64)
    }
}

/// Runs the rounds.
pub async fn run(bench: &Bench) -> Result<Cost, String> {
    let mut rounds = Vec::new();
    let mut last_key: Option<(String, String)> = None;
    for n in 0..bench.args.metrics_rounds.max(1) {
        // Each round swaps the order, so neither setting always runs on the fuller database.
        let order = if n % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for metrics in order {
            let database = bench.args.database.clone().unwrap_or_else(|| {
                let file = format!("metrics-{}-{n}.db", if metrics { "on" } else { "off" });
                format!("sqlite://{}", bench.dir.join(file).display())
            });
            let known_key = last_key
                .as_ref()
                .filter(|(db, _)| *db == database)
                .map(|(_, k)| k.clone());
            let metrics_port = if metrics {
                Some(procs::free_port()?)
            } else {
                None
            };
            let port = procs::free_port()?;
            let webhook_url = format!("http://127.0.0.1:{port}/webhooks/meta");
            let sandbox = Sandbox::start(&bench.http, &webhook_url, &bench.app_secret).await?;
            let config = ServerConfig {
                dir: &bench.dir,
                port,
                database: &database,
                dispatcher: false,
                sandbox_base: &sandbox.base,
                app_secret: &bench.app_secret,
                metrics_port,
            };
            let server = Server::start(&bench.http, &config, known_key).await?;
            last_key = Some((database.clone(), server.key.clone()));
            eprintln!(
                "chasqui bench: accept only, metrics {}, round {}, {} s",
                if metrics { "on" } else { "off" },
                n + 1,
                bench.args.seconds
            );
            let measured = bench
                .measure(Phase::AcceptOnly, Deployment { sandbox, server })
                .await?;
            rounds.push(Round {
                metrics,
                accepted_per_sec: measured.accepted_per_sec(),
                accepted: measured.messages(),
            });
        }
    }
    Ok(Cost { rounds })
}

/// Prints the rounds and the cost.
pub fn print(backend: &str, args: &BenchArgs, cost: &Cost) {
    println!(
        "chasqui bench --metrics-cost: {backend}, {} clients, {} s per run, {} rounds",
        args.concurrency, args.seconds, args.metrics_rounds
    );
    for r in &cost.rounds {
        println!(
            "  metrics {:<3}  {:>9.0} accepted/s  ({} accepted)",
            if r.metrics { "on" } else { "off" },
            r.accepted_per_sec,
            r.accepted
        );
    }
    let (off, on) = (cost.mean(false), cost.mean(true));
    let cost_pct = (1.0 - on / off.max(1e-9)) * 100.0;
    println!(
        "  mean: off {off:.0}/s, on {on:.0}/s: metrics cost {cost_pct:.1}% of the accept rate"
    );
}
