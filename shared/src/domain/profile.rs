use serde::{Deserialize, Serialize};

use super::{FieldError, email::is_invisible};

/// Names are shown to others and put in emails: nothing that hides or reorders text (bidi
/// controls, zero-width characters, line and paragraph separators) or that a reader cannot see.
const INVISIBLE: &str = "must not contain invisible, formatting or control characters";

/// The parts of an account a person describes themselves with, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
}

impl Profile {
    pub fn parse(
        first_name: &str,
        last_name: &str,
        nickname: Option<&str>,
        bio: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Self> {
        Self::parse_names(first_name, (last_name, true), nickname, bio, errors)
    }

    /// [`Self::parse`], with the last name required or not (an account made without one, by
    /// email or by a provider that gave none, keeps none until its owner gives one).
    pub fn parse_names(
        first_name: &str,
        (last_name, last_name_required): (&str, bool),
        nickname: Option<&str>,
        bio: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Self> {
        let before = errors.len();
        let first_name = single_line("first_name", first_name, 100, true, errors);
        let last_name = single_line("last_name", last_name, 100, last_name_required, errors);
        let nickname = nickname.and_then(|n| single_line("nickname", n, 50, false, errors)).filter(|n| !n.is_empty());
        let bio = bio.and_then(|b| multiline("bio", b, 1000, errors)).filter(|b| !b.is_empty());
        (errors.len() == before).then(|| Self {
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            nickname,
            bio,
        })
    }

    /// A new account's profile when nothing but its address is known (a sign-up by email, a
    /// provider that gives no name): the address's local part as the first name, changed by its
    /// owner when they like.
    pub fn from_address(email: &super::EmailAddress) -> Self {
        let address = email.to_string();
        let local = address.split('@').next().unwrap_or_default();
        let first_name: String = local.chars().filter(|c| !is_invisible(*c)).take(100).collect();
        Self { first_name, last_name: String::new(), nickname: None, bio: None }
    }
}

pub fn single_line(
    field: &'static str,
    raw: &str,
    max: usize,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if required && value.is_empty() {
        errors.push(FieldError::new(field, "required", "is required"));
        return None;
    }
    if value.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("must be at most {max} characters")));
        return None;
    }
    if value.chars().any(is_invisible) {
        errors.push(FieldError::new(field, "invalid_characters", INVISIBLE));
        return None;
    }
    Some(value.to_string())
}

pub fn multiline(field: &'static str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if value.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("must be at most {max} characters")));
        return None;
    }
    if value.chars().any(|c| is_invisible(c) && c != '\n' && c != '\t') {
        errors.push(FieldError::new(field, "invalid_characters", INVISIBLE));
        return None;
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_what_hides_or_reorders_text() {
        for bad in [
            "Ada\u{202E}ecalevol",
            "A\u{200B}da",
            "Ada\u{2028}Visit http://evil.example",
            "Ada\u{2029}",
            "A\u{2066}da",
            "Ada\u{7}",
        ] {
            let mut errors = Vec::new();
            assert!(Profile::parse(bad, "Lovelace", None, None, &mut errors).is_none(), "{bad:?}");
            assert_eq!(errors[0].code, "invalid_characters");
        }
        let mut errors = Vec::new();
        assert!(Profile::parse("Ada", "Lovelace", Some("Zoë"), Some("Line one\nLine two"), &mut errors).is_some());
    }
}
