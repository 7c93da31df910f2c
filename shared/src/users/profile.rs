//! Profile updates: your own profile (names, nickname, bio, email), and for admins any
//! account's profile with its role and status.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use super::{AccountQuery, UsersState, email_change, other_account};
use crate::{
    accounts::modify_account,
    auth::schemas,
    domain::{Action, FieldError, Profile, Role, Status, User, UserId, UserView, email::is_invisible},
    http::{ApiError, AuthUser, JsonBody, Problem, QueryParams},
};

/// The fields `PUT user` takes for your own account, each optional: what is absent stays as
/// it is. `nickname` and `bio` are cleared with `null` or an empty string. A new `email` stays
/// pending (`pending_email`) until a link sent to it is followed. Any other field (`role`,
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
    #[schema(schema_with = schemas::email)]
    email: Option<String>,
}

/// A status an admin can set: `pending` only comes from registering.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettableStatus {
    Active,
    Suspended,
}

/// The fields an admin's update takes, each optional. A change of `role` or `status` ends all
/// of that account's sessions. The last active admin can be neither demoted nor suspended.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the body is read field by field; this type documents it
pub struct AccountUpdate {
    #[schema(schema_with = schemas::first_name)]
    first_name: Option<String>,
    #[schema(schema_with = schemas::last_name)]
    last_name: Option<String>,
    #[schema(schema_with = schemas::nickname)]
    nickname: Option<Option<String>>,
    #[schema(schema_with = schemas::bio)]
    bio: Option<Option<String>>,
    role: Option<Role>,
    status: Option<SettableStatus>,
    /// With status `suspended`: when the suspension ends by itself (RFC 3339, in the future);
    /// absent or null: until an admin reinstates the account.
    #[schema(value_type = Option<String>, format = DateTime)]
    suspended_until: Option<String>,
    /// With status `suspended`: why, for the account's owner and admins (1 to 500 characters).
    #[schema(max_length = 500)]
    suspension_reason: Option<String>,
}

const PROFILE_FIELDS: [&str; 4] = ["first_name", "last_name", "nickname", "bio"];
const STAFF_FIELDS: [&str; 4] = ["role", "status", "suspended_until", "suspension_reason"];
const MAX_REASON_CHARS: usize = 500;

/// Who edits: the account's owner, or an admin (who may also set role and status).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Editor {
    Owner,
    Admin,
}

/// Change your profile (names, nickname, bio, email), or with `?id=` (admins only) any
/// account's profile, role and status.
#[utoipa::path(
    put, path = "/api/v1/user", tag = "users", params(AccountQuery),
    request_body(content = ProfileUpdate, description = "Your own profile; with `?id=`, an `AccountUpdate`"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated account", body = UserView),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 403, description = "Another account, and not an admin (`forbidden`)", body = Problem),
        (status = 404, description = "No account has this id (`not_found`)", body = Problem),
        (status = 409, description = "The account changed meanwhile (`conflict`), the new email is taken (`email_taken`), or the last admin would go (`last_admin`)", body = Problem),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), nothing changed", body = Problem),
        (status = 429, description = "Too many emails to the new address (`too_many_emails`)", body = Problem),
    )
)]
pub async fn update_me(
    State(state): State<UsersState>,
    caller: AuthUser,
    QueryParams(query): QueryParams<AccountQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<UserView>, ApiError> {
    let user = match other_account(&caller, query.id) {
        None => {
            caller.require(Action::UpdateOwnAccount)?;
            update_account(&state, &caller.user_id, None, body, Editor::Owner).await?
        }
        Some(id) => {
            caller.require(Action::ManageAnyAccount)?;
            update_account(&state, &id, None, body, Editor::Admin).await?
        }
    };
    Ok(Json(UserView::new(&user, &state.config.photos_url)))
}

/// Changes the account `id` (which must have `role`, if given) as `body` says, validated
/// whole, conditionally on the version read. A change of role or status ends the account's
/// sessions; a new email (its owner's only) starts an email change.
pub(crate) async fn update_account(
    state: &UsersState,
    id: &UserId,
    role: Option<Role>,
    mut body: Map<String, Value>,
    editor: Editor,
) -> Result<User, ApiError> {
    let new_email = match editor {
        Editor::Owner => body.remove("email"),
        Editor::Admin => None,
    };
    let mut errors: Vec<FieldError> = body
        .keys()
        .filter(|key| {
            let staff_field = editor == Editor::Admin && STAFF_FIELDS.contains(&key.as_str());
            !(PROFILE_FIELDS.contains(&key.as_str()) || staff_field)
        })
        .map(|key| FieldError::new(key.clone(), "unknown_field", "is not a field you can change"))
        .collect();
    let text = |field: &'static str, errors: &mut Vec<FieldError>| -> Option<Option<String>> {
        match body.get(field)? {
            Value::String(text) => Some(Some(text.clone())),
            Value::Null => Some(None),
            _ => {
                errors.push(FieldError::new(field, "invalid_type", "must be a string"));
                None
            }
        }
    };
    let changes: Vec<Option<Option<String>>> = PROFILE_FIELDS.iter().map(|f| text(f, &mut errors)).collect();
    let new_role = match text("role", &mut errors) {
        Some(name) => match name.as_deref().and_then(Role::parse) {
            Some(role) => Some(role),
            None => {
                errors.push(FieldError::new("role", "invalid_value", "must be reader, author, moderator or admin"));
                None
            }
        },
        None => None,
    };
    let new_status = match text("status", &mut errors) {
        Some(name) => match name.as_deref() {
            Some("active") => Some(Status::Active),
            Some("suspended") => Some(Status::Suspended),
            _ => {
                errors.push(FieldError::new("status", "invalid_value", "must be active or suspended"));
                None
            }
        },
        None => None,
    };
    let now = state.clock.now();
    let new_until = match text("suspended_until", &mut errors) {
        Some(Some(when)) => match OffsetDateTime::parse(&when, &Rfc3339) {
            Ok(until) if until > now => Some(Some(until)),
            Ok(_) => {
                errors.push(FieldError::new("suspended_until", "in_the_past", "must be in the future"));
                None
            }
            Err(_) => {
                errors.push(FieldError::new("suspended_until", "invalid_value", "must be an RFC 3339 date and time"));
                None
            }
        },
        other => other.map(|_| None),
    };
    let new_reason = match text("suspension_reason", &mut errors) {
        Some(Some(reason)) => {
            let reason = reason.trim().to_string();
            let odd = reason.chars().any(|c| c.is_control() || is_invisible(c));
            if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS || odd {
                let why = "1 to 500 characters, no control or invisible characters";
                errors.push(FieldError::new("suspension_reason", "invalid_value", why));
                None
            } else {
                Some(Some(reason))
            }
        }
        other => other.map(|_| None),
    };
    let new_email = match new_email {
        None => None,
        Some(Value::String(email)) => email_change::parse_new(&email, &mut errors),
        Some(_) => {
            errors.push(FieldError::new("email", "invalid_type", "must be a string"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let Some(email) = &new_email {
        email_change::check_available(state, id, email).await?;
    }
    let access_changed = AtomicBool::new(false);
    // Merged into the account as read, and validated whole by the registration rules, inside
    // the conditional write: a retry merges into the fresh read.
    let user = modify_account(
        state.accounts.as_ref(),
        id,
        now,
        || if editor == Editor::Owner { ApiError::Unauthorized } else { ApiError::NotFound },
        |user| {
            if role.is_some_and(|role| user.role != role) {
                return Err(ApiError::NotFound);
            }
            let pick = |i: usize, now: Option<&String>| changes[i].clone().unwrap_or_else(|| now.cloned());
            let first_name = pick(0, Some(&user.profile.first_name)).unwrap_or_default();
            let last_name = pick(1, Some(&user.profile.last_name)).unwrap_or_default();
            let nickname = pick(2, user.profile.nickname.as_ref());
            let bio = pick(3, user.profile.bio.as_ref());
            let mut errors = Vec::new();
            user.profile = Profile::parse(&first_name, &last_name, nickname.as_deref(), bio.as_deref(), &mut errors)
                .ok_or(ApiError::Validation(errors))?;
            if new_status.is_some() && user.status == Status::Pending {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "status",
                    "pending_account",
                    "the account has not confirmed its email yet",
                )]));
            }
            let (role, status) = (new_role.unwrap_or(user.role), new_status.unwrap_or(user.status));
            access_changed.store((role, status) != (user.role, user.status), Ordering::Relaxed);
            (user.role, user.status) = (role, status);
            suspend(user, new_status, &new_until, &new_reason)?;
            if let Some(email) = &new_email {
                email_change::begin_change(user, email)?;
            }
            Ok(())
        },
    )
    .await?;
    if access_changed.load(Ordering::Relaxed) {
        // Authorization reads the token's role: every token issued before this change goes.
        state.sessions.delete_user_sessions(&user.id).await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), status = user.status.as_str(), "role or status changed; all sessions ended");
    }
    if let Some(email) = &new_email {
        email_change::send_change_links(state, &user, email).await?;
    }
    tracing::info!(user_id = %user.id, "account updated");
    Ok(user)
}

/// The suspension's end date and reason, as an admin's update leaves them: set anew when the
/// update suspends, changed one by one on a suspended account, gone once it is not suspended.
fn suspend(
    user: &mut User,
    new_status: Option<Status>,
    until: &Option<Option<OffsetDateTime>>,
    reason: &Option<Option<String>>,
) -> Result<(), ApiError> {
    if user.status != Status::Suspended {
        if until.as_ref().is_some_and(Option::is_some) || reason.as_ref().is_some_and(Option::is_some) {
            let why = "only a suspended account has a suspension end date or reason";
            return Err(ApiError::Validation(vec![FieldError::new("status", "not_suspended", why)]));
        }
        (user.suspended_until, user.suspension_reason) = (None, None);
    } else if new_status == Some(Status::Suspended) {
        (user.suspended_until, user.suspension_reason) = ((*until).flatten(), reason.clone().flatten());
    } else {
        if let Some(until) = until {
            user.suspended_until = *until;
        }
        if let Some(reason) = reason {
            user.suspension_reason = reason.clone();
        }
    }
    Ok(())
}
