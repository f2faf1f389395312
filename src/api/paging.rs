//! Query parameters every listing shares.

use super::error::ApiError;

/// `limit`: a page size from 1 to 200.
pub fn limit_param(v: &str) -> Result<i64, ApiError> {
    v.parse()
        .ok()
        .filter(|n| (1..=200).contains(n))
        .ok_or_else(|| ApiError::BadParameter {
            field: "limit".into(),
            message: "must be a whole number from 1 to 200".into(),
        })
}

/// An unknown query parameter, naming the known ones.
pub fn unknown_param(name: &str, known: &str) -> ApiError {
    ApiError::BadParameter {
        field: name.into(),
        message: format!("unknown query parameter (use {known})"),
    }
}
