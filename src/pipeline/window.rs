//! The event-time window (`EventWindow`) is the core crate's; its tests here build
//! batches with the product's ingest.

pub use mirrorflow_core::window::EventWindow;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestState, test_batch as batch};

    const DAY: i64 = 86_400;

    #[test]
    fn every_row_of_a_new_batch_keeps_its_full_lookback() {
        let mut st = IngestState::default();
        let mut w = EventWindow::new(3 * DAY * 1_000_000);
        w.push(batch(&[("a", 10 * DAY), ("b", 11 * DAY), ("c", 12 * DAY)], &mut st));
        // A batch spanning days 13..20: its first row looks back to day 10, so nothing
        // goes yet, although its newest row is on day 20.
        w.push(batch(&[("d", 13 * DAY), ("e", 20 * DAY)], &mut st));
        assert_eq!((w.rows(), w.now()), (5, 20 * DAY * 1_000_000));
        // The next batch starts on day 21: rows before day 18 leave.
        w.push(batch(&[("f", 21 * DAY)], &mut st));
        assert_eq!(w.rows(), 2);
    }

    /// A rule reads the window from the start of the UTC day its lookback reaches; the
    /// window keeps that whole day, however late in its own day a batch begins. (A cut at
    /// exactly `window` before the batch's first row made a 35-day rule's count of a
    /// payee's payers depend on the hour the batch began, and a 7.9M-row replay's
    /// pass-through alerts on the micro-batching.)
    #[test]
    fn the_oldest_day_is_kept_whole_whatever_hour_the_batch_begins() {
        let mut st = IngestState::default();
        let mut w = EventWindow::new(35 * DAY * 1_000_000);
        let early = 100 * DAY + 3_600; // day 100, 01:00
        w.push(batch(&[("old", 99 * DAY + 80_000), ("early", early), ("late", early + 20 * 3_600)], &mut st));
        // day 135, 23:00: the lookback reaches day 100 at 23:00; all of day 100 stays,
        // day 99 goes
        w.push(batch(&[("next", 135 * DAY + 23 * 3_600)], &mut st));
        assert_eq!(w.rows(), 3, "day 100 whole, day 99 evicted");
    }
}
