//! Passkeys (WebAuthn) through `webauthn-rs`: the relying party this service is, from the
//! configuration. Ceremonies and credentials are the library's; what is ours is where their
//! state is kept (a single-use token, see `identity::passkeys`) and the account they belong to.

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party: passkeys for `rp_id` (`UMS_PASSKEY_RP_ID`), used from `origin`
/// (`UMS_PASSKEY_ORIGIN`).
pub fn relying_party(rp_id: &str, origin: &str) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(origin)?;
    let builder = WebauthnBuilder::new(rp_id, &origin)
        .map_err(|e| anyhow::anyhow!("passkey relying party: {e}"))?
        .rp_name("Blog Platform");
    builder.build().map_err(|e| anyhow::anyhow!("passkey relying party: {e}"))
}
