// The fuzz harnesses: one function per target, each feeding arbitrary bytes to a public
// entry point and checking what must hold for any input (no panic, counts reconcile,
// round trips). Included (`include!`) by the cargo-fuzz targets in `fuzz_targets/` and by
// the test suite's corpus replay (`tests/suite/fuzz_corpus.rs`), so the smoke in
// `cargo test` runs exactly what the fuzzer ran.

/// A fuzz harness: arbitrary bytes in, a panic when something that must hold does not.
pub type Harness = fn(&[u8]);

/// The targets by name, as the corpus folders are named.
pub const TARGETS: &[(&str, Harness)] = &[
    ("csv_reader", fuzz_csv_reader),
    ("ndjson_reader", fuzz_ndjson_reader),
    ("amount", fuzz_amount),
    ("timestamp", fuzz_timestamp),
    ("rule_header", fuzz_rule_header),
    ("alerts_import", fuzz_alerts_import),
];

fn fuzz_input_config() -> mirrorflow::config::InputConfig {
    let mut input = mirrorflow::config::Config::default().input;
    input.batch_rows = 7;
    input
}

/// Reads every chunk of `reader`; each chunk's records reconcile (read = accepted +
/// quarantined) and the total never exceeds the records there can be.
fn drain(mut reader: Box<dyn mirrorflow::ingest::TxReader>, data_len: usize) {
    let mut state = mirrorflow::ingest::IngestState::default();
    let mut read = 0u64;
    loop {
        match reader.next_chunk(&mut state) {
            Ok(Some(chunk)) => {
                assert_eq!(
                    chunk.rows_read,
                    chunk.batch.num_rows() as u64 + chunk.rejected.len() as u64,
                    "a chunk's counts reconcile"
                );
                for r in &chunk.rejected {
                    assert!(r.line >= 1, "a quarantined record names its line");
                }
                read += chunk.rows_read;
                assert!(read <= data_len as u64 + 1, "more records than lines");
            }
            Ok(None) => break,
            Err(e) => {
                // a refusal of the whole input names what it refuses
                assert!(!e.to_string().is_empty());
                break;
            }
        }
    }
}

/// CSV with a contract header: the record reader (quotes, line ends), field splitting and
/// the row validator.
pub fn fuzz_csv_reader(data: &[u8]) {
    let input = fuzz_input_config();
    let mut text = Vec::with_capacity(data.len() + 80);
    // half the inputs bring their own header (dialect sniffing), half get the contract's
    if data.first().is_some_and(|b| b & 1 == 0) {
        text.extend_from_slice(b"tx_id,ts,src_account,dst_account,amount,currency,channel,location,memo\n");
    }
    text.extend_from_slice(data);
    let stream: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(text));
    let path = std::path::Path::new("fuzz.csv");
    if let Ok(r) = mirrorflow::ingest::csv::CsvTxReader::from_reader("fuzz.csv".into(), stream, path, &input) {
        drain(Box::new(r), data.len());
    }
}

/// NDJSON records through the JSON line parser and the row validator.
pub fn fuzz_ndjson_reader(data: &[u8]) {
    let input = fuzz_input_config();
    let stream: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let r = mirrorflow::ingest::jsonl::JsonlTxReader::from_reader("fuzz.jsonl".into(), stream, &input);
    drain(Box::new(r), data.len());
}

/// Exact decimal amounts: never a panic; whatever is accepted prints and reads back the same.
pub fn fuzz_amount(data: &[u8]) {
    for scale in [18u32, 6, 0] {
        if let Ok(v) = mirrorflow::money::parse_decimal(data, scale) {
            let text = mirrorflow::money::format_decimal(v, scale);
            assert_eq!(mirrorflow::money::parse_decimal(text.as_bytes(), scale), Ok(v), "round trip of {text}");
        }
    }
}

/// Timestamps (RFC 3339 and friends, epoch numbers): accepted times are in range and
/// print back to the same instant.
pub fn fuzz_timestamp(data: &[u8]) {
    let opts = mirrorflow::ingest::values::TsOptions::default();
    if let Ok(us) = mirrorflow::ingest::values::parse_ts(data, &opts) {
        assert!((mirrorflow::ingest::values::TS_MIN_US..mirrorflow::ingest::values::TS_MAX_US).contains(&us));
        let text = mirrorflow::ingest::values::format_ts(us);
        assert_eq!(mirrorflow::ingest::values::parse_ts(text.as_bytes(), &opts), Ok(us), "round trip of {text}");
    }
}

/// Rule files: header comments and `{{param}}` placeholders.
pub fn fuzz_rule_header(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(rule) = mirrorflow::rules::Rule::parse("900_fuzz.sql", text, "fuzz")
    {
        let _ = rule.sql();
        let _ = rule.lookback_duration();
    }
}

/// `alerts import`: a file of JSON lines is either refused with the line it stops at, or
/// every alert in it is stored (in one SQLite store kept across inputs) and reads back.
pub fn fuzz_alerts_import(data: &[u8]) {
    use std::sync::{Mutex, OnceLock};
    static STORE: OnceLock<(std::path::PathBuf, Mutex<mirrorflow::store::AlertStore>)> = OnceLock::new();
    let (dir, store) = STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mirrorflow-fuzz-import-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = mirrorflow::store::AlertStore::open(dir.join("alerts.db").to_str().expect("utf-8 path"))
            .expect("a fresh store opens");
        (dir, Mutex::new(store))
    });
    let file = dir.join("import.jsonl");
    std::fs::write(&file, data).expect("temp file");
    match mirrorflow::store::import::read_alerts(&file) {
        Ok(alerts) => {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = store.put(&alerts) {
                panic!("checked alerts refused by the store: {e}");
            }
            for a in &alerts {
                assert!(store.get(&a.alert_id).expect("get").is_some(), "stored alert `{}` reads back", a.alert_id);
            }
        }
        Err(e) => assert!(e.to_string().contains("line "), "a refusal names its line: {e}"),
    }
}
