//! What this binary is: its version and the git commit it was built from.

/// The crate version, from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("CHASQUI_GIT_COMMIT");

/// `0.1.0 (commit abc123def456)`, as `chasqui --version` prints it.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHASQUI_GIT_COMMIT"),
    ")"
);
