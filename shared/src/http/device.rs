//! What a client is, from its User-Agent, in a few words a person recognises ("Firefox on
//! Linux", "Safari on iPhone", "curl"): kept with a session so its owner can tell their
//! sessions apart. It is whatever the client says, so it is shown, never trusted.

use axum::{extract::FromRequestParts, http::header::USER_AGENT};
use time::OffsetDateTime;

use crate::{
    domain::UserId,
    ports::{ActivityEntry, ActivityKind, ActivityStore},
};

/// The requesting client's description, if it sent a User-Agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Device {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(Device(agent.map(str::trim).filter(|a| !a.is_empty()).map(describe)))
    }
}

/// Records `kind` on the account's security activity, with where the request came from and on
/// what: what both route groups' handlers call.
pub(crate) async fn record_activity(
    store: &dyn ActivityStore,
    at: OffsetDateTime,
    user: &UserId,
    kind: ActivityKind,
    (source, device): (&super::Source, &Device),
    detail: impl Into<String>,
) -> Result<(), super::ApiError> {
    let entry = ActivityEntry::new(user, kind, at).from_client(Some(source.0.clone()), device.0.clone());
    store.record_activity(&entry.about(detail)).await?;
    Ok(())
}

/// A short description of a User-Agent: the browser (or the program's own name) and the
/// system it runs on, when either can be told.
pub fn describe(user_agent: &str) -> String {
    let has = |needle: &str| user_agent.contains(needle);
    let browser = if has("Edg/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| has(needle))
    .map(|(_, name)| name);
    // Not a browser: the product's own name ("curl/8.5.0" is curl), letters and digits only.
    let program = || {
        let name: String = user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(32)
            .collect();
        if name.is_empty() { "An unknown client".to_string() } else { name }
    };
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(system)) => format!("{} on {system}", program()),
        (None, None) => program(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn user_agents_are_described_in_a_few_words() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on macOS",
            ),
            ("curl/8.5.0", "curl"),
            ("<script>alert(1)</script>", "scriptalert1"),
            ("/", "An unknown client"),
        ];
        for (agent, described) in cases {
            assert_eq!(describe(agent), described, "{agent}");
        }
    }
}
