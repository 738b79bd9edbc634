//! Event-time replay: unsorted input in order, spilling sorts, time ranges, the window,
//! and results independent of batch size.

use mirrorflow::app::{ReplayArgs, replay_with};

use super::common::*;

/// `n` rows over ~`days` days, in a shuffled order (deterministic), with ties in time.
fn shuffled_rows(n: usize, days: i64) -> (Vec<String>, Vec<String>) {
    let base = 1_767_225_600i64; // 2026-01-01
    let mut rows: Vec<(i64, usize, String)> = (0..n)
        .map(|i| {
            let t = base + ((i as i64 * 7919) % (days * 86_400)) / 60 * 60; // minute resolution: ties
            (t, i, format!("tx{i:07}"))
        })
        .collect();
    // expected order: by time, then tx_id (we write them in a shuffled order below)
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..rows.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        rows.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|(t, i, id)| {
            let ts = mirrorflow::ingest::values::format_ts(t * 1_000_000);
            format!("{id},{ts},acct{},acct{},{}.25,USD,wire,,", i % 97, (i * 31) % 89, 100 + i % 5000)
        })
        .collect();
    let mut expected: Vec<(i64, String)> = rows.iter().map(|(t, _, id)| (*t, id.clone())).collect();
    expected.sort();
    (lines, expected.into_iter().map(|(_, id)| id).collect())
}

fn replay_ids(dir: &std::path::Path, extra: &str) -> (Vec<String>, mirrorflow::pipeline::Summary, Vec<usize>) {
    let out = dir.join(format!("out-{}", extra.len()));
    let cfg = test_config(&out, extra);
    let rec = Recorder::default();
    let s = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(replay_with(&cfg, &dir.join("ledger"), &ReplayArgs::default(), vec![Box::new(rec.clone())]))
        .unwrap();
    let seen = rec.seen.lock().unwrap().clone();
    let w = rec.window_rows.lock().unwrap().clone();
    (seen, s, w)
}

#[test]
fn unsorted_ledgers_replay_in_event_time_order_with_ties_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, expected) = shuffled_rows(5_000, 20);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv_ledger(&dir.path().join("ledger"), &refs);
    let (seen, s, _) = replay_ids(dir.path(), "");
    assert_eq!(s.rows_accepted, 5_000);
    assert_eq!(seen, expected);
}

#[test]
fn the_sort_spills_to_disk_beyond_its_memory_and_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, expected) = shuffled_rows(150_000, 60);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv_ledger(&dir.path().join("ledger"), &refs);
    let spill = dir.path().join("spill");
    // 97 accounts paying each other 150,000 times: the sort is under test, not the
    // millions of cycles such a graph holds
    let extra = format!(
        "[replay]\nsort-memory-mb = 16\nspill-dir = \"{}\"\n[input]\nbatch-rows = 8192\n[graph]\ncycles = false\n",
        spill.display()
    );
    let (seen, s, _) = replay_ids(dir.path(), &extra);
    assert_eq!(s.rows_accepted, 150_000);
    assert!(seen == expected, "order differs after spilling");
}

/// A ledger whose rows step back in time by less than the allowed lateness (two files,
/// ties in time, a duplicate id next to its first and one far from it, a refused row) is
/// replayed in file order without the sort: the detectors meet the rows the sorted replay
/// gives (with no lateness allowed, the same ledger is sorted), in `(ts, tx_id)` order,
/// and the same rows are refused for the same reasons.
#[test]
fn a_ledger_nearly_in_time_order_replays_in_file_order_with_the_sorted_replays_rows() {
    let base = 1_767_225_600i64; // 2026-01-01
    let line = |id: &str, t: i64, amount: &str| {
        let ts = mirrorflow::ingest::values::format_ts(t * 1_000_000);
        format!("{id},{ts},acct{},acct{},{amount},USD,wire,,", id.len() % 7, t % 11)
    };
    let mut rows: Vec<(String, i64)> = (0..4_000).map(|i| (format!("tx{i:05}"), base + (i / 3) * 60)).collect();
    for i in (0..rows.len() - 1).step_by(7) {
        rows.swap(i, i + 1); // steps back of up to a minute
    }
    let mut lines: Vec<String> = rows.iter().map(|(id, t)| line(id, *t, "100.25")).collect();
    lines[2_000] = line(&rows[2_000].0, rows[2_000].1, "many"); // refused: bad amount
    lines.insert(2_502, lines[2_501].clone()); // the same row again, in the second file
    lines.insert(3_000, line("tx00010", rows[2_999].1, "7.00")); // an early id, hours later
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let write = |name: &str, part: &[String]| {
        std::fs::write(ledger.join(name), format!("{HEADER}\n{}\n", part.join("\n"))).unwrap();
    };
    write("transactions-1.csv", &lines[..2_500]);
    write("transactions-2.csv", &lines[2_500..]);
    let (in_file_order, a, _) = replay_ids(dir.path(), "");
    let (sorted, b, _) = replay_ids(dir.path(), "[pipeline]\nallowed-lateness = \"0s\"\n");
    let mut expected: Vec<(i64, String)> =
        rows.iter().filter(|(id, _)| id != &rows[2_000].0).map(|(id, t)| (*t, id.clone())).collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let method = |s: &mirrorflow::pipeline::Summary| s.replay_order.as_ref().map(|o| o.method.clone());
    assert_eq!(method(&a).as_deref(), Some("file order"));
    assert_eq!(a.replay_order.as_ref().unwrap().largest_step_back_s, Some(60.0));
    assert_eq!(method(&b).as_deref(), Some("sorted"));
    assert_eq!(in_file_order, expected);
    assert_eq!(sorted, expected);
    assert_eq!((a.rows_read, a.rows_accepted), (4_002, 3_999));
    assert_eq!(a.quarantined_by_reason.get("duplicate_tx_id"), Some(&2));
    assert_eq!(a.quarantined_by_reason.values().sum::<u64>(), 3);
    assert_eq!(a.quarantined_by_reason, b.quarantined_by_reason);
    assert_eq!(b.rows_accepted, 3_999);
}

#[test]
fn results_do_not_depend_on_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = shuffled_rows(3_000, 10);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv_ledger(&dir.path().join("ledger"), &refs);
    let (a, sa, _) = replay_ids(dir.path(), "[input]\nbatch-rows = 7\n");
    let (b, sb, _) = replay_ids(dir.path(), "[input]\nbatch-rows = 65536\n");
    assert_eq!(a, b);
    assert_eq!(sa.rows_accepted, sb.rows_accepted);
}

#[test]
fn from_and_to_bound_event_time_and_counts_still_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = shuffled_rows(2_000, 10);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv_ledger(&dir.path().join("ledger"), &refs);
    let out = dir.path().join("out");
    let o = mirrorflow(
        &[
            "replay",
            dir.path().join("ledger").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--from",
            "2026-01-03",
            "--to",
            "2026-01-05T00:00:00Z",
            "--progress",
            "off",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    let accepted = s["rows_accepted"].as_u64().unwrap();
    let outside = s["rows_outside_range"].as_u64().unwrap();
    assert!(accepted > 300 && accepted < 500, "about 2 of 10 days: {accepted}");
    assert_eq!(accepted + outside, 2_000);
    assert_eq!(s["reconciled"], true);
    assert!(s["first_event_time"].as_str().unwrap() >= "2026-01-03T00:00:00Z");
    assert!(s["last_event_time"].as_str().unwrap() < "2026-01-05T00:00:00Z");
}

#[test]
fn the_window_keeps_only_recent_event_time() {
    let dir = tempfile::tempdir().unwrap();
    // one row every 10 minutes for 30 days (4,320 rows), window 1 day (144 rows)
    let base = 1_767_225_600i64;
    let lines: Vec<String> = (0..4320)
        .map(|k| {
            format!("r{k},{},a,b,10,USD,wire,,", mirrorflow::ingest::values::format_ts((base + k * 600) * 1_000_000))
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv_ledger(&dir.path().join("ledger"), &refs);
    let (_, s, w) =
        replay_ids(dir.path(), "[pipeline]\nwindow = \"1d\"\ndetect-batch-rows = 10\n[input]\nbatch-rows = 10\n");
    assert_eq!(s.rows_accepted, 4320);
    // A day behind the newest batch's first row, from the start of that UTC day (at most
    // another day: a rule reading whole days sees all of its oldest), plus that batch (a
    // replay's sorted batches hold at most 1,024 rows): memory follows the window, not
    // the history.
    assert!(w.iter().all(|&r| r <= 2 * 144 + 1 + 1024), "window held {:?}", w.iter().max());
    assert!(s.window_rows_at_end >= 144 && s.window_rows_at_end <= 2 * 144 + 1 + 1024, "{}", s.window_rows_at_end);
}

#[test]
fn speed_paces_replay_to_a_multiple_of_real_time() {
    let dir = tempfile::tempdir().unwrap();
    // two hours of event time at 7200x real time: at least one second of wall time
    csv_ledger(
        &dir.path().join("ledger"),
        &[
            "p1,2026-03-01T00:00:00Z,a,b,1,USD,wire,,",
            "p2,2026-03-01T01:00:00Z,a,b,1,USD,wire,,",
            "p3,2026-03-01T02:00:00Z,a,b,1,USD,wire,,",
        ],
    );
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    let o = mirrorflow(
        &[
            "replay",
            dir.path().join("ledger").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--speed",
            "7200",
            "--progress",
            "off",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(started.elapsed() >= std::time::Duration::from_millis(950), "{:?}", started.elapsed());
    assert_eq!(summary(&out)["rows_accepted"], 3);
}

/// A replay's `alerts.jsonl` is the same bytes however the rows were batched (detectors
/// complete alerts at different batches; the finished file is in a canonical order).
#[test]
fn a_replays_alert_file_is_the_same_bytes_for_any_batching() {
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("fixtures/demo");
    // the demo ledger is in time order: it is replayed in file order, without a sort
    let run_on = |ledger: &std::path::Path, name: &str, cfg: &str, says: &str| -> Vec<u8> {
        let c = dir.path().join(format!("{name}.toml"));
        std::fs::write(&c, cfg).unwrap();
        let out = dir.path().join(name);
        let o = mirrorflow(
            &[
                "--config",
                c.to_str().unwrap(),
                "replay",
                ledger.to_str().unwrap(),
                "--store",
                "off",
                "--progress",
                "off",
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let order = &summary(&out)["replay_order"];
        assert_eq!(order["method"], says, "{name}: {order}");
        std::fs::read(out.join("alerts.jsonl")).unwrap()
    };
    let run = |name: &str, cfg: &str| run_on(&demo, name, cfg, "file order");
    let whole = run("whole", "[output]\nprogress = \"off\"\n");
    let small = run("small", "[input]\nbatch-rows = 101\n[pipeline]\ndetect-batch-rows = 97\n");
    assert!(whole.len() > 10_000, "the demo raises alerts");
    assert!(whole == small, "alerts.jsonl differs between batchings");
    // the same rows shuffled are sorted first, and give the same file
    let shuffled = dir.path().join("shuffled");
    std::fs::create_dir_all(&shuffled).unwrap();
    for f in ["accounts.csv", "fx_rates.csv"] {
        std::fs::copy(demo.join(f), shuffled.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(demo.join("transactions.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    lines.rotate_left(1234);
    std::fs::write(shuffled.join("transactions.csv"), format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    let sorted = run_on(&shuffled, "sorted", "[output]\nprogress = \"off\"\n", "sorted");
    assert!(whole == sorted, "alerts.jsonl differs between the replay in file order and the sorted one");
    // and in the canonical order
    let keys: Vec<(String, String)> = String::from_utf8(whole)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|a| (a["last_ts"].as_str().unwrap().to_string(), a["first_ts"].as_str().unwrap().to_string()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
}

/// A ledger longer than the rules' history (`010`'s peer shares count whole days over 30
/// days): its alerts are the same bytes whether rows arrive in large or small batches.
/// A rule's window slice starts at a day boundary, so the oldest day of a history is
/// never cut where a batch happens to begin.
#[test]
fn alerts_of_a_ledger_longer_than_the_rules_history_are_the_same_for_any_batching() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let o =
        mirrorflow(&["gen", "--out", ledger.to_str().unwrap(), "--seed", "5", "--rows", "40000", "--days", "60"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |name: &str, cfg: &str| -> Vec<u8> {
        let c = dir.path().join(format!("{name}.toml"));
        std::fs::write(&c, cfg).unwrap();
        let out = dir.path().join(name);
        let args = ["--config", c.to_str().unwrap(), "replay", ledger.to_str().unwrap(), "--store", "off"];
        let o = mirrorflow(&[&args[..], &["--progress", "off", "--out", out.to_str().unwrap()]].concat(), None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("alerts.jsonl")).unwrap()
    };
    let whole = run("whole", "[output]\nprogress = \"off\"\n");
    let small = run("small", "[input]\nbatch-rows = 997\n[pipeline]\ndetect-batch-rows = 991\n");
    let peer_shares = String::from_utf8_lossy(&whole).matches("\"peer_band_share\":\"0.").count();
    assert!(peer_shares > 0, "the ledger raises structuring alerts with a peer share");
    assert!(whole == small, "alerts.jsonl differs between batchings");
}

/// A generated ledger replayed through the binary in thirteen pieces, each resumed from
/// the checkpoint the piece before it left (cut at seeded event times, at any hour),
/// gives the uncut replay's alerts with the same ids and every field but `created_at`:
/// each detector's state (the mirror stage's open placements, legs, netting days and
/// network spans judged a day late; open rule episodes; graph windows; novelty history)
/// crosses every cut whole.
#[test]
fn a_replay_cut_twelve_times_and_resumed_each_time_gives_the_uncut_replays_alerts() {
    let tmp = tempfile::tempdir().unwrap();
    let (led, whole) = (tmp.path().join("ledger"), tmp.path().join("whole"));
    let ok = |args: &[&str]| {
        let o = mirrorflow(args, None);
        assert!(o.status.success(), "mirrorflow {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    ok(&["gen", "--seed", "42", "--rows", "100000", "--out", led.to_str().unwrap()]);
    ok(&["replay", led.to_str().unwrap(), "--out", whole.to_str().unwrap(), "--progress", "off", "--store", "off"]);
    let by_id = |out: &std::path::Path| -> std::collections::BTreeMap<String, serde_json::Value> {
        jsonl(&out.join("alerts.jsonl"))
            .into_iter()
            .map(|mut a| {
                a.as_object_mut().unwrap().remove("created_at");
                (a["alert_id"].as_str().unwrap().to_string(), a)
            })
            .collect()
    };
    let expected = by_id(&whole);
    let s = summary(&whole);
    let t =
        |k: &str| mirrorflow::ingest::values::parse_ts(s[k].as_str().unwrap().as_bytes(), &Default::default()).unwrap();
    let (first, last) = (t("first_event_time"), t("last_event_time"));
    // twelve cuts, spread over the ledger, each moved by a seeded number of seconds
    let mut seed = 0x0c07_2026u64;
    let cuts: Vec<String> = (1..=12i64)
        .map(|k| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let jitter = ((seed >> 33) % 86_400) as i64 * 1_000_000;
            let at = first + (last - first) * k / 13 + jitter - 43_200_000_000;
            mirrorflow::ingest::values::format_ts(at / 1_000_000 * 1_000_000)
        })
        .collect();
    let mut resumed = std::collections::BTreeMap::new();
    let mut accepted = 0;
    for i in 0..=cuts.len() {
        let out = tmp.path().join(format!("piece-{i}"));
        let mut args: Vec<String> =
            ["replay", led.to_str().unwrap(), "--out", out.to_str().unwrap(), "--progress", "off", "--store", "off"]
                .map(String::from)
                .to_vec();
        if i > 0 {
            let ck = tmp.path().join(format!("ck-{}", i - 1));
            args.extend(["--resume".into(), ck.to_str().unwrap().into(), "--from".into(), cuts[i - 1].clone()]);
        }
        if i < cuts.len() {
            let ck = tmp.path().join(format!("ck-{i}"));
            args.extend(["--to".into(), cuts[i].clone(), "--checkpoint".into(), ck.to_str().unwrap().into()]);
        }
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        accepted += summary(&out)["rows_accepted"].as_u64().unwrap();
        for (id, a) in by_id(&out) {
            assert!(resumed.insert(id.clone(), a).is_none(), "alert {id} raised in two pieces");
        }
    }
    assert_eq!(accepted, s["rows_accepted"].as_u64().unwrap(), "every row processed once");
    assert!(expected.values().any(|a| a["details"]["match"] == "network"), "the ledger has a network match");
    let differ: Vec<&String> = expected.keys().filter(|k| resumed.get(*k) != expected.get(*k)).collect();
    let extra: Vec<&String> = resumed.keys().filter(|k| !expected.contains_key(*k)).collect();
    if let Some(k) = differ.first() {
        panic!(
            "{} alerts differ or are missing ({differ:?}), {} extra ({extra:?}); the first:\nuncut:   {}\nresumed: {}",
            differ.len(),
            extra.len(),
            expected[*k],
            resumed.get(*k).map_or("missing".to_string(), |a| a.to_string())
        );
    }
    assert!(extra.is_empty(), "extra alerts: {extra:?}");
}
