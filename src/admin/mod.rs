//! The operator's services: workspaces, channels and API keys. The admin API (`/v1/admin/...`)
//! and the CLI (`chasqui workspace|channel|key ...`) both call these, so both follow one set of
//! rules.

pub mod channels;
pub mod input;
pub mod keys;
pub mod users;
pub mod views;
pub mod workspaces;

use chasqui_domain::Problem;
use chasqui_store::StoreError;

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input broke the rules: every problem, with its field.
    #[error("the request has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    /// No such workspace, channel or key.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change clashes with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            e => Self::Store(e),
        }
    }
}

impl From<Vec<Problem>> for AdminError {
    fn from(problems: Vec<Problem>) -> Self {
        Self::Invalid(problems)
    }
}

/// Result of every admin operation.
pub type AdminResult<T> = Result<T, AdminError>;
