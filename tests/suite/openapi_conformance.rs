//! The review API against its own OpenAPI description, by property-based requests:
//! schemathesis (PyPI, installed by `scripts/api-fuzz-deps.sh`) generates valid and
//! invalid requests for every operation in `/api/openapi.json` and sends them to a real
//! `mirrorflow serve` over the demo replay's store. Every answer must be documented (status,
//! content type, body schema), no request may cause a server error, and malformed input
//! must be refused. Bounded in examples per operation and in time; the seed is fixed, so
//! a failure reproduces.

use std::process::Command;

use super::common::*;
use super::serve::{http, replay_demo, start};

#[test]
fn every_api_answer_conforms_to_the_openapi_description() {
    let deps = Command::new("bash").arg(root().join("scripts/api-fuzz-deps.sh")).output().unwrap();
    assert!(deps.status.success(), "api-fuzz-deps: {}", String::from_utf8_lossy(&deps.stderr));
    let schemathesis = String::from_utf8_lossy(&deps.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    replay_demo(&out);
    let srv = start(out.join("alerts.db").to_str().unwrap());
    let (st, body) = http(&srv.addr, "GET", "/api/openapi.json", None, None);
    assert_eq!(st, 200);
    let described: serde_json::Value = serde_json::from_str(&body).unwrap();
    let operations: usize = described["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    let spec = format!("http://{}/api/openapi.json", srv.addr);
    let r = Command::new(&schemathesis)
        .args(["run", &spec, "--header", "Authorization: Bearer token-of-ana-123"])
        .args(["--checks", "all", "--max-examples", "40", "--max-time", "120", "--workers", "2"])
        .args(["--seed", "20261205", "--generation-database", "none", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "schemathesis found non-conforming answers:\n{stdout}\n{}", String::from_utf8_lossy(&r.stderr));
    assert!(stdout.contains(&format!("Tested: {operations}")), "all {operations} operations were tested:\n{stdout}");
}
