//! Tests of the generator over whole ledgers: determinism, exact row counts, every
//! typology present and meeting its thresholds (re-checked from the written files where
//! practical), near misses unlabelled, look-alikes outside the structuring defaults, and
//! Parquet output equal to the CSV output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;

use super::model::{LOCAL, Typ};
use super::schemes::{Env, Plan, instantiate, plan};
use super::*;
use mirrorflow_core::money::parse_decimal;

fn opts(dir: &Path, rows: u64, seed: u64) -> GenOptions {
    GenOptions {
        out: dir.to_path_buf(),
        seed,
        rows,
        format: GenFormat::Csv,
        start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        days: None,
    }
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn fields(line: &str) -> Vec<String> {
    crate::eval::split_csv(line).expect("balanced quotes")
}

/// A CSV file as header-keyed rows.
fn table(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    lines
        .map(|l| {
            let f = fields(l);
            assert_eq!(f.len(), header.len(), "{}: {l}", path.display());
            header.iter().cloned().zip(f).collect()
        })
        .collect()
}

fn cents_of(amount: &str) -> i64 {
    (parse_decimal(amount.as_bytes(), 2).unwrap()) as i64
}

struct Ledger {
    txs: Vec<BTreeMap<String, String>>,
    by_id: BTreeMap<String, usize>,
    labels: Vec<BTreeMap<String, String>>,
    accounts: BTreeMap<String, BTreeMap<String, String>>,
    populations: BTreeMap<String, String>,
    /// (date, currency) -> usd per unit at scale 18
    fx: BTreeMap<(String, String), i128>,
}

impl Ledger {
    fn read(dir: &Path) -> Ledger {
        let txs = table(&dir.join("transactions.csv"));
        let by_id = txs.iter().enumerate().map(|(i, t)| (t["tx_id"].clone(), i)).collect();
        let accounts = table(&dir.join("accounts.csv")).into_iter().map(|a| (a["account_id"].clone(), a)).collect();
        let populations = table(&dir.join("populations.csv"))
            .into_iter()
            .map(|p| (p["account_id"].clone(), p["population"].clone()))
            .collect();
        let fx = table(&dir.join("fx_rates.csv"))
            .into_iter()
            .map(|r| {
                ((r["date"].clone(), r["currency"].clone()), parse_decimal(r["usd_per_unit"].as_bytes(), 18).unwrap())
            })
            .collect();
        Ledger { txs, by_id, labels: table(&dir.join("labels.csv")), accounts, populations, fx }
    }

    /// USD cents of a transaction at its day's rate from `fx_rates.csv`.
    fn usd(&self, t: &BTreeMap<String, String>) -> i64 {
        let amount = parse_decimal(t["amount"].as_bytes(), 18).unwrap();
        let rate = self.fx[&(t["ts"][..10].to_string(), t["currency"].clone())];
        (mirrorflow_core::money::to_usd(amount, rate).unwrap() / 10_000) as i64
    }

    fn ts(t: &BTreeMap<String, String>) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&t["ts"]).unwrap().timestamp()
    }

    /// Scheme id -> (typology, variant, transaction indices).
    fn schemes(&self) -> BTreeMap<String, (String, String, Vec<usize>)> {
        let mut m: BTreeMap<String, (String, String, Vec<usize>)> = BTreeMap::new();
        for l in &self.labels {
            let e =
                m.entry(l["scheme_id"].clone()).or_insert((l["typology"].clone(), l["variant"].clone(), Vec::new()));
            e.2.push(self.by_id[&l["tx_id"]]);
        }
        m
    }
}

fn demo(rows: u64, seed: u64) -> (tempfile::TempDir, GenReport, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let report = generate(&opts(dir.path(), rows, seed)).unwrap();
    let ledger = Ledger::read(dir.path());
    (dir, report, ledger)
}

#[test]
fn same_options_give_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let ra = generate(&opts(a.path(), 4_000, 11)).unwrap();
    generate(&opts(b.path(), 4_000, 11)).unwrap();
    generate(&opts(c.path(), 4_000, 12)).unwrap();
    for f in &ra.files {
        let name = f.file_name().unwrap();
        let x = std::fs::read(a.path().join(name)).unwrap();
        let y = std::fs::read(b.path().join(name)).unwrap();
        assert!(x == y, "{} differs between two runs", name.to_string_lossy());
    }
    let x = std::fs::read(a.path().join("transactions.csv")).unwrap();
    let z = std::fs::read(c.path().join("transactions.csv")).unwrap();
    assert_ne!(x, z, "another seed gives another ledger");
}

#[test]
fn row_count_is_exact_and_rows_are_in_time_order() {
    for (rows, days) in [(5_000u64, None), (777, None), (20_000, Some(7)), (60, None)] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path(), rows, 3);
        o.days = days;
        let report = generate(&o).unwrap();
        assert_eq!(report.transactions, rows);
        let txs = table(&dir.path().join("transactions.csv"));
        assert_eq!(txs.len() as u64, rows);
        let mut prev = i64::MIN;
        for (i, t) in txs.iter().enumerate() {
            assert_eq!(t["tx_id"], format!("T{:010}", i + 1));
            assert!(t["ts"].ends_with('Z'));
            let ts = Ledger::ts(t);
            assert!(ts >= prev, "row {} goes back in time", i + 1);
            prev = ts;
            assert!(parse_decimal(t["amount"].as_bytes(), 18).unwrap() > 0);
            assert!(mirrorflow_core::schema::KNOWN_CHANNELS.contains(&t["channel"].as_str()));
        }
        let last_day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(days.unwrap_or(30) as u64);
        assert!(txs.last().unwrap()["ts"].as_str() < last_day.format("%Y-%m-%d").to_string().as_str());
    }
}

#[test]
fn demo_ledger_has_every_typology_and_variant() {
    let (_dir, report, l) = demo(5_000, 1);
    let schemes = l.schemes();
    let typs: BTreeSet<&str> = schemes.values().map(|s| s.0.as_str()).collect();
    for t in Typ::ALL {
        assert!(typs.contains(t.code()), "no {} scheme in 5,000 rows", t.code());
    }
    let t6: Vec<_> = schemes.values().filter(|s| s.0 == "T6").collect();
    assert!(t6.len() >= 10, "only {} mirror swaps", t6.len());
    let variants: BTreeSet<&str> = t6.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(variants, ["crypto", "customer_id", "netted", "none", "phone"].into_iter().collect());
    for s in schemes.values().filter(|s| s.0 != "T6") {
        assert_eq!(s.1, "", "variant on a {} scheme", s.0);
    }
    assert!(report.near_misses >= 26, "{} near misses", report.near_misses);
    let total: u64 = report.schemes_by_typology.values().sum();
    assert_eq!(total as usize, schemes.len());
    // at least one transaction is in two schemes (structured cash of a mirror swap)
    let mut per_tx: BTreeMap<&str, usize> = BTreeMap::new();
    for lab in &l.labels {
        *per_tx.entry(lab["tx_id"].as_str()).or_default() += 1;
    }
    assert!(per_tx.values().any(|&n| n >= 2));
    assert_eq!(report.labelled_transactions as usize, per_tx.len());
}

#[test]
fn labels_and_accounts_are_consistent() {
    let (dir, report, l) = demo(5_000, 2);
    assert_eq!(report.accounts as usize, l.accounts.len());
    let label_header = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
    assert!(label_header.starts_with("tx_id,scheme_id,typology,variant,leg\n"));
    let acct_header = std::fs::read_to_string(dir.path().join("accounts.csv")).unwrap();
    assert!(acct_header.starts_with(
        "account_id,customer_id,country,region,institution,kind,opened_at,nationality,occupation,\
         monthly_income_usd,industry,phone_hash,address_hash,device_hash,watchlist\n"
    ));
    let mut seen = BTreeSet::new();
    for lab in &l.labels {
        assert!(l.by_id.contains_key(&lab["tx_id"]), "label for unknown {}", lab["tx_id"]);
        assert!(lab["scheme_id"].starts_with('S') && lab["scheme_id"].len() == 7);
        assert!(seen.insert((lab["tx_id"].clone(), lab["scheme_id"].clone())), "duplicate label row");
    }
    // every account in a transaction is in accounts.csv and has a population
    assert_eq!(l.accounts.keys().collect::<Vec<_>>(), l.populations.keys().collect::<Vec<_>>());
    for t in &l.txs {
        for side in ["src_account", "dst_account"] {
            let a = &t[side];
            if !a.is_empty() {
                assert!(l.accounts.contains_key(a), "{a} missing from accounts.csv");
            }
        }
        match t["channel"].as_str() {
            "cash_deposit" => assert!(t["src_account"].is_empty() && !t["location"].is_empty()),
            "cash_withdrawal" => assert!(t["dst_account"].is_empty()),
            "crypto" => assert!(t["src_account"].contains(':') && t["dst_account"].contains(':')),
            _ => {}
        }
    }
    // labelled transactions only touch scheme accounts and shared infrastructure;
    // near-miss accounts are never in a labelled transaction
    let labelled: BTreeSet<usize> = l.labels.iter().map(|lab| l.by_id[&lab["tx_id"]]).collect();
    for &i in &labelled {
        for side in ["src_account", "dst_account"] {
            let a = &l.txs[i][side];
            if a.is_empty() {
                continue;
            }
            let pop = l.populations[a].as_str();
            assert!(matches!(pop, "scheme" | "exchange" | "student_tuition"), "labelled tx touches {pop}");
        }
    }
    let pops: BTreeSet<&str> = l.populations.values().map(String::as_str).collect();
    for p in [
        "ordinary",
        "merchant",
        "payroll_employer",
        "cash_restaurant",
        "msb_remittance",
        "student_tuition",
        "china_trade",
        "retail_crypto",
        "marketplace",
        "exchange",
        "scheme",
        "near_miss",
    ] {
        assert!(pops.contains(p), "no {p} accounts");
    }
    let near_miss_txs = l
        .txs
        .iter()
        .filter(|t| {
            [&t["src_account"], &t["dst_account"]]
                .iter()
                .any(|a| l.populations.get(*a).is_some_and(|p| p == "near_miss"))
        })
        .count();
    assert!(near_miss_txs > 20, "only {near_miss_txs} near-miss transactions");
    // wallets carry chain-qualified ids; hashes are 16 hex digits
    assert!(l.accounts.keys().any(|a| a.starts_with("tron:T")));
    assert!(l.accounts.keys().any(|a| a.starts_with("eth:0x")));
    for a in l.accounts.values() {
        for h in ["phone_hash", "address_hash", "device_hash"] {
            assert!(a[h].is_empty() || (a[h].len() == 16 && a[h].bytes().all(|b| b.is_ascii_hexdigit())));
        }
    }
}

/// Deposits of a scheme's transactions into each account: (ts, usd cents, location).
fn deposits_by_account(l: &Ledger, txs: &[usize]) -> BTreeMap<String, Vec<(i64, i64, String)>> {
    let mut m: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    for &i in txs {
        let t = &l.txs[i];
        if t["channel"] == "cash_deposit" {
            m.entry(t["dst_account"].clone()).or_default().push((Ledger::ts(t), l.usd(t), t["location"].clone()));
        }
    }
    m
}

fn t1_holds(deps: &[(i64, i64, String)]) -> bool {
    let band: Vec<i64> = deps.iter().filter(|d| (800_000..1_000_000).contains(&d.1)).map(|d| d.0).collect();
    let pair = band.iter().any(|&a| band.iter().any(|&b| b > a && b - a <= 3 * 86_400));
    let mut days: BTreeMap<i64, i64> = BTreeMap::new();
    for d in deps {
        *days.entry(d.0.div_euclid(86_400)).or_default() += d.1;
    }
    let band_days: Vec<i64> = days.iter().filter(|(_, v)| (900_000..1_000_000).contains(*v)).map(|(d, _)| *d).collect();
    let daily = band_days.iter().any(|&d| band_days.iter().filter(|&&e| e >= d && e - d < 14).count() >= 3);
    pair || daily
}

#[test]
fn written_schemes_meet_their_thresholds() {
    let (_dir, _report, l) = demo(20_000, 5);
    let schemes = l.schemes();
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, (typ, variant, txs)) in &schemes {
        let rows: Vec<&BTreeMap<String, String>> = txs.iter().map(|&i| &l.txs[i]).collect();
        match typ.as_str() {
            "T1" => {
                let deps = deposits_by_account(&l, txs);
                assert!(deps.values().any(|d| t1_holds(d)), "{id}: T1 not met: {deps:?}");
                assert!(rows.iter().all(|t| t["channel"] == "cash_deposit"), "{id}: T1 labels only deposits");
            }
            "T6" if matches!(variant.as_str(), "customer_id" | "phone" | "none") => {
                let us: i64 = rows.iter().filter(|t| t["channel"] == "cash_deposit").map(|t| l.usd(t)).sum();
                let dep_ts: Vec<i64> =
                    rows.iter().filter(|t| t["channel"] == "cash_deposit").map(|t| Ledger::ts(t)).collect();
                for (cur, lo, hi) in [("CNY", -20_000i64, 60_000i64), ("MXN", -60_000, 10_000)] {
                    let leg: Vec<&&BTreeMap<String, String>> = rows.iter().filter(|t| t["currency"] == cur).collect();
                    assert_eq!(leg.len(), 1, "{id}: one {cur} leg");
                    let v = l.usd(leg[0]) as i128 * 1_000_000;
                    let us = us as i128;
                    assert!(
                        v >= us * (1_000_000 + lo as i128) && v <= us * (1_000_000 + hi as i128),
                        "{id}: {cur} leg off tolerance"
                    );
                    let ts = Ledger::ts(leg[0]);
                    assert!(dep_ts.iter().all(|d| (ts - d).abs() <= 24 * 3600), "{id}: {cur} leg more than 24 h away");
                }
                // how the broker's accounts are linked
                let accts: BTreeSet<&String> = rows
                    .iter()
                    .flat_map(|t| [&t["src_account"], &t["dst_account"]])
                    .filter(|a| !a.is_empty())
                    .collect();
                let shared = |col: &str| {
                    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
                    for a in &accts {
                        let v = l.accounts[*a][col].as_str();
                        if !v.is_empty() && l.populations[*a] == "scheme" {
                            *count.entry(v).or_default() += 1;
                        }
                    }
                    count.values().any(|&n| n >= 3)
                };
                match variant.as_str() {
                    "customer_id" => assert!(shared("customer_id"), "{id}: broker accounts share no customer"),
                    "phone" => assert!(shared("phone_hash") && !shared("customer_id"), "{id}: phone link"),
                    _ => assert!(!shared("phone_hash") && !shared("customer_id"), "{id}: unlinked"),
                }
            }
            "T6" if variant == "crypto" => {
                assert!(rows.iter().any(|t| t["currency"] == "USDT" && t["src_account"].starts_with("tron:")));
                let us: i64 = rows.iter().filter(|t| t["channel"] == "cash_deposit").map(|t| l.usd(t)).sum();
                let mx: Vec<_> = rows.iter().filter(|t| t["currency"] == "MXN").collect();
                assert_eq!(mx.len(), 1);
                let v = l.usd(mx[0]) as i128 * 100;
                assert!(v >= us as i128 * 94 && v <= us as i128 * 101, "{id}: MXN off tolerance");
                let first = rows.iter().map(|t| Ledger::ts(t)).min().unwrap();
                assert!(Ledger::ts(mx[0]) - first <= 24 * 3600);
            }
            "T6" => {
                let us: i64 = rows.iter().filter(|t| t["channel"] == "cash_deposit").map(|t| l.usd(t)).sum();
                for cur in ["CNY", "MXN"] {
                    let side: i64 = rows.iter().filter(|t| t["currency"] == cur).map(|t| l.usd(t)).sum();
                    assert!((side - us).abs() * 100 <= us * 5, "{id}: netted {cur} side {side} vs {us}");
                }
                let span = rows.iter().map(|t| Ledger::ts(t)).max().unwrap()
                    - rows.iter().map(|t| Ledger::ts(t)).min().unwrap();
                assert!(span <= 7 * 86_400);
            }
            "T7" => {
                // a closed, time-ordered walk keeping >= 85% per hop
                let mut hops: Vec<&&BTreeMap<String, String>> = rows.iter().collect();
                hops.sort_by_key(|t| Ledger::ts(t));
                assert!((2..=6).contains(&hops.len()));
                for w in hops.windows(2) {
                    assert_eq!(w[0]["dst_account"], w[1]["src_account"], "{id}: broken path");
                    assert!(l.usd(w[1]) * 100 >= l.usd(w[0]) * 85, "{id}: hop loses more than 15%");
                }
                assert_eq!(hops[0]["src_account"], hops[hops.len() - 1]["dst_account"], "{id}: not closed");
                assert!(Ledger::ts(hops[hops.len() - 1]) - Ledger::ts(hops[0]) <= 30 * 86_400);
            }
            "T11" => {
                let peel: Vec<_> = rows.iter().filter(|t| t["channel"] == "crypto").collect();
                if peel.len() >= 7 {
                    // 1-in/2-out hops: group by sender wallet
                    let mut outs: BTreeMap<&str, Vec<i128>> = BTreeMap::new();
                    for t in &peel {
                        outs.entry(t["src_account"].as_str())
                            .or_default()
                            .push(parse_decimal(t["amount"].as_bytes(), 18).unwrap());
                    }
                    let splits: Vec<_> = outs.values().filter(|v| v.len() == 2).collect();
                    assert!(splits.len() >= 3, "{id}: fewer than 3 peel hops");
                    for v in splits {
                        let (big, small) = (v[0].max(v[1]), v[0].min(v[1]));
                        assert!(
                            big * 100 >= (big + small) * 90 && big * 100 <= (big + small) * 99,
                            "{id}: split {big}:{small}"
                        );
                    }
                }
            }
            "T12" => {
                for t in &rows {
                    let flagged = l.accounts[&t["dst_account"]]["watchlist"] == "precursor_supplier";
                    assert!(flagged || super::oracle::has_cas_number(&t["memo"]), "{id}: neither CAS nor flag");
                    assert!(matches!(l.accounts[&t["dst_account"]]["country"].as_str(), "CN" | "HK"));
                }
            }
            _ => {}
        }
        *checked.entry(typ.as_str()).or_default() += 1;
    }
    assert_eq!(checked.len(), 13);
}

#[test]
fn every_plan_meets_its_thresholds() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let epoch = start.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let configs = [(5_000u64, 30u32), (300_000, 30), (50_000, 7), (200_000, 120), (40_000, 9)];
    for (k, (rows, days)) in configs.into_iter().enumerate() {
        for seed in [k as u64 + 1, k as u64 + 100] {
            let fx = Fx::new(seed, start, epoch, days);
            let layout = Layout::new(rows, days);
            let env = Env { seed, start_epoch: epoch, days, fx: &fx, layout: &layout, style: GenStyle::Classic };
            let plans: Vec<Plan> = plan(seed, rows, days, GenStyle::Classic);
            for p in &plans {
                let inst = instantiate(p, &env);
                assert!(
                    inst.valid.is_ok(),
                    "{:?} near_miss={} variant={} ({rows} rows, {days} days): {:?}",
                    p.typ,
                    p.near_miss,
                    p.variant,
                    inst.valid
                );
                assert!(!inst.txs.is_empty());
                if p.near_miss {
                    assert!(inst.schemes.is_empty());
                    assert!(inst.txs.iter().all(|t| t.labels == super::model::NO_LABELS));
                    assert!(inst.accounts.iter().all(|a| a.population == "near_miss"));
                } else {
                    assert_eq!(inst.schemes[0].0, p.typ);
                    assert!(inst.txs.iter().all(|t| t.labels[0] == 0));
                    for t in &inst.txs {
                        for r in [t.src, t.dst] {
                            assert!(
                                r == super::model::NONE
                                    || r & LOCAL == 0
                                    || ((r & !LOCAL) as usize) < inst.accounts.len()
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn restaurants_stay_outside_the_structuring_defaults() {
    let (_dir, _report, l) = demo(60_000, 9);
    let mut deps: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    for t in &l.txs {
        if t["channel"] == "cash_deposit" && l.populations[&t["dst_account"]] == "cash_restaurant" {
            deps.entry(t["dst_account"].clone()).or_default().push((Ledger::ts(t), l.usd(t), t["location"].clone()));
        }
    }
    assert!(deps.len() >= 3);
    let mut near = 0;
    for (a, d) in &deps {
        assert!(!t1_holds(d), "restaurant {a} meets T1");
        near += d.iter().filter(|x| x.1 >= 1_000_000 || (800_000..1_000_000).contains(&x.1)).count();
    }
    assert!(near > 0, "no restaurant day near or above $10,000");
}

#[test]
fn parquet_output_matches_csv_output() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    let csv = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 3_000, 21);
    o.format = GenFormat::Parquet;
    let report = generate(&o).unwrap();
    generate(&opts(csv.path(), 3_000, 21)).unwrap();
    assert!(report.files.iter().any(|f| f.ends_with("transactions.parquet")));
    let file = std::fs::File::open(dir.path().join("transactions.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let want = mirrorflow_core::schema::transactions_schema();
    assert_eq!(schema.fields().len(), 9);
    for f in schema.fields() {
        let w = want.field_with_name(f.name()).unwrap();
        assert_eq!(f.data_type(), w.data_type(), "column {}", f.name());
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, sink::TX_COLUMNS);
    let meta = builder.metadata().clone();
    assert!(meta.row_groups().iter().all(|g| g.num_rows() as usize <= sink::ROW_GROUP_ROWS));
    let rows = table(&csv.path().join("transactions.csv"));
    let mut i = 0;
    for batch in builder.build().unwrap() {
        let b = batch.unwrap();
        let id = b.column(0).as_string::<i32>();
        let ts = b.column(1).as_primitive::<TimestampMicrosecondType>();
        let src = b.column(2).as_string::<i32>();
        let amount = b.column(4).as_primitive::<Decimal128Type>();
        let memo = b.column(8).as_string::<i32>();
        for r in 0..b.num_rows() {
            let c = &rows[i];
            assert_eq!(id.value(r), c["tx_id"]);
            assert_eq!(ts.value(r) / 1_000_000, Ledger::ts(c));
            assert_eq!(if src.is_null(r) { "" } else { src.value(r) }, c["src_account"]);
            assert_eq!(mirrorflow_core::money::format_decimal(amount.value(r), 18), c["amount"]);
            assert_eq!(if memo.is_null(r) { "" } else { memo.value(r) }, c["memo"]);
            i += 1;
        }
    }
    assert_eq!(i, 3_000);
}

#[test]
fn fx_rates_cover_every_day_and_currency() {
    let (_dir, _report, l) = demo(2_000, 4);
    assert_eq!(l.fx.len(), 30 * 6);
    for t in &l.txs {
        assert!(l.fx.contains_key(&(t["ts"][..10].to_string(), t["currency"].clone())));
    }
    assert_eq!(cents_of("1"), 100);
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 100, 1);
    o.days = Some(3);
    let e = generate(&o).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    assert!(e.to_string().contains("--days"));
    let mut o = opts(dir.path(), 0, 1);
    o.days = None;
    assert!(matches!(generate(&o).unwrap_err(), Error::Usage(_)));
}

// ---------------------------------------------------------------------------------------
// The varied style, home currencies and the outside layouts.

fn surface(style: GenStyle, layout: GenLayout) -> GenSurface {
    GenSurface { style, layout, ..GenSurface::default() }
}

fn varied(rows: u64, seed: u64) -> (tempfile::TempDir, GenReport, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let report = generate_with(&opts(dir.path(), rows, seed), &surface(GenStyle::Varied, GenLayout::Contract)).unwrap();
    let ledger = Ledger::read(dir.path());
    (dir, report, ledger)
}

#[test]
fn varied_output_is_deterministic_in_every_layout() {
    for layout in [GenLayout::Contract, GenLayout::AmlWorld, GenLayout::AmlSim] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let s = surface(GenStyle::Varied, layout);
        let ra = generate_with(&opts(a.path(), 6_000, 11), &s).unwrap();
        generate_with(&opts(b.path(), 6_000, 11), &s).unwrap();
        assert!(ra.files.len() >= 5);
        for f in &ra.files {
            let name = f.file_name().unwrap();
            let x = std::fs::read(a.path().join(name)).unwrap();
            assert!(x == std::fs::read(b.path().join(name)).unwrap(), "{layout:?}: {name:?} differs");
        }
    }
    // and varied is not classic
    let (c, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&opts(c.path(), 6_000, 11)).unwrap();
    generate_with(&opts(d.path(), 6_000, 11), &surface(GenStyle::Varied, GenLayout::Contract)).unwrap();
    let tx = |p: &Path| std::fs::read(p.join("transactions.csv")).unwrap();
    assert_ne!(tx(c.path()), tx(d.path()));
}

#[test]
fn varied_look_alikes_carry_no_markers() {
    let (_dir, _report, l) = varied(30_000, 12);
    let pop = |a: &str| l.populations.get(a).map(String::as_str).unwrap_or("");
    let mut payroll = 0;
    let mut forms = BTreeSet::new();
    let mut staff: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in &l.txs {
        let (src, dst) = (t["src_account"].as_str(), t["dst_account"].as_str());
        let memo = t["memo"].to_ascii_uppercase();
        if pop(src) == "payroll_employer" && pop(dst) == "ordinary" && t["channel"] == "ach" {
            payroll += 1;
            assert!(!memo.contains("PAYROLL"), "payroll run with memo {memo}");
            forms.insert(memo.split(' ').next().unwrap_or("").to_string());
            staff.entry(src).or_default().insert(dst);
        }
        if pop(src) == "marketplace" {
            assert!(!memo.contains("SELLER PAYOUT"), "marketplace payout with memo {memo}");
        }
    }
    assert!(payroll >= 200, "{payroll} payroll payments");
    assert!(forms.len() >= 4 && forms.contains(""), "payroll memo forms {forms:?}");
    assert!(staff.values().any(|s| (15..=60).contains(&s.len())), "no employer with 15-60 staff");
    assert!(staff.values().all(|s| s.len() <= 60));
    // industry names: a wide vocabulary, some empty
    let industries: BTreeSet<&str> = l.accounts.values().map(|a| a["industry"].as_str()).collect();
    assert!(industries.len() >= 30, "{} industry names", industries.len());
    let restaurant_names: BTreeSet<&str> = l
        .accounts
        .values()
        .filter(|a| pop(&a["account_id"]) == "cash_restaurant")
        .map(|a| a["industry"].as_str())
        .collect();
    assert!(restaurant_names.len() >= 3, "restaurants all called {restaurant_names:?}");
    // restaurants: nightly takings cross the structuring band and the CTR line by chance
    let takings: Vec<i64> = l
        .txs
        .iter()
        .filter(|t| t["channel"] == "cash_deposit" && pop(&t["dst_account"]) == "cash_restaurant")
        .map(|t| cents_of(&t["amount"]))
        .collect();
    assert!(takings.iter().any(|c| (800_000..1_000_000).contains(c)), "no restaurant night in [8k, 10k)");
    assert!(takings.iter().any(|c| *c >= 1_000_000), "no restaurant night of 10k+");
    // none of the classic fixed memos survives
    for fixed in ["rent", "utility bill", "seller payout", "prefunding", "remittance", "SPEI remesa", "living expenses"]
    {
        assert!(l.txs.iter().all(|t| t["memo"] != fixed), "a memo `{fixed}` in the varied style");
    }
}

#[test]
fn varied_ledgers_have_network_mirror_swaps() {
    let mut events = 0;
    let (mut split_cny, mut no_kyc) = (false, false);
    for seed in [11, 12] {
        let (_dir, _report, l) = varied(20_000, seed);
        let mut legs: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
        for lab in l.labels.iter().filter(|x| x["variant"] == "network") {
            legs.entry(lab["scheme_id"].as_str()).or_default().push((lab["leg"].as_str(), l.by_id[&lab["tx_id"]]));
        }
        assert!(legs.len() >= 3, "seed {seed}: {} network events", legs.len());
        for (id, v) in &legs {
            events += 1;
            let of = |leg: &str| v.iter().filter(|x| x.0 == leg).map(|x| &l.txs[x.1]).collect::<Vec<_>>();
            let (cash, cn, mx, benef) = (of("us_cash"), of("cn"), of("mx"), of("beneficiary"));
            assert!(v.iter().all(|x| ["us_cash", "cn", "mx", "beneficiary"].contains(&x.0)), "{id}: unlabelled leg");
            let nominees: BTreeSet<&str> = cash.iter().map(|t| t["dst_account"].as_str()).collect();
            let states: BTreeSet<&str> = cash.iter().map(|t| t["location"].as_str()).collect();
            assert!(
                nominees.len() >= 3 && states.len() >= 2,
                "{id}: {} nominees, {} states",
                nominees.len(),
                states.len()
            );
            assert!(cash.iter().all(|t| cents_of(&t["amount"]) < 1_000_000), "{id}: a deposit of 10k+");
            let us: i64 = cash.iter().map(|t| l.usd(t)).sum();
            assert!(us >= 10_000_000, "{id}: only {us} cents of cash");
            assert!(!cn.is_empty() && !mx.is_empty() && !benef.is_empty(), "{id}: a side is missing");
            let brokers: BTreeSet<&str> = cn.iter().map(|t| t["dst_account"].as_str()).collect();
            split_cny |= cn.len() >= 2 && brokers.len() >= 2;
            // nominees are new accounts of students or low-income customers
            for n in &nominees {
                let a = &l.accounts[*n];
                assert!(a["opened_at"].as_str() > "2024-11-01", "{id}: nominee {n} opened {}", a["opened_at"]);
            }
            let attrs = |c: &str| nominees.iter().map(|n| l.accounts[*n][c].clone()).collect::<BTreeSet<_>>().len();
            no_kyc |=
                ["customer_id", "phone_hash", "device_hash", "address_hash"].iter().all(|c| attrs(c) == nominees.len());
        }
    }
    assert!(events >= 6);
    assert!(split_cny, "no event with two CNY legs into two broker accounts");
    assert!(no_kyc, "no network without a shared KYC attribute");
}

#[test]
fn varied_plans_meet_their_thresholds() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let epoch = start.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    for (rows, days, seed) in [(5_000u64, 30u32, 101u64), (300_000, 30, 11), (200_000, 120, 13), (40_000, 9, 5)] {
        let fx = Fx::new(seed, start, epoch, days);
        let layout = Layout::new(rows, days);
        let env = Env { seed, start_epoch: epoch, days, fx: &fx, layout: &layout, style: GenStyle::Varied };
        let plans = plan(seed, rows, days, GenStyle::Varied);
        assert!(plans.iter().any(|p| p.typ == Typ::T6 && p.variant == 5));
        for p in &plans {
            let inst = instantiate(p, &env);
            assert!(
                inst.valid.is_ok(),
                "{:?} variant={} ({rows} rows, {days} days): {:?}",
                p.typ,
                p.variant,
                inst.valid
            );
        }
    }
}

#[test]
fn a_home_currency_and_an_amount_scale_keep_every_transaction() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&opts(a.path(), 5_000, 4)).unwrap();
    let s = GenSurface { currency: Some("SEK".into()), amount_scale: Some("0.5".into()), ..GenSurface::default() };
    generate_with(&opts(b.path(), 5_000, 4), &s).unwrap();
    let (x, y) = (Ledger::read(a.path()), Ledger::read(b.path()));
    assert_eq!(x.txs.len(), y.txs.len());
    assert_eq!(x.labels, y.labels, "labels keep their transactions");
    for (t, u) in x.txs.iter().zip(&y.txs) {
        assert_eq!((&t["tx_id"], &t["ts"], &t["channel"]), (&u["tx_id"], &u["ts"], &u["channel"]));
        let (ta, ua) =
            (parse_decimal(t["amount"].as_bytes(), 18).unwrap(), parse_decimal(u["amount"].as_bytes(), 18).unwrap());
        assert!(ua > 0);
        if t["currency"] == "USD" {
            assert_eq!(u["currency"], "SEK");
            // about 10.5 SEK a dollar, halved
            assert!(ua > ta * 4 && ua < ta * 7, "{} USD -> {} SEK", t["amount"], u["amount"]);
        } else {
            assert_eq!(t["currency"], u["currency"]);
            let dec = super::model::Cur::ALL.iter().find(|c| c.code() == t["currency"]).unwrap().decimals();
            assert_eq!(ua, scaled(ta, (1, 2), dec));
        }
        // SEK has a rate on every day
        assert!(y.fx.contains_key(&(u["ts"][..10].to_string(), u["currency"].clone())));
    }
}

#[test]
fn amlsim_alert_transactions_score_with_eval() {
    let dir = tempfile::tempdir().unwrap();
    let report = generate_with(&opts(dir.path(), 5_000, 13), &surface(GenStyle::Classic, GenLayout::AmlSim)).unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(&alerts, "").unwrap();
    for labels in ["alert_transactions.csv", "labels.csv"] {
        let r = crate::eval::evaluate(&crate::eval::EvalOptions {
            labels: dir.path().join(labels),
            alerts: alerts.clone(),
            populations: None,
        })
        .unwrap();
        assert_eq!(r.schemes, report.schemes_by_typology.values().sum::<u64>(), "{labels}");
    }
    assert!(dir.path().join("amlsim_accounts.csv").exists());
}

#[test]
fn bad_surfaces_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 100, 1);
    let bad = [
        GenSurface { currency: Some("XYZ".into()), ..GenSurface::default() },
        GenSurface { currency: Some("CNY".into()), ..GenSurface::default() },
        GenSurface { currency: Some("sek".into()), ..GenSurface::default() },
        GenSurface { currency: Some("XYZ".into()), usd_per_unit: Some("0".into()), ..GenSurface::default() },
        GenSurface { currency: Some("XYZ".into()), usd_per_unit: Some("1e-18".into()), ..GenSurface::default() },
        GenSurface { usd_per_unit: Some("0.1".into()), ..GenSurface::default() },
        GenSurface { amount_scale: Some("0".into()), ..GenSurface::default() },
        GenSurface { amount_scale: Some("1001".into()), ..GenSurface::default() },
        GenSurface { amount_scale: Some("0.0000001".into()), ..GenSurface::default() },
    ];
    for s in &bad {
        assert!(matches!(generate_with(&o, s), Err(Error::Usage(_))), "{s:?} accepted");
    }
    let pq = GenOptions { format: GenFormat::Parquet, ..o.clone() };
    assert!(matches!(generate_with(&pq, &surface(GenStyle::Varied, GenLayout::AmlWorld)), Err(Error::Usage(_))));
    let ok = GenSurface { currency: Some("XYZ".into()), usd_per_unit: Some("0.25".into()), ..GenSurface::default() };
    generate_with(&o, &ok).unwrap();
}
