//! Profile updates: your own profile (names, nickname, bio, email), and for admins any
//! account's profile with its role and status. The route parses; the account lifecycle writes.

use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::UsersState;
use crate::{
    accounts::{AccessChange, ProfileChanges, StatusChange, Target},
    auth::schemas,
    domain::{Action, EmailAddress, FieldError, Reason, Role, User, UserId, status::parse_suspension_end},
    http::{ApiError, AuthUser, Device, Source},
    identity::{
        password::{self, OwnerProof},
        staff,
    },
};

/// The fields `PUT user` takes for your own account, each optional: what is absent stays as
/// it is. `nickname` and `bio` are cleared with `null` or an empty string. A new `email` stays
/// pending (`pending_email`) until a link sent to it is followed. Any other field (`role`,
/// `status`, ...) is refused.
// The document of the body, not its parser: `Fields` reads the body field by field so that
// every wrong field is named in one 422 (serde stops at the first). Its field lists and these
// types are kept the same by `the_documented_fields_are_the_parsed_ones` below.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(schema_with = schemas::first_name)]
    pub first_name: Option<String>,
    #[schema(schema_with = schemas::last_name)]
    pub last_name: Option<String>,
    #[schema(schema_with = schemas::nickname)]
    pub nickname: Option<Option<String>>,
    #[schema(schema_with = schemas::bio)]
    pub bio: Option<Option<String>>,
    #[schema(schema_with = schemas::email)]
    pub email: Option<String>,
    /// Your current password: with `email`, this or `email_code` (checked and counted as a
    /// login is).
    #[schema(format = Password, max_length = 1024)]
    pub current_password: Option<String>,
    /// With `email`, instead of `current_password` (an account may have none): the code
    /// `POST /api/v1/auth/email_code` sent to your current address.
    #[schema(example = "123456", max_length = 6)]
    pub email_code: Option<String>,
}

/// A status an admin can set: `pending` only comes from registering.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettableStatus {
    Active,
    Suspended,
}

/// The fields an admin's update takes, each optional. A change of `role` or `status` ends all
/// of that account's sessions. The last active admin can be neither demoted nor suspended.
// The document of the body, as `ProfileUpdate` is.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[schema(schema_with = schemas::first_name)]
    pub first_name: Option<String>,
    #[schema(schema_with = schemas::last_name)]
    pub last_name: Option<String>,
    #[schema(schema_with = schemas::nickname)]
    pub nickname: Option<Option<String>>,
    #[schema(schema_with = schemas::bio)]
    pub bio: Option<Option<String>>,
    pub role: Option<Role>,
    pub status: Option<SettableStatus>,
    /// With status `suspended`: when the suspension ends by itself (RFC 3339, in the future,
    /// within 10 years; stored and answered in UTC); absent or null: until an admin reinstates
    /// the account.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_until: Option<String>,
    /// With status `suspended`: why, for the account's owner, admins and the audit trail
    /// (1 to 1000 characters, as every moderation reason).
    #[schema(schema_with = schemas::optional_reason)]
    pub suspension_reason: Option<String>,
}

const PROFILE_FIELDS: [&str; 4] = ["first_name", "last_name", "nickname", "bio"];
const OWNER_FIELDS: [&str; 3] = ["email", "current_password", "email_code"];
const STAFF_FIELDS: [&str; 4] = ["role", "status", "suspended_until", "suspension_reason"];
/// The longest current password taken (as documented); no password is this long.
const MAX_PASSWORD_CHARS: usize = 1024;

/// Who edits: the account's owner, or an admin (who may also set role and status).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Editor {
    Owner,
    Admin,
}

/// The body's fields, validated one by one: what each asks for.
struct Fields {
    body: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Refuses every field `editor` may not set.
    fn new(body: Map<String, Value>, editor: Editor) -> Self {
        let errors = body
            .keys()
            .filter(|key| {
                let allowed: &[&str] = match editor {
                    Editor::Owner => &OWNER_FIELDS,
                    Editor::Admin => &STAFF_FIELDS,
                };
                !(PROFILE_FIELDS.contains(&key.as_str()) || allowed.contains(&key.as_str()))
            })
            .map(|key| FieldError::new(key.clone(), "unknown_field", "is not a field you can change"))
            .collect();
        Self { body, errors }
    }

    /// A text field: absent (`None`), null (`Some(None)`) or a string.
    fn text(&mut self, field: &'static str) -> Option<Option<String>> {
        match self.body.get(field)? {
            Value::String(text) => Some(Some(text.clone())),
            Value::Null => Some(None),
            _ => {
                self.errors.push(FieldError::new(field, "invalid_type", "must be a string"));
                None
            }
        }
    }

    /// A text field parsed by `parse`, its error recorded.
    fn parsed<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<Option<T>> {
        match self.text(field)? {
            None => Some(None),
            Some(text) => match parse(&text) {
                Ok(value) => Some(Some(value)),
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
        }
    }

    /// A field that names one of a few values (`parse` knows them); null is as wrong as any
    /// other word, with `why`.
    fn choice<T>(&mut self, field: &'static str, parse: impl FnOnce(&str) -> Option<T>, why: &str) -> Option<T> {
        let value = self.text(field)?.as_deref().and_then(parse);
        if value.is_none() {
            self.errors.push(FieldError::new(field, "invalid_value", why));
        }
        value
    }

    fn profile(&mut self) -> ProfileChanges {
        ProfileChanges {
            first_name: self.text("first_name"),
            last_name: self.text("last_name"),
            nickname: self.text("nickname"),
            bio: self.text("bio"),
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.errors.is_empty() { Ok(value) } else { Err(ApiError::Validation(self.errors)) }
    }
}

/// How the owner's body proves it is theirs.
enum Proof {
    Password(String),
    EmailCode(String),
}

/// The owner's update: the profile, and a new email with the current password (the sign-in
/// service's `change_email`, which writes the profile with it).
pub(super) async fn update_own_account(
    state: &UsersState,
    caller: &AuthUser,
    (source, device): (&Source, &Device),
    body: Map<String, Value>,
) -> Result<User, ApiError> {
    // `change_email` decides recency; asked here too so that a stale session is told 401
    // before any field of its body is judged (422), as it always was.
    if body.contains_key("email") {
        caller.require_recent_authentication()?;
    }
    let mut fields = Fields::new(body, Editor::Owner);
    let profile = fields.profile();
    let email = fields
        .parsed("email", |raw| EmailAddress::parse(raw).map_err(|why| FieldError::new("email", "invalid_email", why)));
    let password = fields.text("current_password");
    let code = fields.text("email_code");
    let email = match (email, password, code) {
        (Some(None), _, _) => {
            fields.errors.push(FieldError::new("email", "invalid_type", "must be a string"));
            None
        }
        (Some(Some(_)), Some(Some(_)), Some(Some(_))) => {
            let why = "either your current password or an emailed code, not both";
            fields.errors.push(FieldError::new("email_code", "unexpected", why));
            None
        }
        (Some(Some(email)), Some(Some(password)), _) if password.chars().count() <= MAX_PASSWORD_CHARS => {
            Some((email, Proof::Password(password)))
        }
        (Some(Some(_)), Some(Some(_)), _) => {
            let why = format!("at most {MAX_PASSWORD_CHARS} characters");
            fields.errors.push(FieldError::new("current_password", "too_long", why));
            None
        }
        (Some(Some(email)), _, Some(Some(code))) => Some((email, Proof::EmailCode(code))),
        (Some(Some(_)), _, _) => {
            let why = "your current password (or `email_code`), to change your email";
            fields.errors.push(FieldError::new("current_password", "required", why));
            None
        }
        (None, Some(_), _) => {
            fields.errors.push(FieldError::new("current_password", "unexpected", "only with `email`"));
            None
        }
        (None, _, Some(_)) => {
            fields.errors.push(FieldError::new("email_code", "unexpected", "only with `email`"));
            None
        }
        (None, None, None) => None,
    };
    fields.finish(())?;
    match email {
        Some((email, proof)) => {
            let client = (source, device);
            let proof = match &proof {
                Proof::Password(password) => OwnerProof::Password(password),
                Proof::EmailCode(code) => OwnerProof::EmailCode(code),
            };
            Ok(password::change_email(&state.identity, caller, &email, proof, &profile, client).await?)
        }
        None => Ok(state
            .identity
            .lifecycle()
            .update_profile(&caller.user_id, &profile)
            .await
            .map_err(ApiError::or_missing(ApiError::Unauthorized))?),
    }
}

/// An admin's update of the account `id` (which must have `role`, if given), validated whole:
/// profile, role and status, then made by `identity::staff::change_access` (the permission,
/// the recency a role, status or suspension change needs, the lifecycle's one write).
pub(crate) async fn update_account(
    state: &UsersState,
    caller: &AuthUser,
    id: &UserId,
    role: Option<Role>,
    body: Map<String, Value>,
) -> Result<User, ApiError> {
    let now = state.identity.clock.now();
    let mut fields = Fields::new(body, Editor::Admin);
    let profile = fields.profile();
    let new_role = fields.choice("role", Role::parse, "must be reader, author, moderator or admin");
    let suspends = |name: &str| match name {
        "active" | "suspended" => Some(name == "suspended"),
        _ => None,
    };
    let status = fields.choice("status", suspends, "must be active or suspended");
    let until = fields.parsed("suspended_until", |raw| parse_suspension_end("suspended_until", raw, now));
    let reason = fields.parsed("suspension_reason", |raw| Reason::parse("suspension_reason", raw));
    let status = match status {
        Some(true) => Some(StatusChange::Suspend { until: until.flatten(), reason: reason.clone().flatten() }),
        Some(false) => {
            if until.as_ref().is_some_and(Option::is_some) || reason.as_ref().is_some_and(Option::is_some) {
                let why = "only a suspended account has a suspension end date or reason";
                fields.errors.push(FieldError::new("status", "not_suspended", why));
            }
            Some(StatusChange::Activate)
        }
        None if until.is_some() || reason.is_some() => Some(StatusChange::Amend { until, reason }),
        None => None,
    };
    let change = fields.finish(AccessChange { profile, role: new_role, status })?;
    let (audit, target) = (state.moderation.as_ref(), Target { id, role });
    Ok(staff::change_access(state.identity.lifecycle(), audit, caller, Action::ManageAnyAccount, target, change)
        .await?)
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// The names of an object schema's properties.
    fn properties<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(object)) => {
                let mut names: Vec<String> = object.properties.keys().cloned().collect();
                names.sort();
                names
            }
            _ => panic!("an object schema"),
        }
    }

    fn sorted(lists: &[&[&str]]) -> Vec<String> {
        let mut names: Vec<String> = lists.iter().flat_map(|l| l.iter().map(|s| s.to_string())).collect();
        names.sort();
        names
    }

    #[test]
    fn the_documented_fields_are_the_parsed_ones() {
        assert_eq!(properties::<ProfileUpdate>(), sorted(&[&PROFILE_FIELDS, &OWNER_FIELDS]));
        assert_eq!(properties::<AccountUpdate>(), sorted(&[&PROFILE_FIELDS, &STAFF_FIELDS]));
    }
}
