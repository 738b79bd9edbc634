//! How far a ledger's rows step back in event time when read in file order: a replay
//! whose ledger never steps back by more than the allowed lateness needs no sort, since
//! the order stage's reorder buffer puts such rows in `(ts, tx_id)` order by itself.
//!
//! Owns: the scan (every file through the same reader the replay uses, so only rows it
//! would accept count). Must not: keep rows, or decide what the replay does with the answer.

use std::path::PathBuf;

use crate::config::InputConfig;
use crate::{IngestState, KnownDuplicates, open_transactions};
use mirrorflow_core::schema::ts_column;

/// What a replay's scan of its ledger found.
#[derive(Debug, Clone, Default)]
pub struct ReplayScan {
    /// The largest step back in event time (µs) of the rows the replay will keep: the
    /// most any row is older than the newest row before it in file order; 0 for a ledger
    /// in time order (ties included).
    pub step_back_us: i64,
    /// The rows that repeat an earlier id (or one of `seen`), where they are.
    pub duplicates: KnownDuplicates,
    /// Rows read.
    pub rows_read: u64,
}

/// Reads `files` in this order through the replay's own readers, with its duplicate
/// check (ids in `seen`, a checkpoint's, count as earlier), and reports how far the kept
/// rows step back in event time and where the duplicates are. `None` as soon as a step
/// exceeds `limit_us` (the replay sorts instead), or when a file cannot be read through
/// (the replay then sorts, and reports the error itself).
pub fn scan_replay(files: &[PathBuf], input: &InputConfig, seen: &[u128], limit_us: i64) -> Option<ReplayScan> {
    let mut steps = StepBack::new(limit_us);
    let mut duplicates = KnownDuplicates::default();
    let mut rows_read = 0;
    let mut state = IngestState::with_seen(seen);
    for path in files {
        let mut reader = open_transactions(path, input).ok()?;
        while let Some(chunk) = reader.next_chunk(&mut state).ok()? {
            rows_read += chunk.rows_read;
            duplicates.note(&chunk.rejected);
            if chunk.batch.num_rows() > 0 && !steps.see(ts_column(&chunk.batch).values()) {
                return None;
            }
        }
    }
    Some(ReplayScan { step_back_us: steps.worst, duplicates, rows_read })
}

/// The running newest time and the largest step back from it.
#[derive(Debug, Clone, Copy)]
pub struct StepBack {
    newest: i64,
    pub worst: i64,
    limit_us: i64,
}

impl StepBack {
    pub fn new(limit_us: i64) -> Self {
        StepBack { newest: i64::MIN, worst: 0, limit_us }
    }

    /// Takes the next rows' times in order; false once a step exceeds the limit.
    pub fn see(&mut self, ts: &[i64]) -> bool {
        for &t in ts {
            if t >= self.newest {
                self.newest = t;
            } else {
                self.worst = self.worst.max(self.newest - t);
                if self.worst > self.limit_us {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_back_are_measured_from_the_newest_row_before() {
        let mut s = StepBack::new(100);
        assert!(s.see(&[10, 10, 20, 15]));
        assert!(s.see(&[30, 25, 40]));
        assert_eq!(s.worst, 5);
        assert!(s.see(&[-60]));
        assert_eq!(s.worst, 100);
        assert!(!s.see(&[50, -61]));
    }

    #[test]
    fn a_ledger_in_time_order_over_several_files_steps_back_zero_and_one_out_of_order_is_seen() {
        let dir = std::env::temp_dir().join(format!("mf-order-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let head = "tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n";
        let row = |id: &str, ts: &str| format!("{id},{ts},A,B,10.00,USD,wire,US,\n");
        let a = dir.join("transactions-1.csv");
        let b = dir.join("transactions-2.csv");
        std::fs::write(&a, format!("{head}{}{}", row("t1", "2026-01-01T00:00:00Z"), row("t2", "2026-01-01T01:00:00Z")))
            .unwrap();
        // a refused row (bad amount) dated far ahead does not count; nor does a duplicate
        let bad = "t9,2027-01-01T00:00:00Z,A,B,ten,USD,wire,US,\n";
        let dup = row("t1", "2026-01-01T02:00:00Z");
        std::fs::write(
            &b,
            format!("{head}{bad}{}{dup}{}", row("t3", "2026-01-01T01:00:00Z"), row("t4", "2026-01-01T03:00:00Z")),
        )
        .unwrap();
        let input = crate::config::default_input();
        let scan = scan_replay(&[a.clone(), b.clone()], &input, &[], 0).unwrap();
        assert_eq!((scan.step_back_us, scan.rows_read, scan.duplicates.len()), (0, 6, 1));
        assert!(scan.duplicates.contains(&b.display().to_string(), 4));
        // read the other way round, the first file's rows step back two hours, and its
        // t1 is now the duplicate
        let hour = 3_600_000_000;
        let scan = scan_replay(&[b.clone(), a.clone()], &input, &[], 2 * hour).unwrap();
        assert_eq!(scan.step_back_us, 2 * hour);
        assert!(scan.duplicates.contains(&a.display().to_string(), 2));
        assert!(scan_replay(&[b.clone(), a.clone()], &input, &[], hour).is_none());
        // ids a checkpoint processed count as seen
        let seen = [crate::fingerprint(b"t2")];
        let scan = scan_replay(&[a.clone(), b], &input, &seen, 0).unwrap();
        assert!(scan.duplicates.contains(&a.display().to_string(), 3));
        assert!(scan_replay(&[dir.join("missing.csv")], &input, &[], hour).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
