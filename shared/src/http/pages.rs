//! Pages for people: what an emailed link opens when no front end is configured. A GET only
//! shows a form (mail scanners open links before the recipient does); the form's POST acts.
//! Plain HTML and CSS, no script, readable in a text browser. The token goes into the form's
//! hidden field and nowhere else: not the form's action, not a link, not a log line. Every page
//! is sent with `Referrer-Policy: no-referrer`, `Cache-Control: no-store` and a
//! Content-Security-Policy that allows only its own inline style and posting back to us.

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::ApiError;

/// The pages' one stylesheet, inline (the policy names its hash).
const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a;background:#fafafa;margin:0}\
main{max-width:28rem;margin:3rem auto;padding:0 1rem}h1{font-size:1.4rem}\
label{display:block;font-weight:600;margin-top:1rem}\
input[type=password]{display:block;width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;margin:.25rem 0}\
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;background:#1a73e8;color:#fff;cursor:pointer}\
.hint{color:#555;font-size:.9rem;margin:0}.problem{color:#a50e0e}";

/// Nothing but our inline style; no script, image, frame or font; forms post only to us; no
/// page may frame these.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).expect("a header value")
});

/// A page whose form carries an emailed token back, by POST, to the same path.
pub struct FormPage {
    pub title: &'static str,
    pub lead: &'static str,
    /// The path the form posts to, relative (`confirm-email`), so that it holds behind an API
    /// Gateway stage (`/prod/confirm-email`) too.
    pub action: &'static str,
    pub button: &'static str,
    /// Whether the form asks for a new password.
    pub password: bool,
}

/// The fields of a page's form (`application/x-www-form-urlencoded`).
#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub password: String,
}

impl LinkForm {
    pub fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "token" => form.token = value.into_owned(),
                "password" => form.password = value.into_owned(),
                _ => {}
            }
        }
        form
    }

    /// The token, if it has the shape of one we make (base64url, at most 128 characters).
    pub fn token(&self) -> Option<&str> {
        token_shape(&self.token)
    }
}

/// `token` from a link's query string, if it has the shape of one we make.
pub fn token_in_query(query: Option<&str>) -> Option<String> {
    let query = query?;
    let token = url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "token")?.1;
    token_shape(&token).map(str::to_string)
}

/// Our tokens: base64url and dots, at most 512 characters (an unsubscribe link's sealed token is
/// the longest, about 200).
fn token_shape(token: &str) -> Option<&str> {
    let well_formed = (1..=512).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    well_formed.then_some(token)
}

impl FormPage {
    /// The page an emailed link opens (GET): its form, or why the link cannot work.
    pub fn for_link(&self, query: Option<&str>) -> Response {
        match token_in_query(query) {
            Some(token) => self.form(StatusCode::OK, &token, None),
            None => unusable_link(),
        }
    }

    pub fn form(&self, status: StatusCode, token: &str, error: Option<&ApiError>) -> Response {
        self.form_posting_to(self.action, status, token, error)
    }

    /// The form, posting to `action` (relative to the page) instead of the page's own.
    pub fn form_posting_to(&self, action: &str, status: StatusCode, token: &str, error: Option<&ApiError>) -> Response {
        let mut body = format!("<p>{}</p>\n", escape(self.lead));
        if let Some(problem) = error.map(ApiError::problem) {
            // A refused field says what is wrong with it; the API's own words ("see `errors`")
            // are for programs.
            if problem.errors.is_empty() {
                body += &format!("<p class=\"problem\" role=\"alert\">{}</p>\n", escape(&problem.detail));
            }
            for (i, field) in problem.errors.iter().enumerate() {
                let alert = if i == 0 { " role=\"alert\"" } else { "" };
                body +=
                    &format!("<p class=\"problem\"{alert}>{}</p>\n", escape(&sentence(&field.field, &field.detail)));
            }
        }
        body += &format!(
            "<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"token\" value=\"{}\">\n",
            escape(action),
            escape(token)
        );
        if self.password {
            body += "<label for=\"password\">New password</label>\n\
                     <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" maxlength=\"128\" required>\n\
                     <p class=\"hint\">8 to 128 characters. A long phrase is easier to remember and harder to guess.</p>\n";
        }
        body += &format!("<button type=\"submit\">{}</button>\n</form>\n", escape(self.button));
        render(status, self.title, &body)
    }

    /// The answer to the form's POST: `done` when the flow succeeded, else what went wrong (the
    /// form again when the person can fix it: a password refused).
    pub fn result<T, E: Into<ApiError>>(
        &self,
        token: &str,
        outcome: Result<T, E>,
        done_title: &str,
        done: &str,
    ) -> Response {
        match outcome.map_err(Into::into) {
            Ok(_) => page(StatusCode::OK, done_title, done, false),
            Err(ApiError::InvalidToken | ApiError::TokenExpired) => unusable_link(),
            Err(error @ ApiError::Validation(_)) => self.form(StatusCode::UNPROCESSABLE_ENTITY, token, Some(&error)),
            Err(error) => {
                let problem = error.problem();
                let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = page(status, problem.title, &problem.detail, true);
                if let Some(retry) = error.into_response().headers().get(header::RETRY_AFTER).cloned() {
                    response.headers_mut().insert(header::RETRY_AFTER, retry);
                }
                response
            }
        }
    }
}

/// A refused field's detail as a sentence: "The password must be at least 8 characters."
pub(crate) fn sentence(field: &str, detail: &str) -> String {
    format!("The {} {}.", field.replace('_', " "), detail.trim_end_matches('.'))
}

/// A link with no token, a token we never made, one used already, expired or replaced.
pub fn unusable_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "It was used already, has expired, or a newer email replaced it. Ask for a new email and use the link in it.",
        true,
    )
}

/// A page with a title and one message.
pub fn page(status: StatusCode, title: &str, message: &str, failed: bool) -> Response {
    let alert = if failed { " class=\"problem\" role=\"alert\"" } else { "" };
    render(status, title, &format!("<p{alert}>{}</p>\n", escape(message)))
}

/// A page that sends the browser on to `url` (a front end's page, on the operator's list) at
/// once, by a refresh (no script), with the link to follow by hand too. Not a redirect from the
/// form's POST: the policy's `form-action 'self'` would stop that at a front end elsewhere.
pub fn continue_to(title: &str, message: &str, url: &str) -> Response {
    let url = escape(url);
    let head = format!("<meta http-equiv=\"refresh\" content=\"0; url={url}\">\n");
    let body = format!("<p>{}</p>\n<p><a href=\"{url}\">Continue</a></p>\n", escape(message));
    render_with(StatusCode::OK, title, &head, &body)
}

/// The whole page around `body` (HTML already escaped), with its headers.
fn render(status: StatusCode, title: &str, body: &str) -> Response {
    render_with(status, title, "", body)
}

/// [`render`], with more in the head (HTML already escaped).
fn render_with(status: StatusCode, title: &str, head: &str, body: &str) -> Response {
    let title = escape(title);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n{head}<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main>\n<h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone());
    response
}

/// Text as HTML text or attribute value. (The pages are a few lines each: a template engine
/// would be most of their weight in the functions that serve them.)
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: FormPage =
        FormPage { title: "Confirm", lead: "Press it.", action: "confirm-email", button: "Confirm", password: false };

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_token_goes_into_the_hidden_field_only_and_markup_never_through() {
        let response = PAGE.for_link(Some("token=abc-DEF_123"));
        assert_eq!(response.status(), StatusCode::OK);
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"), "{policy}");
        let html = body(response).await;
        assert_eq!(html.matches("abc-DEF_123").count(), 1, "{html}");
        assert!(html.contains(r#"<input type="hidden" name="token" value="abc-DEF_123">"#), "{html}");
        assert!(html.contains(r#"action="confirm-email""#));

        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        for query in ["token=%22%3E%3Cscript%3E", "token=", "other=1", &format!("token={}", "a".repeat(513))] {
            let response = PAGE.for_link(Some(query));
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
            assert!(!body(response).await.contains("script"), "{query}");
        }
    }
}
