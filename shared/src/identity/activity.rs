//! Each account's security activity, written by the operation it is about, as it happens.

use super::{Identity, IdentityError, client::Client};
use crate::{
    domain::UserId,
    ports::{ActivityEntry, ActivityKind},
};

impl Identity {
    /// Records `kind` on the account's security activity, with where and on what it happened.
    pub async fn record(
        &self,
        user: &UserId,
        kind: ActivityKind,
        (source, device): Client<'_>,
        detail: impl Into<String>,
    ) -> Result<(), IdentityError> {
        let entry =
            ActivityEntry::new(user, kind, self.clock.now()).from_client(Some(source.0.clone()), device.0.clone());
        self.activity.record_activity(&entry.about(detail)).await?;
        Ok(())
    }
}
