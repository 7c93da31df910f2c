//! The service over HTTP, as its users and its attackers use it.

mod confirm_email;
mod docs;
mod helpers;
mod local_queue;
mod login;
mod logs;
mod passwords;
mod permissions;
mod register;
mod sessions;
