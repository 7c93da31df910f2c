//! The user-management service of the blog platform.
//!
//! Layers, each knowing only those below it:
//! - `domain`: types that can only be built valid, and the permission table;
//! - `ports`: one narrow trait per aggregate (accounts, sessions, tokens, limits, jobs, mail);
//! - `credentials`, `pagination`, `mail`, `jobs`: hashing and tokens, cursors, email
//!   rendering, the workers;
//! - `http`: problem+json errors, extractors, the caller and the permission check;
//! - the route groups `auth`, `users`, `docs`: each declares its routes once (with their
//!   OpenAPI operation) over a state holding only the ports it uses;
//! - `adapters::local` (the laptop) beside `ums_aws` (AWS), and `app`, the local composition.

pub mod accounts;
pub mod adapters;
#[cfg(feature = "local")]
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod console;
pub mod credentials;
pub mod docs;
pub mod domain;
pub mod events;
pub mod federation;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod moderation;
pub mod operator;
pub mod pagination;
pub mod photos;
pub mod ports;
pub mod providers;
pub mod social;
pub mod users;
pub mod wiring;

#[cfg(feature = "local")]
pub use app::LocalApp;
pub use config::Config;
pub use http::ApiError;
