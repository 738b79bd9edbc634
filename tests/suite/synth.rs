//! Synthetic ledgers: `gen` is deterministic, its output is valid contract data in both
//! formats, and it carries every typology.

use super::common::*;

fn generate(out: &std::path::Path, seed: &str, rows: &str, format: &str) {
    let o =
        mirrorflow(&["gen", "--out", out.to_str().unwrap(), "--seed", seed, "--rows", rows, "--format", format], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    generate(&a, "42", "3000", "csv");
    generate(&b, "42", "3000", "csv");
    generate(&c, "43", "3000", "csv");
    let fa = files(&a);
    assert!(fa.iter().any(|(n, _)| n == "transactions.csv") && fa.iter().any(|(n, _)| n == "labels.csv"));
    assert_eq!(fa, files(&b));
    let tx = |f: &[(String, Vec<u8>)]| f.iter().find(|(n, _)| n == "transactions.csv").unwrap().1.clone();
    assert_ne!(tx(&fa), tx(&files(&c)));
}

#[test]
fn generated_ledgers_replay_cleanly_in_both_formats_with_every_typology_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, pq) = (dir.path().join("csv"), dir.path().join("pq"));
    generate(&csv, "7", "5000", "csv");
    generate(&pq, "7", "5000", "parquet");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[output]\nwrite-ordered = true\nprogress = \"off\"\n").unwrap();
    let mut ordered = Vec::new();
    for (ledger, out) in [(&csv, dir.path().join("o1")), (&pq, dir.path().join("o2"))] {
        let o = mirrorflow(
            &["--config", cfg.to_str().unwrap(), "replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap()],
            None,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = summary(&out);
        assert_eq!(s["rows_quarantined"], 0, "{s}");
        assert_eq!(s["side_table_rows_quarantined"], 0, "{s}");
        assert_eq!(s["rows_read"], s["rows_accepted"]);
        assert!(s["rows_accepted"].as_u64().unwrap() >= 4_950, "{s}");
        assert!(s["accounts_rows"].as_u64().unwrap() > 0);
        assert_eq!(s["rows_without_fx_rate"], serde_json::json!({}), "every currency has a rate");
        ordered.push(ordered_ids(&out));
    }
    assert_eq!(ordered[0], ordered[1], "CSV and Parquet of the same ledger replay identically");
    let labels = std::fs::read_to_string(csv.join("labels.csv")).unwrap();
    let typologies: std::collections::BTreeSet<&str> =
        labels.lines().skip(1).filter_map(|l| l.split(',').nth(2)).collect();
    for t in 1..=13 {
        assert!(typologies.contains(format!("T{t}").as_str()), "T{t} missing from {typologies:?}");
    }
}

/// The bundled demo ledger is exactly what `gen --seed 7 --rows 5000` writes (set
/// `MIRRORFLOW_REGEN=1` to rewrite it after a deliberate change to the generator).
#[test]
fn the_bundled_demo_is_reproducible_from_gen() {
    let demo = root().join("fixtures/demo");
    if std::env::var_os("MIRRORFLOW_REGEN").is_some() {
        std::fs::remove_dir_all(&demo).ok();
        generate(&demo, "7", "5000", "csv");
    }
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "7", "5000", "csv");
    assert_eq!(files(dir.path()), files(&demo), "fixtures/demo is stale: rerun with MIRRORFLOW_REGEN=1");
}

/// The README's first command, as a new user runs it.
#[test]
fn the_readme_demo_replays_the_bundled_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorflow"))
        .args(["replay", "fixtures/demo", "--progress", "off"])
        .current_dir(root())
        .env("MIRRORFLOW_LOG", "warn")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    // it writes to ./mirrorflow-out by default; check, then leave it (it is git-ignored)
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("rows read 5000") && stdout.contains("reconciled") && stdout.contains("alerts written"),
        "{stdout}"
    );
    let s = summary(&root().join("mirrorflow-out"));
    assert_eq!(s["rows_accepted"], 5000);
}

/// `gen --style varied --layout amlworld` writes a ledger that replays through the
/// AMLworld dialect (found by sniffing, no accounts table) with every row accounted for,
/// and `eval` scores the run against the labels `gen` wrote in that layout's ids.
#[test]
fn a_varied_amlworld_ledger_replays_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, out) = (dir.path().join("aw"), dir.path().join("out"));
    let o = mirrorflow(
        &["gen", "--out", ledger.to_str().unwrap(), "--seed", "13", "--rows", "6000", "--style", "varied"]
            .into_iter()
            .chain(["--layout", "amlworld"])
            .collect::<Vec<_>>(),
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let header = std::fs::read_to_string(ledger.join("transactions.csv")).unwrap();
    assert!(header.starts_with("Timestamp,From Bank,Account,To Bank,Account,Amount Received,"));
    assert!(!ledger.join("accounts.csv").exists());
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[output]\nprogress = \"off\"\n").unwrap();
    let o = mirrorflow(
        &["--config", cfg.to_str().unwrap(), "replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["rows_read"], 6000, "{s}");
    assert_eq!(s["rows_accepted"], 6000, "{s}");
    assert_eq!(s["rows_quarantined"], 0, "{s}");
    assert_eq!(s["accounts_rows"], 0, "{s}");
    let o = mirrorflow(
        &[
            "eval",
            "--labels",
            ledger.join("labels.csv").to_str().unwrap(),
            "--alerts",
            out.join("alerts.jsonl").to_str().unwrap(),
            "--populations",
            ledger.join("populations.csv").to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("network"), "no network mirror swaps scored:\n{table}");
    assert!(table.contains("whole: all of them in one"), "{table}");
    // the JSON report: every swap that is not linked is listed, with where it went
    let mut args: Vec<&str> = ["eval", "--json", "--labels"].to_vec();
    let (labels, alerts) = (ledger.join("labels.csv"), out.join("alerts.jsonl"));
    args.extend([labels.to_str().unwrap(), "--alerts", alerts.to_str().unwrap()]);
    let o = mirrorflow(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let all = r["mirror_linkage"].as_array().unwrap().iter().find(|l| l["variant"] == "all").unwrap().clone();
    let (swaps, linked, whole) =
        (all["swaps"].as_u64().unwrap(), all["linked"].as_u64().unwrap(), all["whole"].as_u64().unwrap());
    assert!(swaps > 0 && whole <= linked, "{all}");
    let unlinked = r["unlinked_swaps"].as_array().unwrap();
    assert_eq!(unlinked.len() as u64, swaps - linked, "{r}");
    for u in unlinked {
        let why = u["why"].as_str().unwrap();
        let (c, l) = (u["cash_alerts"].as_u64().unwrap(), u["leg_alerts"].as_u64().unwrap());
        let want = match (c > 0, l > 0) {
            (true, true) => "split",
            (true, false) => "cash only",
            (false, true) => "legs only",
            (false, false) => "not alerted",
        };
        assert_eq!(why, want, "{u}");
    }
}

// ---------------------------------------------------------------------------------------
// The generator's outside layouts read back through the product's ingest dialects (a
// library-level check across the lab and ingest crates).

use mirrorflow::r#gen::{GenFormat, GenLayout, GenOptions, GenStyle, GenSurface, generate_with};

fn gen_opts(dir: &std::path::Path, rows: u64, seed: u64) -> GenOptions {
    GenOptions {
        out: dir.to_path_buf(),
        seed,
        rows,
        format: GenFormat::Csv,
        start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        days: None,
    }
}

/// A CSV file as header-keyed rows.
fn csv_table(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let split = |l: &str| mirrorflow::eval::split_csv(l).expect("balanced quotes");
    let header = split(lines.next().unwrap());
    lines.map(|l| header.iter().cloned().zip(split(l)).collect()).collect()
}

#[test]
fn outside_layouts_read_back_through_the_ingest_dialects() {
    use arrow::array::{Array, AsArray};
    let cfg = mirrorflow::config::Config::default();
    for (layout, first_id) in [(GenLayout::AmlWorld, "aw-2"), (GenLayout::AmlSim, "1")] {
        let dir = tempfile::tempdir().unwrap();
        let rows = 5_000;
        let report = generate_with(
            &gen_opts(dir.path(), rows, 13),
            &GenSurface { style: GenStyle::Varied, layout, ..GenSurface::default() },
        )
        .unwrap();
        assert!(!dir.path().join("accounts.csv").exists(), "{layout:?} writes no contract accounts table");
        let mut r = mirrorflow::ingest::open_transactions(&dir.path().join("transactions.csv"), &cfg.input).unwrap();
        let mut st = mirrorflow::ingest::IngestState::default();
        let (mut read, mut accepted, mut laundering) = (0u64, 0u64, 0u64);
        let mut ids = std::collections::BTreeSet::new();
        while let Some(c) = r.next_chunk(&mut st).unwrap() {
            assert!(c.rejected.is_empty(), "{layout:?}: {:?}", c.rejected.first().map(|x| (x.line, &x.field)));
            read += c.rows_read;
            accepted += c.batch.num_rows() as u64;
            let id = c.batch.column_by_name("tx_id").unwrap().as_string::<i32>();
            ids.extend(id.iter().map(|s| s.unwrap().to_string()));
            let lab = c.batch.column_by_name("label_laundering").unwrap().as_boolean();
            laundering += (0..lab.len()).filter(|&i| lab.is_valid(i) && lab.value(i)).count() as u64;
        }
        assert_eq!((read, accepted), (rows, rows), "{layout:?}");
        assert!(ids.contains(first_id), "{layout:?}: no id {first_id}");
        assert_eq!(laundering, report.labelled_transactions, "{layout:?}: label column");
        let labels = csv_table(&dir.path().join("labels.csv"));
        assert!(
            labels.iter().all(|l| ids.contains(&l["tx_id"])),
            "{layout:?}: labels name ids the reader does not give"
        );
        // populations name the accounts as the reader spells them
        let pops = csv_table(&dir.path().join("populations.csv"));
        assert!(pops.iter().take(50).all(|p| match layout {
            GenLayout::AmlWorld => p["account_id"].contains('/'),
            _ => p["account_id"].bytes().all(|b| b.is_ascii_digit()),
        }));
    }
}
