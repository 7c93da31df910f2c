//! Embedded adapters for the laptop: SQLite for the store and the job queue, an outbox folder
//! for email.

pub mod outbox;
pub mod sqlite;

pub use outbox::OutboxMailer;
pub use sqlite::SqliteDb;
