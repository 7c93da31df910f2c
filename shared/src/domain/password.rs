use std::{collections::HashSet, fmt, sync::LazyLock};

/// A new password that meets the policy: 8 to 128 characters, not a commonly used password, not
/// mostly the account's own address or names, not among the weakest by the `passwords` crate's
/// strength estimate (repeats, sequences). No composition rules (NIST SP 800-63B). It never
/// prints. (Whether a breach listed it is asked by the service that sets it:
/// `credentials::breached`.)
pub struct Password(String);

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect());

impl Password {
    /// The password, if it meets the policy; `about` is what the account is known by (its
    /// address, its names), which a guesser tries first.
    pub fn parse(raw: String, about: &[&str]) -> Result<Self, (&'static str, String)> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(("too_short", "must be at least 8 characters".into()));
        }
        if chars > MAX_CHARS {
            return Err(("too_long", "must be at most 128 characters".into()));
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err(("too_common", "is one of the most commonly used passwords; choose another".into()));
        }
        if mostly_about_the_account(&raw, about) {
            return Err((
                "too_personal",
                "is mostly your email address or your name, which a guesser tries first".into(),
            ));
        }
        let analysis = passwords::analyzer::analyze(&raw);
        if passwords::scorer::score(&analysis) < MIN_SCORE {
            return Err(("too_weak", why_weak(&analysis)));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The `passwords` crate scores 0 to 100: below 40 it calls a password dangerous, 40 to 60 very
/// weak. Eight random lowercase letters score 60; below 50 are the short ones made of repeats
/// and runs (`aaaaaaaa`, `12345678`, `abcdefgh`), refused. (zxcvbn, the estimate with
/// dictionaries, made the `auth` function 1 MB larger: its words are what the breach check and
/// the common list already refuse.)
const MIN_SCORE: f64 = 50.0;

/// What the analysis found that makes it weak.
fn why_weak(analysis: &passwords::AnalyzedPassword) -> String {
    let length = analysis.length().max(1);
    let mut reasons = Vec::new();
    if analysis.consecutive_count() * 4 >= length {
        reasons.push("repeats a character (like \"aaa\")");
    }
    if analysis.progressive_count() * 4 >= length {
        reasons.push("runs in sequence (like \"abcd\" or \"6543\")");
    }
    if reasons.is_empty() {
        reasons.push("is short and made of few kinds of characters");
    }
    format!(
        "is too easy to guess: it {}; a longer password, or a few unrelated words, is stronger",
        reasons.join(" and ")
    )
}

/// Whether what is left of the password without the account's address (its local part too)
/// and names, each of four characters or more, is shorter than the policy's minimum.
fn mostly_about_the_account(password: &str, about: &[&str]) -> bool {
    let mut rest = password.to_lowercase();
    let local_parts = about.iter().filter_map(|known| known.split_once('@').map(|(local, _)| local));
    let mut known: Vec<String> =
        about.iter().copied().chain(local_parts).filter(|k| k.chars().count() >= 4).map(str::to_lowercase).collect();
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    for word in known {
        rest = rest.replace(&word, "");
    }
    rest.chars().count() < MIN_CHARS
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
        assert!(Password::parse("short".into(), &[]).is_err());
        assert!(Password::parse("x".repeat(129), &[]).is_err());
        assert!(Password::parse("correct horse battery staple".into(), &[]).is_ok());
        assert!(Password::parse("ünïcødé-pässwörd".into(), &[]).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for common in ["password", "Password1", "12345678", "QWERTY123", "iloveyou"] {
            assert_eq!(Password::parse(common.into(), &[]).unwrap_err().0, "too_common", "{common}");
        }
    }

    #[test]
    fn the_weakest_are_refused_saying_why() {
        for (weak, why) in [
            ("aaaaaaaaa", "repeats a character"),
            ("abcdefghi", "runs in sequence"),
            ("98765432", "runs in sequence"),
            ("zzzz1111", "repeats a character"),
        ] {
            let (code, detail) = Password::parse(weak.into(), &[]).unwrap_err();
            assert_eq!(code, "too_weak", "{weak}");
            assert!(detail.starts_with("is too easy to guess") && detail.contains(why), "{weak}: {detail}");
        }
        for fine in ["kxqmvtze", "correct horse battery staple", "Tr0ub4dor&3", "ünïcødé-pässwörd"] {
            assert!(Password::parse(fine.into(), &[]).is_ok(), "{fine}");
        }
    }

    #[test]
    fn a_password_made_of_the_accounts_address_or_names_is_refused() {
        let about = ["ada.lovelace@example.com", "Ada", "Lovelace", ""];
        assert!(Password::parse("lovelace1815".into(), &[]).is_ok(), "a surname and a year, for a stranger");
        for mine in ["lovelace1815", "Ada.Lovelace", "ada.lovelace@example.com", "LOVELACE-ada"] {
            assert_eq!(Password::parse(mine.into(), &about).unwrap_err().0, "too_personal", "{mine}");
        }
        assert!(Password::parse("Lovelace and her engine of 1843".into(), &about).is_ok(), "more than her name");
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("a secret phrase".into(), &[]).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
