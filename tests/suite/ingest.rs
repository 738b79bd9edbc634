//! Ingest: every format and dialect, bad input to quarantine, counts that reconcile.

use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use mirrorflow::config::Config;
use mirrorflow::ingest::{IngestState, open_transactions};

use super::common::*;

/// Reads a ledger file fully: (accepted rows, rejected as (line, field, reason)).
fn read_all(path: &std::path::Path, cfg: &Config) -> (Vec<RecordBatch>, Vec<(u64, String, String)>, u64) {
    let mut r = open_transactions(path, &cfg.input).unwrap();
    let mut st = IngestState::default();
    let (mut batches, mut rej, mut read) = (Vec::new(), Vec::new(), 0);
    while let Some(c) = r.next_chunk(&mut st).unwrap() {
        read += c.rows_read;
        for x in &c.rejected {
            rej.push((x.line, x.field.clone(), x.reason.as_str().to_string()));
        }
        batches.push(c.batch);
    }
    (batches, rej, read)
}

fn ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("tx_id")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn col_strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            c.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect::<Vec<_>>()
        })
        .collect()
}

const BAD_ROWS: &[&str] = &[
    "t1,2026-03-01T10:00:00Z,,acct-1,9500.00,USD,cash_deposit,US-IL,",
    "t2,not-a-time,a,b,10,USD,wire,,",
    "t3,2026-03-01T11:00:00Z,a,b,12.5x,USD,wire,,",
    "t4,2026-03-01T11:00:00Z,a,b,-5,USD,wire,,",
    ",2026-03-01T11:00:00Z,a,b,5,USD,wire,,",
    "t1,2026-03-02T11:00:00Z,a,b,5,USD,wire,,",
    "t5,2026-03-02T11:00:00Z,a,b",
    "t6,2026-03-02T11:00:00Z,a,b,0,USD,wire,,",
    "t7,2026-03-02T11:00:00Z,a,b,5,usd,wire,,\"memo, with \"\"quotes\"\"\"",
];

#[test]
fn bad_csv_rows_go_to_quarantine_with_line_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(dir.path(), BAD_ROWS);
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("transactions.csv")).unwrap();
    std::io::Write::write_all(&mut f, b"t8,2026-03-02T11:00:00Z,a\xff\xfe,b,5,USD,wire,,\n").unwrap();
    let (batches, rej, read) = read_all(&dir.path().join("transactions.csv"), &Config::default());
    assert_eq!(ids(&batches), ["t1", "t7"]);
    let expected: Vec<(u64, &str, &str)> = vec![
        (3, "ts", "bad_timestamp"),
        (4, "amount", "bad_amount"),
        (5, "amount", "non_positive_amount"),
        (6, "tx_id", "missing_field"),
        (7, "tx_id", "duplicate_tx_id"),
        (8, "record", "wrong_column_count"),
        (9, "amount", "non_positive_amount"),
        (11, "src_account", "invalid_utf8"),
    ];
    let got: Vec<(u64, &str, &str)> = rej.iter().map(|(l, f, r)| (*l, f.as_str(), r.as_str())).collect();
    assert_eq!(got, expected);
    assert_eq!(read, 10);
    assert_eq!(read, 2 + rej.len() as u64, "read = accepted + quarantined");
    // values: cash deposit has no source, currency upper-cased, quoted memo unescaped
    assert_eq!(col_strings(&batches, "src_account"), [None, Some("a".into())]);
    assert_eq!(col_strings(&batches, "currency"), [Some("USD".into()), Some("USD".into())]);
    assert_eq!(col_strings(&batches, "memo")[1].as_deref(), Some("memo, with \"quotes\""));
    assert_eq!(col_strings(&batches, "amount")[0].as_deref(), Some("9500.000000000000000000"));
}

#[test]
fn replay_writes_quarantine_and_a_reconciled_summary() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(&dir.path().join("ledger"), BAD_ROWS);
    let out = dir.path().join("out");
    let o = mirrorflow(
        &["replay", dir.path().join("ledger").to_str().unwrap(), "--out", out.to_str().unwrap(), "--progress", "off"],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["rows_read"], 9);
    assert_eq!(s["rows_accepted"], 2);
    assert_eq!(s["rows_quarantined"], 7);
    assert_eq!(s["reconciled"], true);
    assert_eq!(s["quarantined_by_reason"]["non_positive_amount"], 2);
    let q = jsonl(&out.join("quarantine.jsonl"));
    assert_eq!(q.len(), 7);
    let first = &q[0];
    assert_eq!(first["line"], 3);
    assert_eq!(first["field"], "ts");
    assert_eq!(first["raw"], "t2,not-a-time,a,b,10,USD,wire,,");
    assert!(first["file"].as_str().unwrap().ends_with("transactions.csv"));
    assert!(first["message"].as_str().unwrap().contains("line 3 of"), "{first}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("rows read 9") && stdout.contains("quarantined 7"), "{stdout}");
}

#[test]
fn gzipped_csv_reads_like_plain_csv() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(dir.path(), BAD_ROWS);
    let plain = std::fs::read(dir.path().join("transactions.csv")).unwrap();
    let gz_path = dir.path().join("t.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz_path).unwrap(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &plain).unwrap();
    enc.finish().unwrap();
    let cfg = Config::default();
    let (a, ra, _) = read_all(&dir.path().join("transactions.csv"), &cfg);
    let (b, rb, _) = read_all(&gz_path, &cfg);
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(ra, rb);
}

#[test]
fn ndjson_keeps_numbers_exact_and_quarantines_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transactions.jsonl");
    let mut text = String::new();
    text.push_str(r#"{"tx_id":"j1","ts":"2026-03-01T10:00:00Z","src_account":"tron:TX1","dst_account":"tron:TX2","amount":0.000000000000000001,"currency":"USDT","channel":"crypto"}"#);
    text.push('\n');
    text.push_str(r#"{"tx_id":"j2","ts":"2026-03-01T10:00:01+01:00","src_account":null,"dst_account":"b","amount":"9999.99","currency":"USD","channel":"cash_deposit","location":"US-TX"}"#);
    text.push('\n');
    text.push_str("{not json\n\n");
    text.push_str(r#"{"tx_id":"j3","ts":"2026-03-01T10:00:00Z","dst_account":"b","amount":1e3,"currency":"MXN"}"#);
    text.push('\n');
    text.push_str(r#"{"tx_id":"j4","ts":"2026-03-01T10:00:00Z","dst_account":"b","currency":"MXN"}"#);
    text.push('\n');
    std::fs::write(&p, text).unwrap();
    let (batches, rej, read) = read_all(&p, &Config::default());
    assert_eq!(ids(&batches), ["j1", "j2", "j3"]);
    assert_eq!(col_strings(&batches, "amount")[0].as_deref(), Some("0.000000000000000001"));
    assert_eq!(col_strings(&batches, "amount")[2].as_deref(), Some("1000.000000000000000000"));
    assert_eq!(col_strings(&batches, "ts")[1].as_deref(), Some("2026-03-01T09:00:01Z"));
    assert_eq!(rej, vec![(3, "record".into(), "bad_json".into()), (6, "amount".into(), "missing_field".into())]);
    assert_eq!(read, 5);
}

#[test]
fn canonical_parquet_round_trips_through_ingest() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(&dir.path().join("csv"), BAD_ROWS);
    std::fs::create_dir_all(dir.path().join("pq")).unwrap();
    let pq = dir.path().join("pq/transactions.parquet");
    let o =
        mirrorflow(&["ingest", dir.path().join("csv").to_str().unwrap(), "--to-parquet", pq.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rows_accepted"], 2);
    assert_eq!(report["reconciled"], true);
    let cfg = Config::default();
    let (a, _, _) = read_all(&dir.path().join("csv/transactions.csv"), &cfg);
    let (b, rej, read) = read_all(&pq, &cfg);
    assert!(rej.is_empty());
    assert_eq!(read, 2);
    for col in ["tx_id", "ts", "src_account", "amount", "currency", "memo"] {
        assert_eq!(col_strings(&a, col), col_strings(&b, col), "{col}");
    }
}

#[test]
fn parquet_with_other_types_is_validated_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transactions.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("tx_id", DataType::Int64, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("src_account", DataType::Utf8, true),
        Field::new("dst_account", DataType::Utf8, true),
        Field::new("amount", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Int64Array::from(vec![1_772_373_909, 1_772_373_909_000, 1_772_373_910])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(StringArray::from(vec!["b", "b", "d"])),
            Arc::new(StringArray::from(vec!["12.50", "99.999999", "abc"])),
            Arc::new(StringArray::from(vec!["USD", "CNY", "USD"])),
        ],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (batches, rej, read) = read_all(&p, &Config::default());
    assert_eq!(ids(&batches), ["1", "2"]);
    assert_eq!(col_strings(&batches, "ts"), [Some("2026-03-01T14:05:09Z".into()), Some("2026-03-01T14:05:09Z".into())]);
    assert_eq!(rej, vec![(3, "amount".into(), "bad_amount".into())]);
    assert_eq!(read, 3);
}

#[test]
fn a_column_mapping_reads_another_export_without_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("export.csv");
    std::fs::write(
        &p,
        "Ref;When;From;To;Value;Ccy;Type\nR1;01/03/2026 10:15;A1;B1;100,00;USD;Credit Card\nR2;01/03/2026 10:16;A1;B2;250.5;usd;Wire\n",
    )
    .unwrap();
    let cfg = Config::from_toml_str(
        r#"
[input]
csv-delimiter = ";"
ts-format = "%d/%m/%Y %H:%M"
[input.columns]
tx_id = "Ref"
ts = "When"
src_account = "From"
dst_account = "To"
amount = "Value"
currency = "Ccy"
channel = "Type"
[input.channel-values]
"Credit Card" = "card"
"Wire" = "wire"
"#,
    )
    .unwrap();
    let (batches, rej, _) = read_all(&p, &cfg);
    assert_eq!(ids(&batches), ["R2"]);
    assert_eq!(rej, vec![(2, "amount".into(), "bad_amount".into())], "a decimal comma is not a decimal");
    assert_eq!(col_strings(&batches, "channel"), [Some("wire".into())]);
    assert_eq!(col_strings(&batches, "ts"), [Some("2026-03-01T10:16:00Z".into())]);
    // a missing mapped column is a file-level error naming the column
    let bad = Config::from_toml_str("[input]\ncsv-delimiter = \";\"\n[input.columns]\ntx_id = \"Nope\"\n").unwrap();
    let err = open_transactions(&p, &bad.input).err().unwrap().to_string();
    assert!(err.contains("export.csv") && err.contains("`Nope`"), "{err}");
}

#[test]
fn amlworld_dialect_is_read_with_bank_qualified_accounts_and_labels() {
    let p = root().join("fixtures/dialects/amlworld_sample.csv");
    let (batches, rej, read) = read_all(&p, &Config::default());
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(read, 6);
    assert_eq!(ids(&batches)[0], "aw-2");
    assert_eq!(col_strings(&batches, "src_account")[0].as_deref(), Some("010/8000EBD30"));
    assert_eq!(col_strings(&batches, "dst_account")[0].as_deref(), Some("010/8000EBD30"));
    assert_eq!(col_strings(&batches, "currency")[2].as_deref(), Some("EUR"));
    assert_eq!(col_strings(&batches, "channel")[0].as_deref(), Some("internal"));
    assert_eq!(col_strings(&batches, "ts")[0].as_deref(), Some("2022-09-01T00:20:00Z"));
    let labels = col_strings(&batches, "label_laundering");
    assert_eq!(labels.iter().filter(|l| l.as_deref() == Some("true")).count(), 2);
}

#[test]
fn amlsim_output_is_read_whole_with_labels_carried() {
    let p = external().join("amlsim12k/transactions.csv.gz");
    let (batches, rej, read) = read_all(&p, &Config::default());
    assert!(rej.is_empty(), "first rejections: {:?}", &rej[..rej.len().min(3)]);
    assert_eq!(read, 520_559);
    let labels = col_strings(&batches, "label_laundering");
    let sar = labels.iter().filter(|l| l.as_deref() == Some("true")).count();
    let schemes: std::collections::BTreeSet<String> =
        col_strings(&batches, "label_scheme").into_iter().flatten().collect();
    // the README: 1,794 laundering transactions in 250 alerts (bipartite/stack add more sar rows)
    assert!(sar >= 1_794, "{sar}");
    assert!(schemes.len() >= 250, "{}", schemes.len());
    assert_eq!(col_strings(&batches, "channel")[0].as_deref(), Some("wire"));
    assert_eq!(col_strings(&batches, "currency")[0].as_deref(), Some("USD"));
}

#[test]
fn unreadable_inputs_stop_with_an_error_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let empty = dir.path().join("transactions.csv");
    std::fs::write(&empty, "").unwrap();
    let e = open_transactions(&empty, &cfg.input).err().unwrap().to_string();
    assert!(e.contains("transactions.csv") && e.contains("header"), "{e}");
    let garbage = dir.path().join("x.parquet");
    std::fs::write(&garbage, "not parquet at all").unwrap();
    let e = open_transactions(&garbage, &cfg.input).err().unwrap().to_string();
    assert!(e.contains("x.parquet") && e.contains("Parquet"), "{e}");
    let e = open_transactions(&dir.path().join("missing.csv"), &cfg.input).err().unwrap().to_string();
    assert!(e.contains("missing.csv"), "{e}");
    let e = open_transactions(&dir.path().join("ledger.xlsx"), &cfg.input).err().unwrap().to_string();
    assert!(e.contains("ledger.xlsx") && e.contains("format"), "{e}");
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "id,when\n1,2\n").unwrap();
    let e = open_transactions(&other, &cfg.input).err().unwrap().to_string();
    assert!(e.contains("`tx_id`") && e.contains("`amount`"), "every missing column is named: {e}");
}

#[test]
fn accounts_and_fx_tables_are_read_and_bad_rows_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(dir.path(), &["t1,2026-03-01T10:00:00Z,us-1,mx-1,1000,MXN,wire,,"]);
    std::fs::write(
        dir.path().join("accounts.csv"),
        "account_id,customer_id,country,opened_at,monthly_income_usd,occupation\nus-1,c1,US,2025-12-01,2500,student\nmx-1,c2,MX,yesterday,,\nus-1,c1,US,,,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fx_rates.csv"),
        "date,currency,usd_per_unit\n2026-02-01,MXN,0.05\n2026-03-01,XXX,-1\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let cfg = test_config(&out, "write-ordered = true\n");
    let s = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(mirrorflow::app::replay(&cfg, dir.path(), &Default::default()))
        .unwrap();
    assert_eq!(s.accounts_rows, 3);
    assert_eq!(s.fx_rate_rows, 2);
    assert_eq!(s.side_table_rows_quarantined, 3);
    let q = jsonl(&out.join("quarantine.jsonl"));
    let fields: Vec<&str> = q.iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["opened_at", "account_id", "usd_per_unit"]);
    // the file's MXN rate (0.05) wins over the bundled one: 1000 MXN = 50 USD
    let f = std::fs::File::open(out.join("ordered.parquet")).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let usd = arrow::compute::cast(b.column_by_name("amount_usd").unwrap(), &DataType::Utf8).unwrap();
    assert_eq!(usd.as_string::<i32>().value(0), "50.000000");
}

#[test]
fn quoted_newlines_and_stray_quotes_keep_line_numbers_right() {
    let dir = tempfile::tempdir().unwrap();
    csv_ledger(
        dir.path(),
        &[
            "q1,2026-03-01T10:00:00Z,a,b,10,USD,wire,,\"two\nlines\"",
            "q2,2026-03-01T10:00:00Z,a,b,10,USD,card,,12\" TV",
            "q3,bad,a,b,10,USD,wire,,",
        ],
    );
    let (batches, rej, read) = read_all(&dir.path().join("transactions.csv"), &Config::default());
    assert_eq!(ids(&batches), ["q1", "q2"]);
    assert_eq!(col_strings(&batches, "memo"), [Some("two\nlines".into()), Some("12\" TV".into())]);
    assert_eq!(rej, vec![(5, "ts".into(), "bad_timestamp".into())]);
    assert_eq!(read, 3);
}

#[test]
fn amlsim_tx_log_is_read_with_day_steps_and_line_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tx_log.csv");
    std::fs::write(
        &p,
        "step,type,amount,nameOrig,oldbalanceOrig,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isSAR,alertID\n\
         0,TRANSFER,100.5,A1,1000,899.5,B1,0,100.5,0,-1\n\
         3,CASH-IN,250,A2,0,0,A2,0,250,1,7\n",
    )
    .unwrap();
    let (batches, rej, read) = read_all(&p, &Config::default());
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(read, 2);
    assert_eq!(ids(&batches), ["sim-2", "sim-3"]);
    assert_eq!(col_strings(&batches, "ts"), [Some("2017-01-01T00:00:00Z".into()), Some("2017-01-04T00:00:00Z".into())]);
    assert_eq!(col_strings(&batches, "channel"), [Some("wire".into()), Some("cash_deposit".into())]);
    assert_eq!(col_strings(&batches, "label_scheme"), [None, Some("7".into())]);
}
