//! Side tables kept current while a live job runs (`live.side-refresh`), through the
//! binary: a followed directory of transactions, with the accounts table in a file and the
//! FX rates in a directory of daily files. Rows that arrive after a table changed are
//! enriched with the new one; a bad row of the new table is quarantined and counted
//! apart from transactions.

use std::time::Duration;

use arrow::array::{Array, AsArray};

use super::common::*;

/// (tx_id, dst_country, amount_usd) of every row the detectors saw, in order.
fn enriched(out: &std::path::Path) -> Vec<(String, Option<String>, Option<String>)> {
    let f = std::fs::File::open(out.join("ordered.parquet")).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut rows = Vec::new();
    for b in r {
        let b = b.unwrap();
        let id = b.column_by_name("tx_id").unwrap().as_string::<i32>();
        let country = b.column_by_name("dst_country").unwrap().as_string::<i32>();
        let usd = b.column_by_name("amount_usd").unwrap();
        let usd = arrow::util::display::ArrayFormatter::try_new(usd.as_ref(), &Default::default()).unwrap();
        for i in 0..b.num_rows() {
            let u = usd.value(i).to_string();
            rows.push((
                id.value(i).to_string(),
                country.is_valid(i).then(|| country.value(i).to_string()),
                (!u.is_empty()).then_some(u),
            ));
        }
    }
    rows
}

/// Waits (up to a minute) until the job's `/metrics` at `addr` shows `metric` at `at_least`.
fn wait_metric(addr: &str, metric: &str, at_least: f64) {
    let started = std::time::Instant::now();
    loop {
        let value: f64 = std::net::TcpStream::connect(addr)
            .ok()
            .map(|_| super::serve::http(addr, "GET", "/metrics", None, None).1)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(metric))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if value >= at_least {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{metric} stayed below {at_least}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_live_job_enriches_later_rows_with_side_tables_changed_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let rates = dir.path().join("rates");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&rates).unwrap();
    let accounts = dir.path().join("accounts.csv");
    std::fs::write(&accounts, "account_id,customer_id,country\nUS-1,C1,US\n").unwrap();
    // a currency the bundled rates do not know: no USD value until a rate file says so
    std::fs::write(rates.join("2026-03-01.csv"), "date,currency,usd_per_unit\n2026-03-01,XTS,2\n").unwrap();
    let out = dir.path().join("out");
    let cfg_path = dir.path().join("live.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[live]\nsource = \"dir\"\ndir = \"{}\"\naccounts = \"{}\"\nfx-rates = \"{}\"\npoll-interval = \"100ms\"\n\
             settle = \"200ms\"\nidle-exit = \"10s\"\nidle-advance = \"300ms\"\nside-refresh = \"200ms\"\n[output]\nwrite-ordered = true\nprogress = \"off\"\n",
            inbox.display(),
            accounts.display(),
            rates.display()
        ),
    )
    .unwrap();
    let metrics =
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let (inbox2, accounts2, rates2, metrics2) = (inbox.clone(), accounts.clone(), rates.clone(), metrics.clone());
    let drop_file = move |name: &str, rows: &str| {
        let tmp = inbox2.join(format!(".{name}"));
        std::fs::write(&tmp, format!("{HEADER}\n{rows}")).unwrap();
        std::fs::rename(&tmp, inbox2.join(name)).unwrap();
    };
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        drop_file("1.csv", "t1,2026-03-02T08:00:00Z,US-1,MX-1,10,XTS,wire,,\n");
        // t1 went through the detectors with the first tables
        wait_metric(&metrics2, "mirrorflow_rows_accepted_total", 1.0);
        // MX-1 becomes known (and one bad row is refused); XTS gets a new rate from a new file
        let tmp = accounts2.with_extension("tmp");
        std::fs::write(
            &tmp,
            "account_id,customer_id,country,opened_at\nUS-1,C1,US,\nMX-1,C2,MX,\nBAD,C3,MX,not-a-date\n",
        )
        .unwrap();
        std::fs::rename(&tmp, &accounts2).unwrap();
        std::fs::write(rates2.join("2026-03-02.csv"), "date,currency,usd_per_unit\n2026-03-02,XTS,3\n").unwrap();
        // ten refresh intervals: the watcher has read both again (they are swapped in
        // before the next batch)
        std::thread::sleep(Duration::from_secs(2));
        drop_file("2.csv", "t2,2026-03-02T09:00:00Z,US-1,MX-1,10,XTS,wire,,\n");
    });
    let o = mirrorflow(
        &["--config", cfg_path.to_str().unwrap(), "run", "--out", out.to_str().unwrap(), "--metrics-addr", &metrics],
        None,
    );
    writer.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = enriched(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
    // t1: MX-1 unknown, XTS at the first file's rate (2 USD)
    assert_eq!(rows[0].0, "t1");
    assert_eq!(rows[0].1, None, "{rows:?}");
    assert!(rows[0].2.as_deref().is_some_and(|u| u.starts_with("20")), "{rows:?}");
    // t2: after the refresh: MX-1 is in Mexico, and the day's new rate (3 USD) applies
    assert_eq!(rows[1].0, "t2");
    assert_eq!(rows[1].1.as_deref(), Some("MX"), "{rows:?}");
    assert!(rows[1].2.as_deref().is_some_and(|u| u.starts_with("30")), "{rows:?}");
    let s = summary(&out);
    assert!(s["side_table_refreshes"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["accounts_rows"], 3, "{s}");
    assert_eq!(s["side_table_rows_quarantined"], 1, "{s}");
    // transactions still reconcile: the refused account row is counted apart
    assert_eq!(s["rows_read"], 2);
    assert_eq!(s["rows_accepted"], 2);
    assert_eq!(s["reconciled"], true, "{s}");
    let q = jsonl(&out.join("quarantine.jsonl"));
    assert!(
        q.iter().any(|r| r["file"].as_str().unwrap().ends_with("accounts.csv")
            && r["line"] == 4
            && r["field"] == "opened_at"),
        "{q:?}"
    );
}
