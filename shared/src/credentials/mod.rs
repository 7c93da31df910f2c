//! Credentials: password hashing, signed access tokens, opaque random tokens, second factors. Nothing here
//! knows about HTTP.

pub mod breached;
pub mod factors;
pub mod jwt;
pub mod keyset;
pub mod passkeys;
pub mod password;
pub mod tokens;

pub use jwt::{AccessClaims, JwtKeys};
pub use password::PasswordHasher;
