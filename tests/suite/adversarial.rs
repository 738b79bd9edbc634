//! An adversarial ledger through `mirrorflow replay`: a hub with tens of thousands of
//! edges, a 10,000-way fan-in, a flood of one duplicated id, giant memo fields, records
//! over the size limit, and times far in the past and future. What must hold: the run
//! ends (exit 0), every refused record is counted under its own reason, the counts
//! reconcile, and peak memory stays bounded. Sizes are scaled for a debug build; the
//! same test at full size is `scripts/adversarial.sh` (1M hub edges).

use super::common::*;
use std::fmt::Write as _;

/// What the generated ledger holds, for the assertions.
struct Shape {
    rows: u64,
    duplicates: u64,
    too_long: u64,
    future: u64,
}

fn adversarial_ledger(dir: &std::path::Path, hub_edges: u64, fan_in: u64) -> Shape {
    std::fs::create_dir_all(dir).unwrap();
    let mut t = String::from(HEADER);
    t.push('\n');
    let mut rows = 0u64;
    let day0 = 1_767_225_600i64; // 2026-01-01T00:00:00Z
    let ts = |s: i64| mirrorflow::ingest::values::format_ts((day0 + s) * 1_000_000);
    // a 10,000-way fan-in: distinct senders paying one hub over a day
    for i in 0..fan_in {
        writeln!(t, "F{i},{},S{i:06},ADV_HUB,{}.00,USD,p2p,,", ts((i * 86_400 / fan_in) as i64), 150 + i % 50).unwrap();
        rows += 1;
    }
    // the hub's other edges: paying out to a few thousand accounts, over ten days
    for i in 0..hub_edges {
        writeln!(
            t,
            "H{i},{},ADV_HUB,R{:05},{}.25,USD,ach,,",
            ts(86_400 + (i * 864_000 / hub_edges) as i64),
            i % 3_000,
            20 + i % 300
        )
        .unwrap();
        rows += 1;
    }
    // a flood of one id: the first is kept, every other is a duplicate
    let duplicates = 20_000u64;
    for i in 0..=duplicates {
        writeln!(t, "DUP,{},D{},E{},12.00,USD,card,,", ts(3_600 + i as i64), i % 97, i % 89).unwrap();
        rows += 1;
    }
    // giant memos under the record limit are kept
    let memo = "M".repeat(256 * 1024);
    for i in 0..40 {
        writeln!(t, "G{i},{},GA{i},GB{i},99.00,USD,wire,,{memo}", ts(7_200 + i)).unwrap();
        rows += 1;
    }
    // records over the limit (default 1 MiB) are refused, one record each
    let too_long = 3u64;
    let huge = "X".repeat(3 * 1024 * 1024);
    for i in 0..too_long {
        writeln!(t, "L{i},{},LA,LB,5.00,USD,wire,,\"{huge}\"", ts(9_000 + i as i64)).unwrap();
        rows += 1;
    }
    // far past: accepted (1901 is a time, if an odd one); far future: refused
    for i in 0..10 {
        writeln!(t, "P{i},1901-01-0{}T00:00:00Z,PA,PB,10.00,USD,wire,,", 1 + i % 9).unwrap();
        rows += 1;
    }
    let future = 10u64;
    for i in 0..future {
        writeln!(t, "Z{i},2199-12-31T00:00:0{}Z,ZA,ZB,10.00,USD,wire,,", i % 10).unwrap();
        rows += 1;
    }
    std::fs::write(dir.join("transactions.csv"), t).unwrap();
    Shape { rows, duplicates, too_long, future }
}

#[test]
fn an_adversarial_ledger_ends_with_every_refusal_counted_and_memory_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger");
    // `scripts/adversarial.sh` runs the same test at full size through these
    let size = |key: &str, default: u64| std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let shape = adversarial_ledger(
        &ledger,
        size("MIRRORFLOW_ADVERSARIAL_HUB_EDGES", 60_000),
        size("MIRRORFLOW_ADVERSARIAL_FAN_IN", 10_000),
    );
    let out = tmp.path().join("out");
    let (o, peak) =
        mirrorflow_peak_rss(&["replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap(), "--store", "none"]);
    assert!(o.status.success(), "replay failed: {}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["rows_read"], shape.rows, "every record read");
    assert_eq!(s["reconciled"], true);
    let q = &s["quarantined_by_reason"];
    assert_eq!(q["duplicate_tx_id"], shape.duplicates);
    assert_eq!(q["record_too_long"], shape.too_long);
    assert_eq!(q["future_timestamp"], shape.future);
    let quarantined = jsonl(&out.join("quarantine.jsonl"));
    assert_eq!(
        quarantined.len() as u64,
        s["rows_quarantined"].as_u64().unwrap(),
        "quarantine file holds every refusal"
    );
    for r in quarantined.iter().filter(|r| r["reason"] == "record_too_long") {
        assert!(
            r["raw"].as_str().unwrap().len() < 64 * 1024,
            "an over-long record is not copied whole into quarantine"
        );
        assert!(r["line"].as_u64().unwrap() > 1, "the record names its line");
    }
    // 3 records of 3 MiB, 40 of 256 KiB and ~90k rows: a bound well above the debug
    // build's working set, well below what holding or rescanning the text would take
    eprintln!("adversarial replay: {} rows, peak memory {} MiB", shape.rows, peak / (1024 * 1024));
    assert!(peak < 1_500 * 1024 * 1024, "peak memory {} MiB", peak / (1024 * 1024));
}

/// The rules judge a batch larger than `RULE_STEP_ROWS` in steps against the window up
/// to each step: the alerts are the bytes small batches give. The ledger is canonical
/// Parquet in event-time order, so a replay reads it without sorting and the detectors
/// get batches of `input.batch-rows` as they are.
#[test]
fn a_batch_larger_than_a_rule_step_gives_the_alerts_of_small_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    let mut t = String::from(HEADER);
    t.push('\n');
    let ts = |s: i64| mirrorflow::ingest::values::format_ts((1_767_225_600 + s) * 1_000_000);
    // a hub paying out small sums (under the fan rules' thresholds), then a fan-in into
    // it: the fan-in lies past the first step, so a step skipped or judged against the
    // wrong window loses or changes its alert
    for i in 0..66_000i64 {
        writeln!(t, "H{i},{},HUB,R{:05},{}.25,USD,ach,,", ts(i), i % 3_000, 100 + i % 99).unwrap();
    }
    for i in 0..2_000i64 {
        writeln!(t, "F{i},{},S{i:06},HUB,{}.00,USD,p2p,,", ts(86_400 + i * 40), 300 + i % 50).unwrap();
    }
    std::fs::write(csv.join("transactions.csv"), t).unwrap();
    let ledger = tmp.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let parquet = ledger.join("transactions.parquet");
    // the fan rules calibrate per KYC segment: the hub is a person in the accounts table
    std::fs::write(
        ledger.join("accounts.csv"),
        "account_id,customer_id,country,kind,industry,occupation\nHUB,C-HUB,US,personal,,driver\n",
    )
    .unwrap();
    let o = mirrorflow(&["ingest", csv.to_str().unwrap(), "--to-parquet", parquet.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |name: &str, batch_rows: usize| {
        let out = tmp.path().join(name);
        let cfg = tmp.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!("[input]\nbatch-rows = {batch_rows}\n[pipeline]\ndetect-batch-rows = {batch_rows}\n"),
        )
        .unwrap();
        let args =
            ["--config", cfg.to_str().unwrap(), "replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let o = mirrorflow(&[&args[..], &["--store", "none", "--progress", "off"]].concat(), None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("alerts.jsonl")).unwrap()
    };
    let big = run("big", 2 * mirrorflow::rules::engine::RULE_STEP_ROWS);
    assert!(String::from_utf8_lossy(&big).contains("080_fan_in"), "the fan-in is alerted");
    assert_eq!(String::from_utf8_lossy(&big), String::from_utf8_lossy(&run("small", 8_192)));
}
