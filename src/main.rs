//! The `mirrorflow` command line: parses flags, loads the config, starts tokio and calls
//! the library (`mirrorflow::app`). The only place anyhow is used.
//!
//! This file holds only the top-level parse, the tracing setup and the exit-code mapping; the
//! subcommands live in `cli/`, one file each.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not glibc's malloc: on a live job's 30-minute soak RSS crept about half as
/// fast with it (README, "Soak"), and it reports its own figures for `/metrics`.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The allocator's (allocated, resident) bytes, for `/metrics`.
#[cfg(feature = "jemalloc")]
fn heap_figures() -> Option<(u64, u64)> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // the figures are cached by jemalloc until the epoch moves
    epoch::advance().ok()?;
    Some((stats::allocated::read().ok()? as u64, stats::resident::read().ok()? as u64))
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    #[cfg(feature = "jemalloc")]
    let _ = mirrorflow::metrics::HEAP_PROBE.set(heap_figures);

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIRRORFLOW_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
