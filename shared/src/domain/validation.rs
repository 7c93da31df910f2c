//! What is wrong with one field of an input. Domain constructors report these; the HTTP
//! layer turns a list of them into a `validation_failed` problem.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    #[schema(value_type = String)]
    pub field: Cow<'static, str>,
    pub code: &'static str,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, code: &'static str, detail: impl Into<String>) -> Self {
        Self { field: field.into(), code, detail: detail.into() }
    }
}
