//! `chasqui bench`: load the HTTP API against the sandbox and print the figures.

use clap::Args;

/// Benchmark options.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// Runs the benchmark.
pub async fn run(_args: BenchArgs) -> Result<(), String> {
    Err("not yet".into())
}
