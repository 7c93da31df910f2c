//! The devices an account has signed in from, remembered as keys (see `identity::alerts`).

use super::{AccountResult, Lifecycle};
use crate::domain::{MAX_KNOWN_DEVICES, UserId};

impl Lifecycle<'_> {
    /// Remembers the device `key` for the account (forgetting the oldest past
    /// [`MAX_KNOWN_DEVICES`]). True when this write added it and the account knew another
    /// device before: that login is the one to alert, whatever logins race it.
    pub async fn remember_device(&self, id: &UserId, key: &str) -> AccountResult<bool> {
        let (_, alert) = self
            .modify(id, |user| {
                if user.known_devices.iter().any(|known| known == key) {
                    return Ok(false);
                }
                let knew_others = !user.known_devices.is_empty();
                user.known_devices.push(key.to_string());
                let excess = user.known_devices.len().saturating_sub(MAX_KNOWN_DEVICES);
                user.known_devices.drain(..excess);
                Ok(knew_others)
            })
            .await?;
        Ok(alert)
    }
}
