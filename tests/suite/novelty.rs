//! The novelty detector (one-off fans over months) through the binary: a replay that
//! stops in the middle of AMLSim's two years with a checkpoint, and a second that resumes
//! from it, write between them the one-off fans a single replay writes: the pairs, the
//! first contacts awaiting their 120-day horizon and the open episodes travel in the
//! checkpoint.

use std::collections::BTreeSet;
use std::path::Path;

use super::common::*;

fn replay(out: &Path, extra: &[&str]) {
    let ledger = external().join("amlsim12k");
    let mut args = vec!["replay", ledger.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--store", "off", "--progress", "off"]);
    args.extend(extra);
    let o = mirrorflow(&args, None);
    assert!(o.status.success(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
}

/// The one-off fan alerts a run wrote: (rule, tx ids).
fn fans(out: &Path) -> BTreeSet<(String, Vec<String>)> {
    jsonl(&out.join("alerts.jsonl"))
        .into_iter()
        .filter(|a| a["rule_id"].as_str().unwrap().starts_with("novelty_"))
        .map(|a| {
            let ids = a["tx_ids"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
            (a["rule_id"].as_str().unwrap().to_string(), ids)
        })
        .collect()
}

#[test]
fn one_off_fans_survive_a_checkpoint_in_the_middle_of_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, first, second, ck) =
        (dir.path().join("whole"), dir.path().join("first"), dir.path().join("second"), dir.path().join("ck"));
    replay(&whole, &[]);
    replay(&first, &["--to", "2018-01-01", "--checkpoint", ck.to_str().unwrap()]);
    replay(&second, &["--resume", ck.to_str().unwrap()]);

    let all = fans(&whole);
    assert!(all.len() >= 150, "AMLSim's fans are found: {}", all.len());
    let (a, b) = (fans(&first), fans(&second));
    assert!(!a.is_empty() && !b.is_empty(), "fans on both sides of the checkpoint: {} and {}", a.len(), b.len());
    let split: BTreeSet<_> = a.union(&b).cloned().collect();
    assert_eq!(split, all, "a checkpointed replay writes the fans one replay writes");
}
