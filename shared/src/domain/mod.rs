//! Domain types that can only be built valid.

mod email;
mod password;
mod profile;
mod user;

pub use email::EmailAddress;
pub use password::Password;
pub use profile::Profile;
pub use user::{PasswordHash, Role, Status, User, UserId, UserView};
