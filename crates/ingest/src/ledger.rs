//! Finding a ledger's tables: a directory with `transactions.*` (or part files
//! `transactions-*.*`), optional `accounts.*` and `fx_rates.*`; or a single file.
//!
//! Owns: the naming rules of the data contract. Must not: open or parse the files.

use std::path::{Path, PathBuf};

use mirrorflow_core::error::{Error, Result};

/// The files of one ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Transactions files, in the order they are read (names sorted).
    pub transactions: Vec<PathBuf>,
    pub accounts: Option<PathBuf>,
    pub fx_rates: Option<PathBuf>,
}

const EXTS: [&str; 8] = [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".parquet", ".tsv"];

fn table_of(name: &str) -> Option<&str> {
    EXTS.iter().find_map(|ext| name.strip_suffix(ext))
}

/// Finds the tables of the ledger at `path` (a directory or one transactions file).
pub fn discover(path: &Path) -> Result<Ledger> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        return Ok(Ledger { transactions: vec![path.to_path_buf()], accounts: None, fx_rates: None });
    }
    let mut tx = Vec::new();
    let (mut accounts, mut fx) = (Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        seen.push(name.clone());
        let Some(stem) = table_of(&name) else { continue };
        let p = entry.path();
        if stem == "transactions" || stem.starts_with("transactions-") || stem == "tx_log" {
            tx.push(p);
        } else if stem == "accounts" {
            accounts.push(p);
        } else if stem == "fx_rates" {
            fx.push(p);
        }
    }
    tx.sort();
    if tx.is_empty() {
        seen.sort();
        return Err(Error::input(
            path,
            format!(
                "no transactions file (expected transactions.csv, .csv.gz, .jsonl, .ndjson or .parquet); found: {}",
                if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") }
            ),
        ));
    }
    let one = |mut v: Vec<PathBuf>, what: &str| -> Result<Option<PathBuf>> {
        v.sort();
        match v.len() {
            0 => Ok(None),
            1 => Ok(v.pop()),
            _ => Err(Error::input(path, format!("more than one {what} table: {v:?}"))),
        }
    };
    let stems: Vec<&str> = tx.iter().filter_map(|p| p.file_name()?.to_str().and_then(table_of)).collect();
    let mut dedup = stems.clone();
    dedup.sort();
    dedup.dedup();
    if dedup.len() != stems.len() {
        return Err(Error::input(path, format!("the same transactions table is there in two formats: {tx:?}")));
    }
    Ok(Ledger { transactions: tx, accounts: one(accounts, "accounts")?, fx_rates: one(fx, "fx_rates")? })
}
