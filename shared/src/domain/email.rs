use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;

/// A valid email address in its one canonical form, which is both the uniqueness key of
/// accounts and the address mail goes to: the local part normalised (NFKC) and case-folded,
/// the domain in IDNA ASCII form. Look-alikes therefore meet: `\u{212A}ate@example.com`
/// (Kelvin sign) is `kate@example.com`, `dup@exämple.com` is `dup@xn--exmple-cua.com`.
/// Invisible, formatting and control characters are refused, as are IP-literal domains.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if email.is_empty() {
            return Err("is required");
        }
        // Checked before any normalisation, which could hide what was sent.
        if email.len() > 254 || email.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        if email.chars().any(|c| is_invisible(c) || c.is_whitespace()) {
            return Err("must not contain invisible or control characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must be an email address");
        };
        let local = canonical_local_part(local);
        let domain = canonical_domain(domain)?;
        // Quoted local parts and other exotic forms are valid RFC 5322 but not worth the risk
        // in headers and links.
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(|c| is_invisible(c) || matches!(c, '"' | '<' | '>' | ',' | ';' | '\\' | '@' | ' '))
        {
            return Err("must be an email address");
        }
        let canonical = format!("{local}@{domain}");
        if canonical.len() > 254 {
            return Err("must be at most 254 characters");
        }
        // lettre's parser, which builds the messages, is the final word on the rest.
        canonical.parse::<lettre::Address>().map_err(|_| "must be an email address")?;
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity of the address: one account per key. The canonical form itself.
    pub fn key(&self) -> String {
        self.0.clone()
    }
}

/// NFKC, then full case folding, then NFKC again (Unicode's NFKC_Casefold, near enough): the
/// Kelvin sign and `K` become `k`, full-width letters their plain forms, `ß` is `ss`.
fn canonical_local_part(local: &str) -> String {
    let folded = caseless::default_case_fold_str(&local.nfkc().collect::<String>());
    folded.nfkc().collect()
}

/// The domain in IDNA ASCII form (UTS #46, strict), lowercased; no IP literals.
fn canonical_domain(domain: &str) -> Result<String, &'static str> {
    if domain.starts_with('[') || domain.parse::<std::net::IpAddr>().is_ok() {
        return Err("must have a domain name, not an IP address");
    }
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| "must be an email address")?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err("must be an email address");
    }
    Ok(ascii)
}

/// Characters a reader cannot see or that change how text around them reads: controls,
/// format characters (zero-width spaces and joiners, soft hyphens, bidirectional controls),
/// line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory as _};
    matches!(c.general_category(), G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator)
}

/// Every character [`is_invisible`] refuses, as inclusive ranges: what the OpenAPI patterns
/// list, without scanning all of Unicode at a cold start (a test holds the two together).
pub const INVISIBLE_RANGES: &[(char, char)] = &[
    ('\u{0000}', '\u{001F}'),
    ('\u{007F}', '\u{009F}'),
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

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
    fn the_invisible_ranges_are_exactly_what_is_invisible() {
        let listed = |c: char| INVISIBLE_RANGES.iter().any(|&(first, last)| (first..=last).contains(&c));
        let disagree: Vec<char> =
            (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| is_invisible(c) != listed(c)).take(10).collect();
        assert!(disagree.is_empty(), "update INVISIBLE_RANGES (unicode-properties changed?): {disagree:?}");
    }

    fn key(raw: &str) -> String {
        EmailAddress::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}")).key()
    }

    #[test]
    fn one_canonical_form_for_case_width_and_look_alikes() {
        assert_eq!(key("  Ada.Lovelace+blog@Example.COM "), "ada.lovelace+blog@example.com");
        assert_eq!(key("\u{212A}ate@example.com"), "kate@example.com", "Kelvin sign");
        assert_eq!(key("ＡＤＡ@example.com"), "ada@example.com", "full-width letters");
        assert_eq!(key("dup@exämple.com"), "dup@xn--exmple-cua.com");
        assert_eq!(key("dup@xn--exmple-cua.com"), "dup@xn--exmple-cua.com");
        assert_eq!(key("dup@EXÄMPLE.com"), "dup@xn--exmple-cua.com");
        assert_eq!(EmailAddress::parse("Ada@Example.com").unwrap().as_str(), "ada@example.com", "mail goes to the key");
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

    #[test]
    fn refuses_invisible_characters_and_ip_literals() {
        for bad in [
            "dup@exam\u{00AD}ple.com",
            "d\u{200B}up@example.com",
            "dup\u{202E}@example.com",
            "dup@example.com\u{2028}",
            "d\u{FEFF}up@example.com",
            "dup@[127.0.0.1]",
            "dup@127.0.0.1",
            "dup@[IPv6:::1]",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
