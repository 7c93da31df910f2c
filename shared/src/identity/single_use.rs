//! Single-use tokens and ceremonies: emailed links, login challenges and passkey ceremonies are
//! each kept as the hash of what the client holds, taken (deleted) by the one request that uses
//! it, so that whoever replays it finds nothing.

use time::OffsetDateTime;

use super::{IdentityError, client::Source};
use crate::{
    clock::Clock,
    credentials::tokens::hash_token,
    ports::{OneTimeToken, TokenKind, TokenStore},
};

/// Takes a single-use token of this kind (it is spent whatever follows).
pub(crate) async fn take_token(
    tokens: &dyn TokenStore,
    clock: &dyn Clock,
    kind: TokenKind,
    token: &str,
) -> Result<(OneTimeToken, OffsetDateTime), IdentityError> {
    if token.len() != 43 {
        return Err(IdentityError::InvalidToken);
    }
    let record = tokens.take_token(kind, &hash_token(token)).await?.ok_or(IdentityError::InvalidToken)?;
    let now = clock.now();
    if record.expires_at <= now {
        return Err(IdentityError::TokenExpired);
    }
    Ok((record, now))
}

/// The challenge's stored hash: of the challenge and the source it was given to, so the same
/// challenge from anywhere else finds nothing. Passkey ceremonies bound to a source use it too.
pub(crate) fn challenge_hash(challenge: &str, source: &Source) -> String {
    hash_token(&format!("{challenge}\n{}", source.0))
}
