//! Passkeys (WebAuthn) through `webauthn-rs`: the relying party this service is, from the
//! configuration. Ceremonies and credentials are the library's; what is ours is where their
//! state is kept (a single-use token, see `identity::passkeys`) and the account they belong to.

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::Config;

/// The relying party: passkeys for `passkey_rp_id`, used from `passkey_origin`.
pub fn relying_party(config: &Config) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(&config.passkey_origin)?;
    let builder = WebauthnBuilder::new(&config.passkey_rp_id, &origin)
        .map_err(|e| anyhow::anyhow!("passkey relying party: {e}"))?
        .rp_name("Blog Platform");
    builder.build().map_err(|e| anyhow::anyhow!("passkey relying party: {e}"))
}
