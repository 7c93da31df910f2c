//! Your profile photo: an upload form to send the file with (the bytes never pass through the
//! API), processed by the photo worker; and its removal.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;

use super::UsersState;
use crate::{
    domain::{Action, photo_keys},
    http::{ApiError, AuthUser, Problem},
    photos::MAX_UPLOAD_BYTES,
    ports::UploadForm,
};

/// How long an upload form works.
const UPLOAD_FORM_TTL: Duration = Duration::minutes(15);

/// Where to send your photo: `POST` a `multipart/form-data` body to `form.url` with every field
/// of `form.fields` and then the file as `file`. Then `GET /api/v1/user` shows
/// `photo_status`: `ready` with the photo's URLs, or `failed` with `photo_error`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhotoUpload {
    pub upload_id: String,
    pub form: UploadForm,
}

/// Start a new profile photo: answers an upload form (on AWS a presigned S3 POST) for one PNG,
/// JPEG, GIF or WebP file of at most 5 MiB and 24 megapixels, good for 15 minutes. A newer
/// form replaces an older one.
#[utoipa::path(
    put, path = "/api/v1/user/photo", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The upload form", body = PhotoUpload),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn upload_photo(State(state): State<UsersState>, caller: AuthUser) -> Result<Json<PhotoUpload>, ApiError> {
    caller.require(Action::ManageOwnPhoto)?;
    let upload_id = uuid::Uuid::now_v7().to_string();
    let now = state.identity.clock.now();
    state
        .identity
        .lifecycle()
        .expect_photo_upload(&caller.user_id, &upload_id)
        .await
        .map_err(ApiError::or_missing(ApiError::Unauthorized))?;
    let key = photo_keys::upload(&caller.user_id, &upload_id);
    let form = state.uploads.upload_form(&key, MAX_UPLOAD_BYTES, now + UPLOAD_FORM_TTL).await?;
    Ok(Json(PhotoUpload { upload_id, form }))
}

/// Remove your profile photo (and cancel an upload in flight). The profile shows none at once;
/// the photo worker deletes the files moments later.
#[utoipa::path(
    delete, path = "/api/v1/user/photo", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed (or there was none)"),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
    )
)]
pub async fn delete_photo(State(state): State<UsersState>, caller: AuthUser) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageOwnPhoto)?;
    state
        .identity
        .lifecycle()
        .remove_photo(state.identity.jobs.as_ref(), &caller.user_id)
        .await
        .map_err(ApiError::or_missing(ApiError::Unauthorized))?;
    Ok(StatusCode::NO_CONTENT)
}
