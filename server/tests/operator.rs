//! The `ums` binary as an operator uses it: create the first admin, serve, log in.

use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::Duration,
};

const UMS: &str = env!("CARGO_BIN_EXE_ums");
const PASSWORD: &str = "operator chosen passphrase";

fn create_admin(data_dir: &std::path::Path, email: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(UMS)
        .args(["admin", "create", "--email", email, "--first-name", "Grace", "--last-name", "Hopper"])
        .env("UMS_DATA_DIR", data_dir)
        // No password leaves for Have I Been Pwned from a test (shared's stories check it).
        .env("UMS_BREACHED_PASSWORDS_URL", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_first_admin_is_created_from_the_command_line_and_logs_in() {
    let data_dir = tempfile::tempdir().unwrap();

    let created = create_admin(data_dir.path(), "root@example.com", PASSWORD);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created admin"));

    let again = create_admin(data_dir.path(), "ROOT@example.com", PASSWORD);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let weak = create_admin(data_dir.path(), "other@example.com", "password");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Server(
        Command::new(UMS)
            .env("UMS_DATA_DIR", data_dir.path())
            .env("UMS_ADDR", format!("127.0.0.1:{port}"))
            .env("UMS_BREACHED_PASSWORDS_URL", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/api/v1/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not start");

    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "email": "root@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["status"], "active");
}

/// A leaked key is revoked by its id, listed by `jwt-key show`; key ids are base64url, so one
/// in 32 starts with `-`, which the command takes as the id, not as an option.
#[test]
fn a_key_is_revoked_by_its_id_even_one_that_starts_with_a_hyphen() {
    let data_dir = tempfile::tempdir().unwrap();
    let ums = |args: &[&str]| Command::new(UMS).args(args).env("UMS_DATA_DIR", data_dir.path()).output().unwrap();
    let shown = String::from_utf8(ums(&["jwt-key", "show"]).stdout).unwrap();
    let signing = shown.lines().find(|l| l.starts_with("signing")).unwrap().split_whitespace().nth(1).unwrap();

    let revoked = ums(&["jwt-key", "revoke", signing]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert!(String::from_utf8_lossy(&revoked.stdout).contains(&format!("revoked {signing}")));
    let shown = String::from_utf8(ums(&["jwt-key", "show"]).stdout).unwrap();
    assert!(!shown.contains(signing), "{shown}");

    let hyphen = ums(&["jwt-key", "revoke", "-H3xYz"]);
    assert!(!hyphen.status.success());
    assert!(String::from_utf8_lossy(&hyphen.stderr).contains("no key -H3xYz in the set"), "taken as the id");
}
