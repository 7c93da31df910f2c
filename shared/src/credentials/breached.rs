//! Passwords seen in breaches (NIST SP 800-63B, 3.1.1.2), asked of Have I Been Pwned's
//! k-anonymity range API: only the first five hex digits of the password's SHA-1 leave the
//! service; the answer lists every suffix of that range (with padding entries, count 0, that
//! hide how many there really are), and the match is made here.
//!
//! A range is kept a while (it is public data, the same for every caller); a password, or its
//! hash, never. What a failed call means is the operator's choice (`UMS_BREACHED_PASSWORDS_ON_ERROR`):
//! allowed (the default, as Kratos), or refused for now; either way a metric counts it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use sha1::{Digest as _, Sha1};

pub use crate::config::{BreachedPasswordsConfig, OnCheckError};
use crate::metrics::count_metric;

/// What a range call may take, all told: a password is being chosen while someone waits.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
/// A range is about 40 KB (padded, up to about 1,000 lines); more is not one.
pub const MAX_RANGE_BYTES: usize = 256 * 1024;
/// How long a range is kept, and how many at most (each about 800 lines).
const RANGE_TTL: Duration = Duration::from_secs(3600);
const RANGES_KEPT: usize = 32;

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not in any breach the service knows of (or not checked: off, or a failure allowed).
    NotFound,
    /// Seen this many times in breaches.
    Breached(u64),
    /// The range could not be read, and the operator chose to refuse then.
    Unavailable,
}

/// How a range is fetched: `GET url` with the padding header, its body if it answered 200
/// within [`CALL_TIMEOUT`] (connecting within [`CONNECT_TIMEOUT`], following no redirect, at
/// most [`MAX_RANGE_BYTES`]). The laptop's is `reqwest`'s ([`ReqwestRanges`]); a Lambda's uses the
/// HTTPS client its SDK calls already link (`ums_aws::lambda::https`), which keeps `reqwest`
/// out of the `auth` function (0.1 MB of its zip).
#[async_trait]
pub trait RangeReader: Send + Sync {
    async fn get(&self, url: &str) -> anyhow::Result<String>;
}

pub struct BreachedPasswords {
    config: BreachedPasswordsConfig,
    reader: Arc<dyn RangeReader>,
    /// Ranges read lately, by prefix: when, and each suffix's count.
    ranges: Mutex<HashMap<String, (Instant, Range)>>,
}

/// A range's breached suffixes and how often each was seen.
type Range = HashMap<String, u64>;

impl BreachedPasswords {
    pub fn new(config: BreachedPasswordsConfig, reader: Arc<dyn RangeReader>) -> Self {
        Self { config, reader, ranges: Mutex::default() }
    }

    /// Whether `password` was seen in a breach.
    pub async fn check(&self, password: &str) -> Verdict {
        let Some(url) = &self.config.url else { return Verdict::NotFound };
        let digest = hex_upper(&Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        if let Some(count) = self.kept(prefix, suffix) {
            return found(count);
        }
        match self.read_range(url, prefix).await {
            Ok(range) => {
                let count = range.get(suffix).copied().unwrap_or(0);
                self.keep(prefix, range);
                found(count)
            }
            Err(error) => {
                count_metric("BreachedPasswordCheckFailed", 1);
                tracing::warn!(error = format!("{error:#}"), on_error = ?self.config.on_error, "the breached-password range could not be read");
                match self.config.on_error {
                    OnCheckError::Allow => Verdict::NotFound,
                    OnCheckError::Refuse => Verdict::Unavailable,
                }
            }
        }
    }

    fn kept(&self, prefix: &str, suffix: &str) -> Option<u64> {
        let ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, range) = ranges.get(prefix)?;
        (read_at.elapsed() < RANGE_TTL).then(|| range.get(suffix).copied().unwrap_or(0))
    }

    fn keep(&self, prefix: &str, range: Range) {
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        if ranges.len() >= RANGES_KEPT {
            ranges.retain(|_, (read_at, _)| read_at.elapsed() < RANGE_TTL);
            if ranges.len() >= RANGES_KEPT {
                let oldest = ranges.iter().min_by_key(|(_, (read_at, _))| *read_at).map(|(p, _)| p.clone());
                oldest.map(|p| ranges.remove(&p));
            }
        }
        ranges.insert(prefix.to_string(), (Instant::now(), range));
    }

    /// One range: `SUFFIX:COUNT` lines; padding lines (count 0) are left out.
    async fn read_range(&self, url: &str, prefix: &str) -> anyhow::Result<Range> {
        let body = self.reader.get(&format!("{}/range/{prefix}", url.trim_end_matches('/'))).await?;
        parse_range(&body)
    }
}

/// The range reader of the laptop (and of tests): `reqwest`.
#[derive(Default)]
pub struct ReqwestRanges(OnceLock<reqwest::Client>);

#[async_trait]
impl RangeReader for ReqwestRanges {
    async fn get(&self, url: &str) -> anyhow::Result<String> {
        let http = self.0.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .user_agent(USER_AGENT)
                .build()
                .expect("the HTTP client's settings are valid")
        });
        let response = http.get(url).header(PADDING_HEADER, "true").send().await?.error_for_status()?;
        anyhow::ensure!(response.content_length().unwrap_or(0) <= MAX_RANGE_BYTES as u64, "the range is too large");
        let body = response.bytes().await?;
        anyhow::ensure!(body.len() <= MAX_RANGE_BYTES, "the range is too large");
        Ok(String::from_utf8(body.to_vec())?)
    }
}

/// Asks the service to pad its answer (RFC: https://haveibeenpwned.com/API/v3#PwnedPasswordsPadding).
pub const PADDING_HEADER: &str = "Add-Padding";
pub const USER_AGENT: &str = "ums-password-check";

fn found(count: u64) -> Verdict {
    if count > 0 { Verdict::Breached(count) } else { Verdict::NotFound }
}

/// A range's body, its padding left out; an answer that is not one is an error (a captive
/// portal's page, a proxy's).
fn parse_range(body: &str) -> anyhow::Result<Range> {
    let mut range = HashMap::new();
    for line in body.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let (suffix, count) = line.split_once(':').ok_or_else(|| anyhow::anyhow!("not a range line: {line:.40}"))?;
        anyhow::ensure!(suffix.len() == 35 && suffix.bytes().all(|b| b.is_ascii_hexdigit()), "not a hash suffix");
        let count: u64 = count.parse()?;
        if count > 0 {
            range.insert(suffix.to_ascii_uppercase(), count);
        }
    }
    Ok(range)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The range lines of a corpus (what a stand-in serves for `prefix`): each password's suffix
/// and count, and `padding` lines of count 0, as the real service pads.
pub fn range_of(corpus: &[(&str, u64)], prefix: &str, padding: usize) -> String {
    let mut lines: Vec<String> = corpus
        .iter()
        .map(|(password, count)| (hex_upper(&Sha1::digest(password.as_bytes())), count))
        .filter(|(digest, _)| digest.starts_with(prefix))
        .map(|(digest, count)| format!("{}:{count}", &digest[5..]))
        .collect();
    lines.extend((0..padding).map(|i| format!("{:035X}:0", i as u128 * 0x9E37_79B9_7F4A_7C15)));
    lines.join("\r\n")
}

/// The prefix a password's range is asked by.
pub fn prefix_of(password: &str) -> String {
    hex_upper(&Sha1::digest(password.as_bytes()))[..5].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_read_without_its_padding_and_a_page_that_is_not_one_is_refused() {
        let body = range_of(&[("P@ssw0rd", 52_000)], &prefix_of("P@ssw0rd"), 3);
        let range = parse_range(&body).unwrap();
        assert_eq!(range.len(), 1, "padding lines are not breaches: {body}");
        let digest = hex_upper(&Sha1::digest(b"P@ssw0rd"));
        assert_eq!(range[&digest[5..]], 52_000);
        assert!(parse_range("<html>Sign in to the Wi-Fi</html>").is_err());
    }

    #[test]
    fn sha1_is_the_one_the_service_publishes() {
        // https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange: "password".
        assert_eq!(hex_upper(&Sha1::digest(b"password")), "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
        assert_eq!(prefix_of("password"), "5BAA6");
    }
}
