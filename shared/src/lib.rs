//! The user-management service of the blog platform.
//!
//! Every route lives here once, as an axum `Router` per route group (`routes`). The domain
//! talks to ports (`ports`) with an embedded adapter for the laptop (`adapters`) and, on AWS,
//! adapters over the AWS SDK. `app` wires a state from configuration; the local server and the
//! Lambda binaries are thin shells over it.

pub mod accounts;
pub mod adapters;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod email;
pub mod error;
pub mod jobs;
pub mod pagination;
pub mod ports;
pub mod routes;
pub mod throttle;

pub use app::{AppState, LocalApp};
pub use config::Config;
pub use error::ApiError;
