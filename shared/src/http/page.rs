//! One page of a listing: what every group's lists answer and take.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::{
    domain::FieldError,
    pagination::{CursorSigner, DEFAULT_LIMIT, MAX_LIMIT},
    ports::Position,
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

/// One page of a listing, as a query asks for it: the page size, where to start (the
/// cursor opened for this listing only: its route and filters, named by `list`), and the
/// cursor for the page after.
pub struct Paging {
    signer: std::sync::Arc<CursorSigner>,
    list: String,
    pub limit: u32,
    pub after: Option<Position>,
}

impl Paging {
    pub fn new(
        signer: std::sync::Arc<CursorSigner>,
        list: impl Into<String>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Self, ApiError> {
        let list = list.into();
        let limit = page_limit(limit)?;
        let after = cursor.map(|c| signer.open_for(&list, c)).transpose()?;
        Ok(Self { signer, list, limit, after })
    }

    /// The cursor of the page after, sealed for this listing.
    pub fn next_cursor(&self, next: Option<Position>) -> Option<String> {
        next.map(|position| self.signer.seal_for(&self.list, &position))
    }
}
