//! The event-time window (`EventWindow`) is the core crate's; its tests here build
//! batches with the product's ingest.

pub use mirrorflow_core::window::EventWindow;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestState, test_batch as batch};

    #[test]
    fn every_row_of_a_new_batch_keeps_its_full_lookback() {
        let mut st = IngestState::default();
        let mut w = EventWindow::new(100 * 1_000_000);
        w.push(batch(&[("a", 10), ("b", 50), ("c", 90)], &mut st));
        // A batch spanning 100..300: its first row looks back to 0, so nothing goes yet,
        // although its newest row is 300.
        w.push(batch(&[("d", 100), ("e", 300)], &mut st));
        assert_eq!((w.rows(), w.now()), (5, 300 * 1_000_000));
        // The next batch starts at 310: rows before 210 leave.
        w.push(batch(&[("f", 310)], &mut st));
        assert_eq!(w.rows(), 2);
    }
}
