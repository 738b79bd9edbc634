//! The command line: config errors, unreadable ledgers, the documented defaults.

use super::common::*;

#[test]
fn config_errors_are_all_reported_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[pipeline]\nwindow = \"7x\"\n[output]\nprogress = \"loud\"\n").unwrap();
    let o = mirrorflow(&["--config", cfg.to_str().unwrap(), "replay", "fixtures/demo"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pipeline.window") && err.contains("output.progress") && err.contains("bad.toml"), "{err}");
    std::fs::write(&cfg, "[pipeline]\nwindw = \"7d\"\n").unwrap();
    let o = mirrorflow(&["--config", cfg.to_str().unwrap(), "replay", "fixtures/demo"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("windw"), "{err}");
}

#[test]
fn a_missing_or_empty_ledger_stops_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = mirrorflow(&["replay", dir.path().join("nope").to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    std::fs::write(dir.path().join("readme.txt"), "hi").unwrap();
    let o =
        mirrorflow(&["replay", dir.path().to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("no transactions file") && err.contains("readme.txt"), "{err}");
}

#[test]
fn the_printed_defaults_are_the_embedded_config() {
    let o = mirrorflow(&["config"], None);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("window = \"35d\""));
    mirrorflow::config::Config::from_toml_str(&text).unwrap();
}
