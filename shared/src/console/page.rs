//! The console's pages: templates, the headers every page is sent with, forms and cookies.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use minijinja::{Environment, Value, value::ValueKind};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

use crate::{http::ApiError, identity::console::ConsoleCaller};

/// The templates, each compiled the first time a page needs it (a cold start answers one page:
/// compiling all of them there was a fifth of the function's cold start).
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `.html` templates are HTML-escaped by minijinja's default auto-escape rules.
    env.set_loader(|name| Ok(source(name).map(str::to_string)));
    env.add_filter("when", when);
    // The few of minijinja's built-in filters and tests the pages use, here rather than its
    // `builtins` feature: that brings every one of them into each function that renders an email.
    env.add_filter("urlencode", |value: String| {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
    });
    env.add_filter("length", |value: Value| value.len().unwrap_or(0));
    env.add_filter("join", |value: Value, separator: String| {
        let items = value.try_iter().map(|items| items.map(|v| v.to_string()).collect::<Vec<_>>());
        items.unwrap_or_default().join(&separator)
    });
    env.add_test("none", |value: Value| value.is_none());
    env
});

fn source(name: &str) -> Option<&'static str> {
    Some(match name {
        "layout.html" => include_str!("../../templates/console/layout.html"),
        "message.html" => include_str!("../../templates/console/message.html"),
        "sign_in.html" => include_str!("../../templates/console/sign_in.html"),
        "second_factor.html" => include_str!("../../templates/console/second_factor.html"),
        "home.html" => include_str!("../../templates/console/home.html"),
        "reports.html" => include_str!("../../templates/console/reports.html"),
        "author.html" => include_str!("../../templates/console/author.html"),
        "audit.html" => include_str!("../../templates/console/audit.html"),
        "accounts.html" => include_str!("../../templates/console/accounts.html"),
        "account.html" => include_str!("../../templates/console/account.html"),
        "staff.html" => include_str!("../../templates/console/staff.html"),
        "webhooks.html" => include_str!("../../templates/console/webhooks.html"),
        _ => return None,
    })
}

pub const STYLESHEET: &str = include_str!("../../templates/console/console.css");
pub const SCRIPT: &str = include_str!("../../templates/console/console.js");
pub const ICON: &str = include_str!("../../templates/console/favicon.svg");

/// A time as the pages show it: UTC in words (and to a machine in `datetime`); the script shows
/// it in the viewer's zone and keeps UTC on hover.
fn when(value: Value) -> Value {
    let parsed = match value.kind() {
        ValueKind::String => value.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok()),
        _ => None,
    };
    let Some(at) = parsed else { return Value::from("") };
    let at = at.to_offset(time::UtcOffset::UTC);
    let machine = at.format(&Rfc3339).unwrap_or_default();
    let shown = at.format(format_description!("[year]-[month]-[day] [hour]:[minute]")).unwrap_or_default();
    Value::from_safe_string(format!("<time datetime=\"{machine}\" title=\"{shown} UTC\">{shown} UTC</time>"))
}

/// What every page knows: where the console is, and who is signed in (with their forms' token).
pub struct Frame<'a> {
    pub base: &'a str,
    pub me: Option<&'a ConsoleCaller>,
    /// A photo's origin, for the policy's `img-src` (the CDN on AWS, the service on a laptop).
    pub photos_origin: &'a str,
    pub secure: bool,
}

impl Frame<'_> {
    /// The page `template` with `context`, and the headers every console page has.
    pub fn render(&self, status: StatusCode, template: &str, title: &str, context: Value) -> Response {
        let me = self.me.map(|me| {
            minijinja::context! {
                first_name => me.account.profile.first_name,
                last_name => me.account.profile.last_name,
                role => me.account.role.as_str(),
            }
        });
        let csrf = self.me.map(|me| me.csrf_token.clone());
        // The base is a URL path the service's own settings made (percent-encoded): written as
        // it is, so that links read plainly.
        let base = Value::from_safe_string(self.base.to_string());
        let frame = minijinja::context! { base, me, csrf, title };
        let html = TEMPLATES
            .get_template(template)
            .and_then(|t| t.render(minijinja::context! { ..context, ..frame }))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("console template {template}: {e:#}")));
        match html {
            Ok(html) => self.headers((status, Html(html)).into_response()),
            Err(e) => e.into_response(),
        }
    }

    /// A page that says one thing (an error's title and words, what was done).
    pub fn message(&self, status: StatusCode, title: &str, message: &str, back: Option<&str>) -> Response {
        let failed = !status.is_success();
        self.render(status, "message.html", title, minijinja::context! { message, failed, back })
    }

    /// The headers of every console page: nothing runs or loads but our own stylesheet and
    /// script (and photos); no other page may frame it or post to it; nothing is cached.
    pub fn headers(&self, mut response: Response) -> Response {
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' {}; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            self.photos_origin
        );
        let headers = response.headers_mut();
        if let Ok(policy) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
        headers.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
        if self.secure {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
        }
        response
    }

    /// A 303 to `location` (a path of the console), with the page headers.
    pub fn see_other(&self, location: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        self.headers(response)
    }
}

/// A posted form's fields (`application/x-www-form-urlencoded`), each name's values in order.
#[derive(Default)]
pub struct Form(HashMap<String, Vec<String>>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            fields.entry(name.into_owned()).or_default().push(value.into_owned());
        }
        Self(fields)
    }

    /// The field's first value, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).and_then(|v| v.first()).map_or("", String::as_str)
    }

    /// The field's value, if given and not blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.trim().is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, only under the console's path, Secure
/// unless the console is served on plain http://127.0.0.1 (a laptop).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&cookie).expect("a cookie of token characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_in_words_and_in_datetime_and_markup_never_gets_through() {
        let shown = when(Value::from("2026-12-07T21:05:09+01:00")).to_string();
        assert_eq!(
            shown,
            r#"<time datetime="2026-12-07T20:05:09Z" title="2026-12-07 20:05 UTC">2026-12-07 20:05 UTC</time>"#
        );
        assert_eq!(when(Value::from("<script>")).to_string(), "");
        let html = TEMPLATES
            .get_template("message.html")
            .unwrap()
            .render(
                minijinja::context! { base => "/console", title => "<b>", message => "<script>x</script>", me => () },
            )
            .unwrap();
        assert!(!html.contains("<script>x") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
    }

    #[test]
    fn the_pages_filters_work_without_minijinjas_builtins() {
        let mut env = TEMPLATES.clone();
        env.add_template(
            "t",
            "{{ a|urlencode }} {{ b|length }} {{ b|join(', ') }} {{ c is none }} {{ b is not none }}",
        )
        .unwrap();
        let out = env.get_template("t").unwrap().render(minijinja::context! { a => "x y&z", b => ["p", "q"], c => () });
        assert_eq!(out.unwrap(), "x+y%26z 2 p, q True True");
    }

    #[test]
    fn every_template_compiles() {
        for name in ["layout.html", "message.html", "sign_in.html", "second_factor.html", "home.html", "reports.html"]
            .into_iter()
            .chain(["author.html", "audit.html", "accounts.html", "account.html", "staff.html", "webhooks.html"])
        {
            TEMPLATES.get_template(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn a_cookie_is_found_among_others_and_forms_keep_every_value() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; ums_console=x.y.z"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "ums_console"), Some("x.y.z"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "ums"), None);
        let form = Form::parse(b"report_ids=a&report_ids=b&reason=Spam+%26+abuse&blank=+");
        assert_eq!(form.all("report_ids"), ["a", "b"]);
        assert_eq!(form.get("reason"), "Spam & abuse");
        assert_eq!((form.optional("blank"), form.get("missing")), (None, ""));
    }
}
