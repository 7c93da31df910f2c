use std::fmt;

use serde::{Deserialize, Serialize};

/// A syntactically valid email address, kept as the user typed it (trimmed).
/// Accounts are unique on [`EmailAddress::key`], which ignores case.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim();
        if email.is_empty() {
            return Err("is required");
        }
        // RFC 5321's limits on a deliverable address.
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must be an email address");
        };
        if local.len() > 64 || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err("must be an email address");
        }
        // Quoted local parts and other exotic forms are valid RFC 5322 but not worth the risk
        // in headers and links; lettre's parser is the final word on the rest.
        if email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | ',' | ';' | '\\'))
        {
            return Err("must be an email address");
        }
        email.parse::<lettre::Address>().map_err(|_| "must be an email address")?;
        Ok(Self(email.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address: one account per key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_compares_without_case() {
        let a = EmailAddress::parse("  Ada.Lovelace+blog@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Ada.Lovelace+blog@Example.COM");
        assert_eq!(a.key(), "ada.lovelace+blog@example.com");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in
            ["", "plain", "a@b", "a@.com", "a b@c.com", "a@b.com\r\nBcc: x@y.com", "\"q\"@x.com", "a@b.com,", "@x.com"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
