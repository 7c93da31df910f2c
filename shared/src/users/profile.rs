//! Your own profile: a partial update of the fields a person describes themselves with.

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::UsersState;
use crate::{
    accounts::modify_account,
    auth::schemas,
    domain::{Action, FieldError, Profile, UserView},
    http::{ApiError, AuthUser, JsonBody, Problem},
};

/// The fields `PUT user` takes, each optional: what is absent stays as it is. `nickname` and
/// `bio` are cleared with `null` or an empty string. Any other field (`email`, `role`,
/// `status`, ...) is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the body is read field by field; this type documents it
pub struct ProfileUpdate {
    #[schema(schema_with = schemas::first_name)]
    first_name: Option<String>,
    #[schema(schema_with = schemas::last_name)]
    last_name: Option<String>,
    #[schema(schema_with = schemas::nickname)]
    nickname: Option<Option<String>>,
    #[schema(schema_with = schemas::bio)]
    bio: Option<Option<String>>,
}

const FIELDS: [&str; 4] = ["first_name", "last_name", "nickname", "bio"];

/// Change your profile (names, nickname, bio).
#[utoipa::path(
    put, path = "/api/v1/user", tag = "users", request_body = ProfileUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your updated account", body = UserView),
        (status = 409, description = "The account changed meanwhile (`conflict`)", body = Problem),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), nothing changed", body = Problem),
    )
)]
pub async fn update_me(
    State(state): State<UsersState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(Action::UpdateOwnAccount)?;
    let mut errors: Vec<FieldError> = body
        .keys()
        .filter(|key| !FIELDS.contains(&key.as_str()))
        .map(|key| FieldError::new(key.clone(), "unknown_field", "is not a field of the profile"))
        .collect();
    let change = |field: &'static str, errors: &mut Vec<FieldError>| -> Option<Option<String>> {
        match body.get(field)? {
            Value::String(text) => Some(Some(text.clone())),
            Value::Null => Some(None),
            _ => {
                errors.push(FieldError::new(field, "invalid_type", "must be a string"));
                None
            }
        }
    };
    let changes: Vec<Option<Option<String>>> = FIELDS.iter().map(|f| change(f, &mut errors)).collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Merged into the account as read, and validated whole by the registration rules, inside
    // the conditional write: a retry merges into the fresh read.
    let user = modify_account(
        state.accounts.as_ref(),
        &caller.user_id,
        state.clock.now(),
        || ApiError::Unauthorized,
        |user| {
            let pick = |i: usize, now: Option<&String>| changes[i].clone().unwrap_or_else(|| now.cloned());
            let first_name = pick(0, Some(&user.profile.first_name)).unwrap_or_default();
            let last_name = pick(1, Some(&user.profile.last_name)).unwrap_or_default();
            let nickname = pick(2, user.profile.nickname.as_ref());
            let bio = pick(3, user.profile.bio.as_ref());
            let mut errors = Vec::new();
            user.profile = Profile::parse(&first_name, &last_name, nickname.as_deref(), bio.as_deref(), &mut errors)
                .ok_or(ApiError::Validation(errors))?;
            Ok(())
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, "profile updated");
    Ok(Json(UserView::from(&user)))
}
