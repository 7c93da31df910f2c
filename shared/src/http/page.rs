//! One page of a listing: what every group's lists answer and take.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::{
    domain::FieldError,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT},
};

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (20 if absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// The page size asked for, or the default; 422 outside 1 to 100.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError::new("limit", "out_of_range", "must be 1 to 100")]));
    }
    Ok(limit)
}
