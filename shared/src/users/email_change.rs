//! Changing your email: the new address stays pending on the account until a link sent to it
//! is followed; the old address is told at once. The unique email moves only at that
//! confirmation, in the account's conditional write, so two accounts never hold one address.

use axum::{Json, extract::State};

use super::UsersState;
use crate::{
    accounts::modify_account,
    auth::{TokenQuery, flows::take_token},
    config::CONFIRMATION_TOKEN_TTL,
    credentials::tokens::{hash_token, random_token},
    domain::{EmailAddress, FieldError, User, UserView},
    http::{ApiError, Problem, QueryParams},
    ports::{EmailJob, EmailMessage, Job, OneTimeToken, TokenKind},
};

/// The new address, canonical, or why it is refused.
pub(crate) fn parse_new(raw: &str, errors: &mut Vec<FieldError>) -> Option<EmailAddress> {
    match EmailAddress::parse(raw) {
        Ok(email) => Some(email),
        Err(why) => {
            errors.push(FieldError::new("email", "invalid_email", why));
            None
        }
    }
}

/// Records `email` as the account's pending address; the current address cancels a pending
/// change.
pub(crate) fn begin_change(user: &mut User, email: &EmailAddress) -> Result<(), ApiError> {
    user.pending_email = (*email != user.email).then(|| email.clone());
    Ok(())
}

/// Refuses an address another account holds now (it is checked again, atomically, when the
/// change is confirmed) and one that was sent too many emails.
pub(crate) async fn check_available(
    state: &UsersState,
    user_id: &crate::domain::UserId,
    email: &EmailAddress,
) -> Result<(), ApiError> {
    if let Some(holder) = state.accounts.account_by_email(&email.key()).await? {
        if holder.id != *user_id {
            return Err(ApiError::EmailTaken);
        }
        return Ok(());
    }
    state.throttle().allow_email_to(&email.key()).await
}

/// The link to the new address and the notice to the old one.
pub(crate) async fn send_change_links(state: &UsersState, user: &User, email: &EmailAddress) -> Result<(), ApiError> {
    if user.pending_email.as_ref() != Some(email) {
        return Ok(()); // the change was cancelled
    }
    let token = random_token();
    state
        .tokens
        .put_token(&OneTimeToken {
            hash: hash_token(&token),
            kind: TokenKind::EmailChange,
            user_id: user.id.clone(),
            email_key: email.key(),
            expires_at: state.clock.now() + CONFIRMATION_TOKEN_TTL,
            credential_version: user.credential_version,
            reset_generation: user.reset_generation,
        })
        .await?;
    let link = format!("{}/api/v1/user/confirm_email_change?token={token}", state.config.public_url);
    let confirm = EmailJob { to: email.to_string(), message: EmailMessage::ConfirmEmailChange { link } };
    let notice = EmailJob {
        to: user.email.to_string(),
        message: EmailMessage::EmailChangeRequested { new_email_hint: hint(email) },
    };
    state.jobs.enqueue(&Job::SendEmail(confirm)).await?;
    state.jobs.enqueue(&Job::SendEmail(notice)).await?;
    tracing::info!(user_id = %user.id, "email change requested");
    Ok(())
}

/// `ada@example.com` as `a**@example.com`: enough for the owner to recognise, not to harvest.
fn hint(email: &EmailAddress) -> String {
    let text = email.to_string();
    let (local, domain) = text.split_once('@').unwrap_or((&text, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}{}@{domain}", "*".repeat(local.chars().count().saturating_sub(1).min(8)))
}

/// Confirm an email change with the link sent to the new address. No login needed: the link
/// proves the address. A password change or reset since the request voids it.
#[utoipa::path(
    get, path = "/api/v1/user/confirm_email_change", tag = "users", params(TokenQuery),
    responses(
        (status = 200, description = "The account, with its new email", body = UserView),
        (status = 400, description = "`invalid_token` or `token_expired`", body = Problem),
        (status = 409, description = "Another account took the address meanwhile (`email_taken`), or the account changed (`conflict`)", body = Problem),
    )
)]
pub async fn confirm_email_change(
    State(state): State<UsersState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Json<UserView>, ApiError> {
    let (record, now) =
        take_token(state.tokens.as_ref(), state.clock.as_ref(), TokenKind::EmailChange, &query.token).await?;
    let user = modify_account(
        state.accounts.as_ref(),
        &record.user_id,
        now,
        || ApiError::InvalidToken,
        |user| {
            let pending = user.pending_email.take().filter(|p| p.key() == record.email_key);
            match pending {
                Some(email) if user.credential_version == record.credential_version => {
                    user.email = email;
                    Ok(())
                }
                _ => Err(ApiError::InvalidToken),
            }
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, "email changed");
    Ok(Json(UserView::new(&user, &state.config.photos_url)))
}
