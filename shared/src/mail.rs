//! Transactional emails: what each one says (templates) and how it becomes a MIME message.
//! The outbox and SES send the same bytes.

use std::sync::LazyLock;

use anyhow::Context;
use lettre::message::{Body, Mailbox, MultiPart, SinglePart, header::ContentTransferEncoding};
use minijinja::Environment;

use crate::ports::{EmailJob, EmailMessage, OutgoingEmail};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `.html` templates are HTML-escaped by minijinja's default auto-escape rules.
    for (name, source) in [
        ("layout.html", include_str!("../templates/email/layout.html")),
        ("confirm_email.html", include_str!("../templates/email/confirm_email.html")),
        ("confirm_email.txt", include_str!("../templates/email/confirm_email.txt")),
        ("reset_password.html", include_str!("../templates/email/reset_password.html")),
        ("reset_password.txt", include_str!("../templates/email/reset_password.txt")),
        ("confirm_email_change.html", include_str!("../templates/email/confirm_email_change.html")),
        ("confirm_email_change.txt", include_str!("../templates/email/confirm_email_change.txt")),
        ("email_change_requested.html", include_str!("../templates/email/email_change_requested.html")),
        ("email_change_requested.txt", include_str!("../templates/email/email_change_requested.txt")),
        ("account_deleted.html", include_str!("../templates/email/account_deleted.html")),
        ("account_deleted.txt", include_str!("../templates/email/account_deleted.txt")),
    ] {
        env.add_template(name, source).expect("email templates parse");
    }
    env
});

impl EmailJob {
    pub fn render(&self, from: &str) -> anyhow::Result<OutgoingEmail> {
        let (template, subject, link, new_email) = match &self.message {
            EmailMessage::ConfirmEmail { link } => ("confirm_email", "Confirm your email address", Some(link), None),
            EmailMessage::ResetPassword { link } => ("reset_password", "Reset your password", Some(link), None),
            EmailMessage::ConfirmEmailChange { link } => {
                ("confirm_email_change", "Confirm your new email address", Some(link), None)
            }
            EmailMessage::EmailChangeRequested { new_email_hint } => {
                ("email_change_requested", "Your email address is about to change", None, Some(new_email_hint))
            }
            EmailMessage::AccountDeleted => ("account_deleted", "Your account has been deleted", None, None),
        };
        let context = minijinja::context! { subject, link, new_email };
        let render = |ext: &str| -> anyhow::Result<String> {
            Ok(TEMPLATES.get_template(&format!("{template}.{ext}"))?.render(&context)?)
        };
        Ok(OutgoingEmail {
            from: from.to_string(),
            to: self.to.clone(),
            subject: subject.to_string(),
            text: render("txt")?,
            html: render("html")?,
            action_link: link.cloned(),
        })
    }
}

impl OutgoingEmail {
    /// The RFC 5322 message: multipart/alternative with the text and HTML parts.
    pub fn to_mime(&self) -> anyhow::Result<Vec<u8>> {
        let from: Mailbox = self.from.parse().context("the sender address is invalid")?;
        let to: Mailbox = self.to.parse().context("the recipient address is invalid")?;
        let message = lettre::Message::builder().from(from).to(to).subject(&self.subject).multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(readable_body(&self.text)))
                .singlepart(SinglePart::html(readable_body(&self.html))),
        )?;
        Ok(message.formatted())
    }
}

/// 8bit keeps each link whole on its own line in the raw message (quoted-printable would fold
/// it at 76 characters), so a link can be copied straight out of an `.eml`. RFC 5322 allows
/// 998 octets a line; a body with longer lines falls back to lettre's own choice.
fn readable_body(content: &str) -> Body {
    if content.lines().any(|line| line.len() > 998 || line.contains('\r')) {
        return Body::new(content.to_string());
    }
    let crlf = content.lines().collect::<Vec<_>>().join("\r\n") + "\r\n";
    Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
}
