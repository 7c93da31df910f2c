//! Where a request came from and on what, as plain values: what limits count per and what the
//! security activity, the session list and sign-in alerts show. `http` reads them from a
//! request; nothing here knows how.

/// Where a request comes from: API Gateway's `sourceIp` on AWS, the peer address on the local
/// server. Limits count per source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source(pub String);

/// What a client is, from its User-Agent, in a few words a person recognises ("Firefox on
/// Linux", "Safari on iPhone", "curl"): kept with a session so its owner can tell their
/// sessions apart. It is whatever the client says, so it is shown, never trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device(pub Option<String>);

impl Device {
    /// The device a User-Agent header describes (none without one).
    pub fn from_user_agent(user_agent: Option<&str>) -> Self {
        Device(user_agent.map(str::trim).filter(|a| !a.is_empty()).map(describe))
    }
}

/// Where and on what an operation was asked for.
pub type Client<'a> = (&'a Source, &'a Device);

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
