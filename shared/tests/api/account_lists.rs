//! Lists of accounts: the public authors anyone may browse, and every account for admins,
//! page by page with cursors that cannot be forged or carried to another list.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

impl TestApp {
    async fn get_json(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Every page of a listing, following `next_cursor`: the items' `id`s in order.
    async fn all_pages(&self, path: &str, bearer: Option<&str>) -> Vec<String> {
        let (mut ids, mut cursor) = (Vec::new(), None::<String>);
        for _ in 0..50 {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{separator}cursor={c}"),
                None => path.to_string(),
            };
            let page: Value = self.get_json(&url, bearer).await.json().await.unwrap();
            ids.extend(page["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return ids,
            }
        }
        panic!("the listing does not end");
    }
}

#[tokio::test]
async fn anyone_browses_the_active_authors_without_seeing_their_emails() {
    let app = spawn_app().await;
    let mut authors = Vec::new();
    for i in 0..3 {
        app.signed_up("author", &format!("author{i}@example.com")).await;
        let me: Value = app.get_me(&app.signed_in(&format!("author{i}@example.com")).await).await.json().await.unwrap();
        authors.push(me["id"].as_str().unwrap().to_string());
    }
    app.signed_up("reader", "reader@example.com").await;
    app.register("author", "pending@example.com").await;

    assert_eq!(app.all_pages("/api/v1/authors?limit=2", None).await, authors, "active authors, oldest first");
    let page: Value = app.get_json("/api/v1/authors", None).await.json().await.unwrap();
    assert!(page["items"].as_array().unwrap().iter().all(|a| a.get("email").is_none() && a.get("status").is_none()));

    let author: Value = app.get_json(&format!("/api/v1/author?id={}", authors[0]), None).await.json().await.unwrap();
    assert_eq!((author["id"].as_str(), author.get("email")), (Some(authors[0].as_str()), None));
    let reader: Value = app.get_me(&app.signed_in("reader@example.com").await).await.json().await.unwrap();
    let response = app.get_json(&format!("/api/v1/author?id={}", reader["id"].as_str().unwrap()), None).await;
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_cursor_works_only_for_the_listing_it_came_from() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.signed_up("author", &format!("author{i}@example.com")).await;
    }
    let page: Value = app.get_json("/api/v1/authors?limit=1", None).await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_string();

    let forged = format!("{}x", &cursor[..cursor.len() - 1]);
    for bad in [forged.as_str(), "not-a-cursor", "eyJhdCI6e319.AAAA"] {
        let response = app.get_json(&format!("/api/v1/authors?cursor={bad}"), None).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
    for limit in ["0", "101"] {
        let response = app.get_json(&format!("/api/v1/authors?limit={limit}"), None).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let response = app.get_json(&format!("/api/v1/authors?cursor={cursor}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// In process only: it needs the app's clock, stores, settings or other sources.
#[tokio::test]
async fn in_process_an_admin_lists_accounts_by_role_and_status_and_cursors_stay_with_their_filters() {
    let app = spawn_app().await;
    let admin = app.admin("grace@example.com").await;
    for i in 0..3 {
        app.signed_up("reader", &format!("reader{i}@example.com")).await;
    }
    app.register("reader", "pending@example.com").await;
    app.signed_up("author", "author@example.com").await;

    let active_readers = app.all_pages("/api/v1/users?role=reader&status=active&limit=2", Some(&admin.access)).await;
    assert_eq!(active_readers.len(), 3);
    let pending = app.all_pages("/api/v1/users?status=pending", Some(&admin.access)).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(app.all_pages("/api/v1/users", Some(&admin.access)).await.len(), 6, "everyone, the admin too");
    assert_eq!(app.all_pages("/api/v1/admins", Some(&admin.access)).await.len(), 1);
    assert!(app.all_pages("/api/v1/moderators", Some(&admin.access)).await.is_empty());

    // A cursor of the active readers is no cursor of the authors, nor of the admins.
    let page: Value = app
        .get_json("/api/v1/users?role=reader&status=active&limit=1", Some(&admin.access))
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    for other in ["/api/v1/users?role=author&status=active", "/api/v1/users?role=reader", "/api/v1/admins"] {
        let response = app
            .get_json(&format!("{other}&cursor={cursor}").replacen("admins&", "admins?", 1), Some(&admin.access))
            .await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
    let response = app.get_json("/api/v1/users?role=superuser", Some(&admin.access)).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_query").await;
}
