use std::{collections::HashSet, fmt, sync::LazyLock};

/// A new password that meets the policy: 8 to 128 characters, not a commonly used password.
/// No composition rules (NIST SP 800-63B). It never prints.
pub struct Password(String);

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect());

impl Password {
    pub fn parse(raw: String) -> Result<Self, (&'static str, &'static str)> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(("too_short", "must be at least 8 characters"));
        }
        if chars > MAX_CHARS {
            return Err(("too_long", "must be at most 128 characters"));
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err(("too_common", "is one of the most commonly used passwords; choose another"));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_only_composition_rule() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert!(Password::parse("correct horse battery staple".into()).is_ok());
        assert!(Password::parse("ünïcødé-pässwörd".into()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for common in ["password", "Password1", "12345678", "QWERTY123", "iloveyou"] {
            assert_eq!(Password::parse(common.into()).unwrap_err().0, "too_common", "{common}");
        }
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("a secret phrase".into()).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
