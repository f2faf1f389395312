//! The log: a filter, and text or JSON lines on standard error.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::config::LogColor;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event, with its spans' fields.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, `span`, `spans`),
    /// for log shippers.
    Json,
}

/// Installs the process's subscriber (once; later calls change nothing). `RUST_LOG` overrides
/// `filter`.
pub fn init(filter: &str, color: LogColor, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(color.enabled()).try_init(),
        // Colour codes inside JSON strings would only corrupt the values.
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
