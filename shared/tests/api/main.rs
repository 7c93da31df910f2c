//! The service over HTTP, as its users and its attackers use it.

mod account_deletion;
mod account_events;
mod account_lifecycle;
mod account_lists;
mod breached_passwords;
mod brute_force;
mod confirm_email;
mod docs;
mod email_change;
mod email_sign_in;
mod fan_out;
mod helpers;
mod key_rotation;
mod link_pages;
mod local_queue;
mod login;
mod logs;
mod lookalike_addresses;
mod moderation;
mod passkeys;
mod passwords;
mod permissions;
mod phishing;
mod photos;
mod profile;
mod provider_sign_in;
#[path = "../support/provider.rs"]
mod provider_support;
mod register;
mod second_factor;
mod session_list;
mod sessions;
mod snapshots;
mod social;
mod staff;
mod token_abuse;
