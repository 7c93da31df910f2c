//! Readers and authors subscribe to authors, authors follow each other, and an author emails
//! their subscribers, each of whom can leave with one click.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, unsubscribe_link};

impl TestApp {
    pub async fn subscribe(&self, token: &str, author_id: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/subscribe/author?id={author_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn follow(&self, token: &str, author_id: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/follow/author?id={author_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn public(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn readers_subscribe_and_authors_follow_idempotently_and_profiles_count_them() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let other = app.signed_up("author", "cy@example.com").await;
    let cy = app.id_of(&other.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;

    for _ in 0..2 {
        assert_eq!(app.subscribe(&reader.access, &bob).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.subscribe(&other.access, &bob).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.follow(&other.access, &bob).await.status(), StatusCode::NO_CONTENT);
    }
    let profile = app.public(&format!("/api/v1/author?id={bob}")).await;
    assert_eq!(profile["counts"], json!({ "subscribers": 2, "followers": 1, "follows": 0 }));
    assert_eq!(app.public(&format!("/api/v1/author?id={cy}")).await["counts"]["follows"], 1);

    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    let mut got = ids(&subscribers);
    got.sort();
    let mut expected = vec![ada.clone(), cy.clone()];
    expected.sort();
    assert_eq!(got, expected);
    assert!(!subscribers.to_string().contains("@example.com"), "no emails in lists: {subscribers}");
    assert_eq!(ids(&app.public(&format!("/api/v1/author/followers?id={bob}")).await), [cy.as_str()]);
    assert_eq!(ids(&app.public(&format!("/api/v1/author/follows?id={cy}")).await), [bob.as_str()]);
    let mine: Value = app.get("/api/v1/user/subscriptions", &reader.access).await.json().await.unwrap();
    assert_eq!(ids(&mine), [bob.as_str()]);
    let export: Value = app.get("/api/v1/user/export", &reader.access).await.json().await.unwrap();
    assert_eq!(export["subscriptions"][0]["author_id"], bob.as_str());

    for _ in 0..2 {
        let response = app.delete(&format!("/api/v1/subscribe/author?id={bob}"), &reader.access, None).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let response = app.delete(&format!("/api/v1/follow/author?id={bob}"), &other.access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let profile = app.public(&format!("/api/v1/author?id={bob}")).await;
    assert_eq!(profile["counts"], json!({ "subscribers": 1, "followers": 0, "follows": 0 }));
}

#[tokio::test]
async fn nobody_subscribes_to_or_follows_themselves_a_reader_or_nobody() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    let ada = app.id_of(&reader.access).await;

    assert_problem(app.subscribe(&author.access, &bob).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert_problem(app.follow(&author.access, &bob).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_problem(app.subscribe(&author.access, &ada).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.follow(&author.access, &ada).await, StatusCode::NOT_FOUND, "not_found").await;
    let nobody = "01936f4e-0000-7000-8000-000000000001";
    assert_problem(app.subscribe(&reader.access, nobody).await, StatusCode::NOT_FOUND, "not_found").await;
    // Readers subscribe but do not follow.
    assert_problem(app.follow(&reader.access, &bob).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Another author's subscribers are theirs (and admins') to see.
    let theirs = app.get(&format!("/api/v1/author/subscribers?id={bob}"), &reader.access).await;
    assert_problem(theirs, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_suspended_or_deleted_author_disappears_from_the_lists_of_others() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let other = app.signed_up("author", "cy@example.com").await;
    let cy = app.id_of(&other.access).await;
    let reader = app.signed_up("reader", "ada@example.com").await;
    for target in [&bob, &cy] {
        assert_eq!(app.subscribe(&reader.access, target).await.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(app.follow(&author.access, &cy).await.status(), StatusCode::NO_CONTENT);

    let body = json!({ "reason": "Spam." });
    assert_eq!(
        app.post(&format!("/api/v1/suspend/author?id={bob}"), &admin.access, &body).await.status(),
        StatusCode::OK
    );
    let mine: Value = app.get("/api/v1/user/subscriptions", &reader.access).await.json().await.unwrap();
    assert_eq!(ids(&mine), [cy.as_str()]);
    assert!(ids(&app.public(&format!("/api/v1/author/followers?id={cy}")).await).is_empty());
    assert_problem(app.subscribe(&reader.access, &bob).await, StatusCode::NOT_FOUND, "not_found").await;

    // Deleted, their subscriptions and follows go with them.
    assert_eq!(app.delete_me(&other.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let mine: Value = app.get("/api/v1/user/subscriptions", &reader.access).await.json().await.unwrap();
    assert!(ids(&mine).is_empty());
}

#[tokio::test]
async fn an_author_notifies_their_subscribers_who_leave_with_one_click() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let readers = ["ada@example.com", "eve@example.com"];
    for reader in readers {
        let tokens = app.signed_up("reader", reader).await;
        assert_eq!(app.subscribe(&tokens.access, &bob).await.status(), StatusCode::NO_CONTENT);
    }

    let body = json!({ "subject": "A new article", "message": "About <b>gardens</b>.", "article_url": "https://blog.example/a/1" });
    let response = app.post("/api/v1/author/notify_subscribers", &author.access, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let notification: Value = response.json().await.unwrap();

    let ada_email = app.emails_to_eventually("ada@example.com", "A new article").await;
    app.emails_to_eventually("eve@example.com", "A new article").await;
    assert!(ada_email.contains("About &lt;b&gt;gardens&lt;"), "the author's words are escaped in HTML: {ada_email}");
    let link = unsubscribe_link(&ada_email);
    let path = format!("/api/v1/author/notification?id={}", notification["id"].as_str().unwrap());
    let mut progress = Value::Null;
    for _ in 0..200 {
        progress = app.get(&path, &author.access).await.json().await.unwrap();
        if progress["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (progress["queued"].as_u64(), progress["sent"].as_u64(), progress["failed"].as_u64()),
        (Some(2), Some(2), Some(0))
    );

    // Opening the link shows a button; only the one-click POST unsubscribes, with no session.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer", "a page like every page an emailed link opens");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let button = page.text().await.unwrap();
    assert!(button.contains(r#"<form method="post" action="unsubscribe?token="#), "{button}");
    assert_eq!(
        app.get("/api/v1/author/subscribers", &author.access).await.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let one_click = app
        .client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    assert_eq!(one_click.send().await.unwrap().status(), StatusCode::OK);
    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    assert_eq!(subscribers["items"].as_array().unwrap().len(), 1);
    // Clicked again, it still answers.
    assert_eq!(app.client.post(&link).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unsubscribe_link_cannot_be_bent_to_another_subscriber_or_author() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    let bob = app.id_of(&author.access).await;
    let ada = app.signed_up("reader", "ada@example.com").await;
    let eve = app.signed_up("reader", "eve@example.com").await;
    for reader in [&ada, &eve] {
        assert_eq!(app.subscribe(&reader.access, &bob).await.status(), StatusCode::NO_CONTENT);
    }
    let body = json!({ "subject": "Hello", "message": "Hi." });
    assert_eq!(
        app.post("/api/v1/author/notify_subscribers", &author.access, &body).await.status(),
        StatusCode::ACCEPTED
    );
    let link = unsubscribe_link(&app.emails_to_eventually("ada@example.com", "Hello").await);
    let token = link.split("token=").nth(1).unwrap().to_string();
    let (payload, tag) = token.split_once('.').unwrap();

    // Eve's id in Ada's payload, with Ada's tag; a truncated tag; a payload with no tag.
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut sealed: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    sealed["at"]["subscriber"] = json!(app.id_of(&eve.access).await);
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(sealed.to_string()));
    for bad in [forged, format!("{payload}.{}", &tag[..tag.len() - 2]), payload.to_string()] {
        let response = app.client.post(app.url(&format!("/api/v1/unsubscribe?token={bad}"))).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_token").await;
        // Opened in a browser, the link's page says it does not work, as every link's page does.
        let response = app.client.get(app.url(&format!("/api/v1/unsubscribe?token={bad}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(response.text().await.unwrap().contains("This link does not work"));
    }
    // A list cursor is sealed with the same key but for another purpose: refused too.
    let page: Value = app.get("/api/v1/authors?limit=1", &ada.access).await.json().await.unwrap();
    if let Some(cursor) = page["next_cursor"].as_str() {
        let response = app.client.post(app.url(&format!("/api/v1/unsubscribe?token={cursor}"))).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_token").await;
    }
    let subscribers: Value = app.get("/api/v1/author/subscribers", &author.access).await.json().await.unwrap();
    assert_eq!(subscribers["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn notifications_are_checked_and_limited_per_author_per_day() {
    let app = spawn_app().await;
    let author = app.signed_up("author", "bob@example.com").await;
    for body in [
        json!({ "subject": "" , "message": "Hi." }),
        json!({ "subject": "Two\r\nBcc: victim@example.com", "message": "Hi." }),
        json!({ "subject": "No body" }),
        json!({ "subject": "Bad link", "article_url": "javascript:alert(1)" }),
        json!({ "subject": "Long", "message": "x".repeat(10_001) }),
    ] {
        let response = app.post("/api/v1/author/notify_subscribers", &author.access, &body).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let body = json!({ "subject": "News", "message": "Hi." });
    for _ in 0..3 {
        assert_eq!(
            app.post("/api/v1/author/notify_subscribers", &author.access, &body).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let refused = app.post("/api/v1/author/notify_subscribers", &author.access, &body).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_notifications").await;
}
