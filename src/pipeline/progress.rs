//! Progress for people: a bar on a terminal (rows/s, event time), plain log lines
//! otherwise, nothing when off.
//!
//! Owns: `Progress`, shared counters the stages bump once per batch, and the ticker
//! that shows them. Must not: decide anything.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::ProgressMode as Mode;
use crate::ingest::values::format_ts;

/// Counters shared by the stages.
#[derive(Debug)]
pub struct Progress {
    /// Records read by the source.
    pub read: AtomicU64,
    /// Rows that went through the detectors.
    pub processed: AtomicU64,
    /// Event time of the last processed row (µs), `i64::MIN` before any.
    pub event_time: AtomicI64,
    /// Alerts written.
    pub alerts: AtomicU64,
    /// A followed directory: files read, empty files skipped, files read again after
    /// they grew, and files that changed after they were read but could not be read again.
    pub files_read: AtomicU64,
    pub files_empty: AtomicU64,
    pub files_grown: AtomicU64,
    pub files_changed_unread: AtomicU64,
    /// A replay: how it put its ledger in event-time order (set once, by the source).
    pub replay_order: std::sync::OnceLock<super::summary::ReplayOrder>,
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            read: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            event_time: AtomicI64::new(i64::MIN),
            alerts: AtomicU64::new(0),
            files_read: AtomicU64::new(0),
            files_empty: AtomicU64::new(0),
            files_grown: AtomicU64::new(0),
            files_changed_unread: AtomicU64::new(0),
            replay_order: std::sync::OnceLock::new(),
            started: Instant::now(),
        }
    }
}

impl Progress {
    fn line(&self) -> String {
        let processed = self.processed.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let et = self.event_time.load(Ordering::Relaxed);
        format!(
            "read {} | processed {} ({:.0} rows/s) | event time {} | alerts {}",
            self.read.load(Ordering::Relaxed),
            processed,
            processed as f64 / secs,
            if et == i64::MIN { "-".to_string() } else { format_ts(et) },
            self.alerts.load(Ordering::Relaxed)
        )
    }
}

/// Shows progress until dropped.
pub struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts showing `p` in `mode`.
    pub fn start(p: Arc<Progress>, mode: Mode) -> Ticker {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bar = match mode {
            Mode::Off => None,
            Mode::Bar => Some(true),
            Mode::Log => Some(false),
            Mode::Auto => Some(std::io::stderr().is_terminal()),
        };
        let handle = bar.map(|bar| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let pb = bar.then(|| {
                    let pb = ProgressBar::new_spinner();
                    pb.set_style(
                        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
                    );
                    pb
                });
                let mut last_log = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    match &pb {
                        Some(pb) => {
                            pb.set_message(p.line());
                            pb.tick();
                        }
                        None if last_log.elapsed() >= Duration::from_secs(5) => {
                            tracing::info!("{}", p.line());
                            last_log = Instant::now();
                        }
                        None => {}
                    }
                }
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
            })
        });
        Ticker { stop, handle }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
