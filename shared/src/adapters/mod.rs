//! Adapters of the ports. The embedded ones (the laptop) live here; the AWS ones live in the
//! `ums-aws` crate, one file per port on each side.

#[cfg(feature = "local")]
pub mod local;

#[cfg(feature = "local")]
pub use local::{DiskPhotos, LocalFiles, OutboxMailer, SqliteDb, files_router};
