//! `mirrorflow serve` end to end over a real socket: the review API refuses requests
//! without the right token, serves the queue and an alert, records the token's user with
//! each decision (a dismissal needs a reason), and serves the page and the OpenAPI
//! description.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use super::common::*;

pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn start(store: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["serve", "--store", store, "--addr", "127.0.0.1:0"])
        .env("MIRRORFLOW_TOKENS", "ana=token-of-ana-123,bob=token-of-bob-456")
        .env("MIRRORFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("the server says where it listens").unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// One HTTP/1.1 request; (status, body).
pub(super) fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    http_typed(addr, method, path, token, "application/json", body)
}

/// One HTTP/1.1 request with a body of `content_type`; (status, body).
pub(super) fn http_typed(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.into() };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// Replays the bundled demo ledger into `out` (and its alert store).
pub(super) fn replay_demo(out: &std::path::Path) {
    let demo = root().join("fixtures/demo");
    let o = mirrorflow(&["replay", demo.to_str().unwrap(), "--progress", "off", "--out", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_review_api_needs_a_token_and_records_who_decided() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    replay_demo(&out);
    // a second replay (or a restart) into the same store changes nothing
    replay_demo(&out);
    let sum = summary(&out);
    assert_eq!(sum["store"]["unchanged"], sum["alerts_written"], "{:#}", sum["store"]);
    assert_eq!((sum["store"]["inserted"].as_u64(), sum["store"]["updated"].as_u64()), (Some(0), Some(0)));
    let store = out.join("alerts.db");
    let srv = start(store.to_str().unwrap());
    let a = srv.addr.as_str();
    assert_eq!(http(a, "GET", "/health", None, None).0, 200);
    assert_eq!(http(a, "GET", "/api/alerts", None, None).0, 401, "no token");
    assert_eq!(http(a, "GET", "/api/alerts", Some("wrong-token-000"), None).0, 401, "wrong token");
    let (st, body) = http(a, "GET", "/api/alerts?typology=T6&limit=5", Some("token-of-ana-123"), None);
    assert_eq!(st, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = rows[0]["alert_id"].as_str().unwrap().to_string();
    assert!(rows.as_array().unwrap().iter().all(|r| r["typology"] == "T6"));
    let (st, body) = http(a, "GET", &format!("/api/alerts/{id}"), Some("token-of-bob-456"), None);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("CMLN-2025-A003"));
    let path = format!("/api/alerts/{id}/decision");
    let (st, body) = http(a, "POST", &path, Some("token-of-ana-123"), Some(r#"{"status":"dismissed"}"#));
    assert_eq!(st, 422, "dismissal without a reason: {body}");
    let (st, _) = http(a, "POST", &path, None, Some(r#"{"status":"dismissed","reason":"x"}"#));
    assert_eq!(st, 401);
    let (st, body) =
        http(a, "POST", &path, Some("token-of-ana-123"), Some(r#"{"status":"dismissed","reason":"documented trade"}"#));
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "dismissed");
    let last = v["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["actor"].as_str(), last["reason"].as_str()), (Some("ana"), Some("documented trade")));
    let (st, md) = http(a, "GET", &format!("/api/alerts/{id}/export?format=sar"), Some("token-of-ana-123"), None);
    assert_eq!(st, 200);
    assert!(md.contains("Suspicious Activity Report draft") && md.contains("documented trade"), "{md}");
    let (st, page) = http(a, "GET", "/", None, None);
    assert!(st == 200 && page.contains("mirrorflow review"));
    let (st, spec) = http(a, "GET", "/api/openapi.json", None, None);
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert!(st == 200 && spec["paths"]["/api/alerts/{id}/decision"]["post"].is_object());
    // the token is never in the server's output
    drop(srv);
}

/// The review page in headless Chromium (installed by `scripts/ui-deps.sh` from the system
/// packages): a real review through the page (`tests/ui/review.mjs`).
#[test]
fn an_analyst_reviews_an_alert_in_the_page() {
    let deps = Command::new("bash").arg(root().join("scripts/ui-deps.sh")).output().unwrap();
    assert!(deps.status.success(), "ui-deps: {}", String::from_utf8_lossy(&deps.stderr));
    let node_path = String::from_utf8_lossy(&deps.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    replay_demo(&out);
    let srv = start(out.join("alerts.db").to_str().unwrap());
    let r = Command::new("node")
        .arg(root().join("tests/ui/review.mjs"))
        .arg(format!("http://{}", srv.addr))
        .arg("token-of-ana-123")
        .env("NODE_PATH", &node_path)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    assert!(r.status.success(), "browser review failed:\n{stdout}\n{stderr}");
    let seen: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert!(seen["mirror"].as_u64().unwrap() >= 1, "the flow picture shows the mirror link: {seen}");
}
