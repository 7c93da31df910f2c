//! Credentials: password hashing, signed access tokens, opaque random tokens, and the
//! extractor that turns a bearer token into a caller.

mod extract;
pub mod jwt;
pub mod password;
pub mod tokens;

pub use extract::AuthUser;
pub use jwt::{AccessClaims, JwtKeys};
pub use password::PasswordHasher;
