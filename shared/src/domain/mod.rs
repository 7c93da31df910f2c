//! Domain types that can only be built valid, and the permission table. Nothing here knows
//! about HTTP or storage.

pub mod email;
mod factors;
mod password;
pub mod permissions;
pub mod photo_keys;
mod profile;
pub mod status;
mod user;
mod validation;

pub use email::EmailAddress;
pub use factors::{Factors, MAX_PASSKEYS, PasskeyFactor, PendingTotp, TotpFactor};
pub use password::Password;
pub use permissions::{Action, Allowed};
pub use profile::{Profile, multiline, single_line};
pub use status::{AccountStatus, MAX_REASON_CHARS, Reason, Suspension};
pub use user::{
    AuthorCounts, AuthorView, LinkedIdentity, MAX_KNOWN_DEVICES, PasswordHash, PhotoStatus, PhotoView, Role, Status,
    User, UserId, UserView, identity_key,
};
pub use validation::FieldError;
