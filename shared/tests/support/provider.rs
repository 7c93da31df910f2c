//! The provider side of the provider sign-in stories, shared by the HTTP stories
//! (`shared/tests/api`) and the DynamoDB cost measurement (`aws/tests/aws`): a browser that keeps
//! its cookies as a browser does, and people at the test provider (contract/test-provider.mjs,
//! which scripts/test starts).

// Each test crate that includes this file uses part of it.
#![allow(dead_code)]

use std::{collections::HashMap, sync::Mutex};

use reqwest::{Response, StatusCode, header};
use serde_json::json;

/// The front end's page provider sign-ins come back to (on the operator's list of the tests'
/// settings; never loaded: the stories read where the browser is sent).
pub const FRONT_END: &str = "https://blog.example/signed-in";

/// The test provider: a story of provider sign-in fails without it, saying so.
pub fn provider_url() -> String {
    std::env::var("UMS_TEST_PROVIDER_URL").expect(
        "UMS_TEST_PROVIDER_URL is not set: provider sign-in stories need the test provider \
         (scripts/test starts it: node contract/test-provider.mjs PORT)",
    )
}

/// The sign-in providers' settings the stories run with (contract/test-sign-in-providers.json,
/// which scripts/test also gives the AWS path): the test provider, its GitHub stand-in, its
/// rogue issuer (as itself and as Apple), and a provider that is down.
pub fn test_sign_in_settings() -> Option<String> {
    let url = std::env::var("UMS_TEST_PROVIDER_URL").ok()?;
    Some(include_str!("../../../contract/test-sign-in-providers.json").replace("PROVIDER_URL", &url))
}

/// A browser: follows nothing by itself, keeps each host's cookies (paths and expiry aside: the
/// stories' cookies are few), and knows where it is.
pub struct Browser {
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, HashMap<String, String>>>,
}

fn host_of(url: &url::Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
}

impl Browser {
    pub fn new() -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, cookies: Mutex::new(HashMap::new()) }
    }

    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let cookies = self.cookies.lock().unwrap();
        let jar = cookies.get(&host_of(url))?;
        Some(jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")).filter(|c| !c.is_empty())
    }

    fn keep_cookies(&self, url: &url::Url, response: &Response) {
        let mut cookies = self.cookies.lock().unwrap();
        let jar = cookies.entry(host_of(url)).or_default();
        for value in response.headers().get_all(header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let expired = value.is_empty() || value_of_attribute(response, name, "max-age").as_deref() == Some("0");
            if expired {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    pub async fn get(&self, url: &str) -> Response {
        let url = url::Url::parse(url).unwrap();
        let mut request = self.client.get(url.clone());
        if let Some(cookies) = self.cookie_header(&url) {
            request = request.header(header::COOKIE, cookies);
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(&url, &response);
        response
    }

    pub async fn post_form(&self, url: &str, form: &[(String, String)]) -> Response {
        self.post_form_as(url, form, true).await
    }

    /// A form post, with the site's cookies only when it comes from the same site (a browser
    /// sends no SameSite=Lax cookie with another site's post).
    pub async fn post_form_as(&self, url: &str, form: &[(String, String)], same_site: bool) -> Response {
        let url = url::Url::parse(url).unwrap();
        let mut request = self.client.post(url.clone()).form(form);
        if let Some(cookies) = self.cookie_header(&url).filter(|_| same_site) {
            request = request.header(header::COOKIE, cookies);
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(&url, &response);
        response
    }

    /// Goes through a provider's sign-in as `login` (telling the rogue issuer what to get
    /// wrong), from `start`, up to the answer that sends the browser to the front end (or does
    /// not: then that answer).
    pub async fn through_provider(&self, start: &str, login: &str, mischief: &str) -> Response {
        let mut at = url::Url::parse(start).unwrap();
        let mut response = self.get(at.as_str()).await;
        for _ in 0..20 {
            if response.status().is_redirection() {
                let next = at.join(location(&response)).unwrap();
                if next.as_str().starts_with(FRONT_END) {
                    return response;
                }
                at = next;
                response = self.get(at.as_str()).await;
            } else if response.status() == StatusCode::OK {
                let page = response.text().await.unwrap();
                if let Some((action, fields)) = self_posting_form(&page) {
                    // A page that posts itself to the client (Apple's answer): from another
                    // site, so without the client's SameSite cookies.
                    let action = at.join(&action).unwrap();
                    let same_site = host_of(&action) == host_of(&at);
                    response = self.post_form_as(action.as_str(), &fields, same_site).await;
                    at = action;
                } else if at.path().starts_with("/interaction/") {
                    // The certified provider's sign-in page.
                    let form = [("login".to_string(), login.to_string())];
                    response = self.post_form(&format!("{}/login", at.as_str().trim_end_matches('/')), &form).await;
                    at = at.join(&format!("{}/login", at.path())).unwrap();
                } else if at.query().is_some() {
                    // A stand-in's sign-in page: its form carries the authorization request on.
                    let mut form: Vec<(String, String)> = at.query_pairs().into_owned().collect();
                    form.push(("login".into(), login.into()));
                    form.push(("mischief".into(), mischief.into()));
                    let mut action = at.clone();
                    action.set_query(None);
                    response = self.post_form(action.as_str(), &form).await;
                    at = action;
                } else {
                    panic!("a page the sign-in cannot go on from, at {at}: {page}");
                }
            } else {
                return response;
            }
        }
        panic!("the sign-in went round in circles at {at}");
    }
}

/// The action and hidden fields of a page's self-posting form (`<form method="post" action=...>`
/// with hidden inputs, as the stand-in writes them).
fn self_posting_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    if !page.contains("document.forms[0].submit()") {
        return None;
    }
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let value = &tag[start..start + tag[start..].find('"')?];
        Some(value.replace("&amp;", "&").replace("&quot;", "\"").replace("&lt;", "<"))
    };
    let form = &page[page.find("<form")?..];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
        .collect();
    Some((action, fields))
}

fn value_of_attribute(response: &Response, cookie: &str, attribute: &str) -> Option<String> {
    response.headers().get_all(header::SET_COOKIE).iter().find_map(|value| {
        let value = value.to_str().ok()?;
        value.starts_with(&format!("{cookie}=")).then_some(())?;
        value.split(';').skip(1).find_map(|part| {
            let (name, v) = part.trim().split_once('=')?;
            name.eq_ignore_ascii_case(attribute).then(|| v.to_string())
        })
    })
}

pub fn location(response: &Response) -> &str {
    response.headers().get(header::LOCATION).expect("a Location").to_str().unwrap()
}

/// A person at the provider, with an address that is theirs unless told otherwise.
pub struct Person {
    pub login: String,
    pub email: String,
}

pub async fn person_at_provider(name: &str, email: Option<&str>, verified: bool) -> Person {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let login = format!("{name}-{unique}");
    let email = email.map_or_else(|| format!("{login}@example.com"), str::to_string);
    let github_id = u64::from_str_radix(&unique[20..32], 16).unwrap();
    let body = json!({
        "sub": login, "email": email, "email_verified": verified,
        "given_name": "Grace", "family_name": "Hopper", "github_id": github_id.to_string(),
    });
    let response = reqwest::Client::new().post(format!("{}/test/users", provider_url())).json(&body).send().await;
    assert_eq!(response.expect("the test provider answers").status(), StatusCode::CREATED);
    Person { login, email }
}

/// What the front end's page was given: `code=...` or `error=...`.
pub fn front_end_query(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sent on to the front end");
    let to = url::Url::parse(location(response)).unwrap();
    assert!(to.as_str().starts_with(FRONT_END), "{to}");
    to.query_pairs().into_owned().collect()
}
