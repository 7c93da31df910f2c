//! Transactional emails: what each one says (templates) and how it becomes a MIME message.
//! The outbox and SES send the same bytes.

use std::sync::LazyLock;

use anyhow::Context;
use lettre::message::{
    Body, Mailbox, MultiPart, SinglePart,
    header::{ContentTransferEncoding, Header, HeaderName, HeaderValue},
};
use minijinja::Environment;

use crate::ports::{EmailJob, EmailMessage, NotificationEmail, OutgoingEmail};

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
        ("sign_in_alert.html", include_str!("../templates/email/sign_in_alert.html")),
        ("sign_in_alert.txt", include_str!("../templates/email/sign_in_alert.txt")),
        ("link_provider.html", include_str!("../templates/email/link_provider.html")),
        ("link_provider.txt", include_str!("../templates/email/link_provider.txt")),
        ("sign_in_code.html", include_str!("../templates/email/sign_in_code.html")),
        ("sign_in_code.txt", include_str!("../templates/email/sign_in_code.txt")),
        ("account_code.html", include_str!("../templates/email/account_code.html")),
        ("account_code.txt", include_str!("../templates/email/account_code.txt")),
        ("factor_added.html", include_str!("../templates/email/factor_added.html")),
        ("factor_added.txt", include_str!("../templates/email/factor_added.txt")),
        ("author_notification.html", include_str!("../templates/email/author_notification.html")),
        ("author_notification.txt", include_str!("../templates/email/author_notification.txt")),
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
            EmailMessage::SignInAlert { link, .. } => {
                ("sign_in_alert", "A new sign-in to your account", Some(link), None)
            }
            EmailMessage::FactorAdded { .. } => {
                ("factor_added", "A second factor was added to your account", None, None)
            }
            EmailMessage::LinkProvider { link, .. } => {
                ("link_provider", "Link a sign-in to your account?", Some(link), None)
            }
            EmailMessage::SignInCode { link, .. } => ("sign_in_code", "Your sign-in code", link.as_ref(), None),
            EmailMessage::AccountCode { .. } => ("account_code", "Your confirmation code", None, None),
        };
        let code = match &self.message {
            EmailMessage::SignInCode { code, .. } | EmailMessage::AccountCode { code } => Some(code),
            _ => None,
        };
        let code_minutes = crate::identity::emailed_code::CODE_TTL.whole_minutes();
        let provider = match &self.message {
            EmailMessage::LinkProvider { provider, .. } => Some(provider),
            _ => None,
        };
        let (at, source, device, last_today, factor) = match &self.message {
            EmailMessage::SignInAlert { at, source, device, last_today, .. } => {
                (Some(at), Some(source), Some(device), *last_today, None)
            }
            EmailMessage::FactorAdded { factor, at, source, device } => {
                (Some(at), Some(source), Some(device), false, Some(factor))
            }
            _ => (None, None, None, false, None),
        };
        let alerts_per_day = crate::identity::alerts::SIGN_IN_ALERTS_PER_DAY;
        let context = minijinja::context! { subject, link, new_email, at, source, device, last_today, alerts_per_day, factor, provider, code, code_minutes };
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
            list_unsubscribe: None,
        })
    }
}

impl NotificationEmail {
    /// The author's words, escaped in the HTML part, with the unsubscribe link in the body and
    /// in the `List-Unsubscribe` headers.
    pub fn render(&self, from: &str) -> anyhow::Result<OutgoingEmail> {
        let context = minijinja::context! {
            subject => &self.subject,
            author_name => &self.author_name,
            message => &self.message,
            article_url => &self.article_url,
            unsubscribe_url => &self.unsubscribe_url,
        };
        let render = |ext: &str| -> anyhow::Result<String> {
            Ok(TEMPLATES.get_template(&format!("author_notification.{ext}"))?.render(&context)?)
        };
        Ok(OutgoingEmail {
            from: from.to_string(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: render("txt")?,
            html: render("html")?,
            action_link: None,
            list_unsubscribe: Some(self.unsubscribe_url.clone()),
        })
    }
}

/// RFC 2369's `List-Unsubscribe`: where one click unsubscribes.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// RFC 8058's `List-Unsubscribe-Post`: the link unsubscribes by POST, in one click.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

impl OutgoingEmail {
    /// The RFC 5322 message: multipart/alternative with the text and HTML parts.
    pub fn to_mime(&self) -> anyhow::Result<Vec<u8>> {
        let from: Mailbox = self.from.parse().context("the sender address is invalid")?;
        let to: Mailbox = self.to.parse().context("the recipient address is invalid")?;
        let mut builder = lettre::Message::builder().from(from).to(to).subject(&self.subject);
        if let Some(url) = &self.list_unsubscribe {
            builder = builder.header(ListUnsubscribe(url.clone())).header(ListUnsubscribePost);
        }
        let message = builder.multipart(
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
