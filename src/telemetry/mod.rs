//! What the running gateway tells its operator: Prometheus metrics (`metrics`), one tracing
//! span per request with its request id (`request`), and the log's format (`logging`).

pub mod logging;
pub mod metrics;
pub mod request;

pub use metrics::Metrics;
