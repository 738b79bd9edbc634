//! Synthetic labelled ledgers (`mirrorflow gen`): a realistic background of US, Mexican and
//! Chinese banking, money-services and crypto activity, with injected laundering schemes
//! of every typology T1-T13 (mirror swaps at the centre) and near misses that sit just
//! outside the thresholds.
//!
//! Owns: the files of a generated ledger directory:
//! - `transactions.csv` / `transactions.parquet` (the data contract's 9 columns, rows in
//!   event-time order, ties in generation order), `accounts.csv`, `fx_rates.csv`;
//! - `labels.csv` (`tx_id,scheme_id,typology,variant,leg`, one row per transaction and
//!   scheme; `variant` is set for T6 only: `customer_id`, `phone`, `none`, `netted`,
//!   `crypto`; `leg` too: `us_cash`, `cn`, `mx`, or empty);
//! - `populations.csv` (`account_id,population`: `scheme`, `near_miss`, or the background
//!   population: `ordinary`, `merchant`, `payroll_employer`, `cash_restaurant`,
//!   `msb_remittance`, `student_tuition`, `china_trade`, `retail_crypto`, `marketplace`,
//!   `exchange`);
//! - `schemes.csv` (one row per labelled scheme: typology, variant, size, time span,
//!   accounts), for people reading the ledger.
//!
//! Output is a pure function of the options: the same options give byte-identical files
//! (the random numbers come from our own xoshiro256**; floats only see `+ - * /`).
//! Memory is bounded by one day of transactions plus the account table: background is
//! generated day by day, and each scheme is built on its start day, its future events
//! kept in a per-day pending map.
//!
//! Labels follow the domain brief's defaults: every labelled scheme meets its
//! typology's thresholds (checked against `oracle` when it is built), and a mirror swap's
//! US leg additionally carries T1 / T3 (and, for the crypto variant, T11) sub-schemes
//! where it meets those. Layering schemes also look like pass-throughs or fans in places;
//! those shapes are not labelled separately (an alert on them is still true, since its
//! evidence is labelled). Near misses are never labelled and meet no account-level
//! typology at all.
//!
//! Must not: be read by detection; labels exist for `mirrorflow eval` only.

mod accounts;
mod background;
mod fx;
mod mirror;
mod model;
mod oracle;
mod rng;
mod schemes;
mod sink;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

use accounts::{Ids, Layout, Shuffle};
use background::Background;
use fx::Fx;
use model::{AccountSpec, DAY, LOCAL, NONE, Tx, Typ};
use schemes::{Env, Plan, instantiate};
use sink::{CsvFile, CsvSink, ParquetSink, Row, TxSink};

/// Format of the transactions file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    Csv,
    Parquet,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Output directory (created if missing; files in it are overwritten).
    pub out: PathBuf,
    pub seed: u64,
    /// Number of transactions (exact).
    pub rows: u64,
    pub format: GenFormat,
    /// First day of the ledger (UTC).
    pub start: NaiveDate,
    /// Days covered; default `clamp(rows / 20_000, 30, 365)`.
    pub days: Option<u32>,
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenReport {
    pub transactions: u64,
    pub accounts: u64,
    /// Transactions in at least one labelled scheme.
    pub labelled_transactions: u64,
    /// Labelled schemes (sub-schemes included) by typology.
    pub schemes_by_typology: BTreeMap<String, u64>,
    /// Near-miss cases injected (unlabelled; their accounts are population `near_miss`).
    pub near_misses: u64,
    pub files: Vec<PathBuf>,
}

/// The default number of days for `rows` transactions.
pub fn default_days(rows: u64) -> u32 {
    (rows / 20_000).clamp(30, 365) as u32
}

/// Fewest and most days a ledger may cover.
const MIN_DAYS: u32 = 7;
const MAX_DAYS: u32 = 3_650;
/// Scheme and near-miss transactions may take at most this share of the rows (it only
/// binds for ledgers of a few thousand rows or less).
const MAX_SCHEME_SHARE: (u64, u64) = (2, 5);
const STREAM_SLOT: u64 = 0xD0;

/// One labelled scheme.
struct SchemeMeta {
    id: String,
    typ: Typ,
    variant: &'static str,
}

/// A plan that made it into the ledger, with where its local ids land globally.
struct Placed {
    plan: Plan,
    acct_base: u32,
    scheme_base: u32,
    n_txs: usize,
}

/// Pass one: builds every plan once to size it, keeps the longest priority prefix that
/// fits the rows, and gives each kept plan its global account, customer and scheme ids
/// (scheme ids in start order).
struct Placement {
    placed: Vec<Placed>,
    near_misses: u64,
    accounts: Vec<AccountSpec>,
    schemes: Vec<SchemeMeta>,
    txs: u64,
}

fn place(env: &Env, rows: u64) -> Placement {
    let cap = rows * MAX_SCHEME_SHARE.0 / MAX_SCHEME_SHARE.1;
    let mut kept = Vec::new();
    let mut txs = 0u64;
    for plan in schemes::plan(env.seed, rows, env.days) {
        let inst = instantiate(&plan, env);
        if inst.valid.is_err() {
            // never label what does not meet its thresholds (tests keep this from happening)
            continue;
        }
        let n = inst.txs.len() as u64;
        if txs + n > cap {
            break;
        }
        txs += n;
        kept.push((plan, inst.accounts, inst.schemes, inst.customers, n as usize));
    }
    kept.sort_by_key(|(p, ..)| (p.start_day, p.key));
    let mut placed = Vec::with_capacity(kept.len());
    let mut accounts = Vec::new();
    let mut schemes = Vec::new();
    let mut customers = env.layout.total;
    let near_misses = kept.iter().filter(|k| k.0.near_miss).count() as u64;
    for (plan, accts, subs, n_customers, n_txs) in kept {
        placed.push(Placed {
            plan,
            acct_base: env.layout.total + accounts.len() as u32,
            scheme_base: schemes.len() as u32,
            n_txs,
        });
        for mut a in accts {
            if a.customer != NONE && a.customer & LOCAL != 0 {
                a.customer = customers + (a.customer & !LOCAL);
            }
            accounts.push(a);
        }
        customers += n_customers;
        for (typ, variant) in subs {
            schemes.push(SchemeMeta { id: format!("S{:06}", schemes.len() + 1), typ, variant });
        }
    }
    Placement { placed, near_misses, accounts, schemes, txs }
}

fn global(r: u32, base: u32) -> u32 {
    if r != NONE && r & LOCAL != 0 { base + (r & !LOCAL) } else { r }
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 16, File::create(path).map_err(|e| Error::io(path, e))?))
}

fn flush(path: &Path, mut w: BufWriter<File>) -> Result<()> {
    w.flush().map_err(|e| Error::io(path, e))
}

/// Generates a ledger into `opts.out`.
pub fn generate(opts: &GenOptions) -> Result<GenReport> {
    if opts.rows == 0 {
        return Err(Error::Usage("--rows must be at least 1".into()));
    }
    let days = opts.days.unwrap_or_else(|| default_days(opts.rows));
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        return Err(Error::Usage(format!("--days must be between {MIN_DAYS} and {MAX_DAYS}, got {days}")));
    }
    if opts.start.year() < 1971 || opts.start.year() > 9000 {
        return Err(Error::Usage(format!("--start {} is out of range", opts.start)));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let seed = opts.seed;
    let start_epoch = opts.start.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp();
    let mut report = GenReport::default();

    // FX rates.
    let fx = Fx::new(seed, opts.start, start_epoch, days);
    let fx_path = opts.out.join("fx_rates.csv");
    let mut w = create(&fx_path)?;
    fx.write_csv(&mut w).map_err(|e| Error::io(&fx_path, e))?;
    flush(&fx_path, w)?;
    report.files.push(fx_path);

    // Population and schemes.
    let layout = Layout::new(opts.rows, days);
    let env = Env { seed, start_epoch, days, fx: &fx, layout: &layout };
    let plc = place(&env, opts.rows);
    let bg_accounts = layout.total;
    let n_accounts = bg_accounts as usize + plc.accounts.len();
    let mut ids = Ids::with_capacity(n_accounts);
    let mut home = Vec::with_capacity(bg_accounts as usize);
    let mut income = Vec::with_capacity(bg_accounts as usize);
    for idx in 0..bg_accounts {
        let s = layout.spec(seed, idx);
        ids.push(seed, idx, &s);
        home.push(s.region);
        income.push(s.income_cents.unwrap_or(0).clamp(0, u32::MAX as i64) as u32);
    }
    for (i, s) in plc.accounts.iter().enumerate() {
        ids.push(seed, bg_accounts + i as u32, s);
    }
    report.files.extend(write_accounts(&opts.out, seed, opts.start, &layout, &plc.accounts, &ids)?);
    report.accounts = ids.len() as u64;
    report.near_misses = plc.near_misses;

    // Transactions, day by day.
    let tx_path = opts.out.join(match opts.format {
        GenFormat::Csv => "transactions.csv",
        GenFormat::Parquet => "transactions.parquet",
    });
    let mut sink: Box<dyn TxSink> = match opts.format {
        GenFormat::Csv => Box::new(CsvSink::create(&tx_path)?),
        GenFormat::Parquet => Box::new(ParquetSink::create(&tx_path)?),
    };
    let labels_path = opts.out.join("labels.csv");
    let mut labels = CsvFile::create(&labels_path, &["tx_id", "scheme_id", "typology", "variant", "leg"])?;
    let mut stats: Vec<SchemeStats> = (0..plc.schemes.len()).map(|_| SchemeStats::default()).collect();

    let bg_total = opts.rows - plc.txs;
    let start_wd = opts.start.weekday().num_days_from_monday();
    let weight = |d: u32| -> u128 { [100, 100, 100, 100, 104, 80, 64][((start_wd + d) % 7) as usize] };
    let w_total: u128 = (0..days).map(weight).sum();
    let mut w_cum: u128 = 0;
    let mut background = Background::new(&layout, &fx, seed, opts.start, start_epoch, home, income);
    let mut pending: BTreeMap<u32, Vec<Tx>> = BTreeMap::new();
    let mut next_plan = 0;
    let mut day_txs: Vec<Tx> = Vec::new();
    let mut order = 0u64;
    let mut tx_no = 0u64;
    let mut tx_id = String::with_capacity(16);
    let mut memo = String::with_capacity(64);
    for d in 0..days {
        while next_plan < plc.placed.len() && plc.placed[next_plan].plan.start_day == d {
            let p = &plc.placed[next_plan];
            let inst = instantiate(&p.plan, &env);
            if inst.txs.len() != p.n_txs {
                return Err(Error::Internal(format!("scheme plan {} rebuilt with a different size", p.plan.key)));
            }
            for mut t in inst.txs {
                t.src = global(t.src, p.acct_base);
                t.dst = global(t.dst, p.acct_base);
                for l in t.labels.iter_mut().filter(|l| **l != NONE) {
                    *l += p.scheme_base;
                }
                let day = ((t.ts - start_epoch).div_euclid(DAY)) as u32;
                pending.entry(day).or_default().push(t);
            }
            next_plan += 1;
        }
        let before = bg_total as u128 * w_cum / w_total;
        w_cum += weight(d);
        let budget = (bg_total as u128 * w_cum / w_total - before) as usize;
        day_txs.clear();
        background.day(d, budget, &mut day_txs);
        if let Some(v) = pending.remove(&d) {
            day_txs.extend(v);
        }
        for t in day_txs.iter_mut() {
            t.order = order;
            order += 1;
        }
        day_txs.sort_unstable_by_key(|t| (t.ts, t.order));
        for t in &day_txs {
            tx_no += 1;
            tx_id.clear();
            let _ = write!(tx_id, "T{tx_no:010}");
            memo.clear();
            t.memo.render(&mut memo);
            let name = |r: u32| if r == NONE { "" } else { ids.get(r) };
            sink.write(&Row {
                tx_id: &tx_id,
                ts: t.ts,
                src: name(t.src),
                dst: name(t.dst),
                amount: t.amount,
                currency: t.cur.code(),
                channel: t.channel.as_str(),
                location: t.location,
                memo: &memo,
            })?;
            let mut labelled = false;
            for &l in t.labels.iter().filter(|l| **l != NONE) {
                let m = &plc.schemes[l as usize];
                labels.row(&[&tx_id, &m.id, m.typ.code(), m.variant, mirror_leg(m.typ, t)])?;
                stats[l as usize].add(t);
                labelled = true;
            }
            report.labelled_transactions += labelled as u64;
        }
    }
    if !pending.is_empty() || tx_no != opts.rows {
        return Err(Error::Internal(format!("wrote {tx_no} transactions instead of {}", opts.rows)));
    }
    sink.finish()?;
    report.files.push(tx_path);
    labels.finish()?;
    report.files.push(labels_path);
    report.transactions = tx_no;

    let schemes_path = opts.out.join("schemes.csv");
    write_schemes(&schemes_path, &plc.schemes, &stats, &ids)?;
    report.files.push(schemes_path);
    for m in &plc.schemes {
        *report.schemes_by_typology.entry(m.typ.code().to_string()).or_default() += 1;
    }
    Ok(report)
}

/// What a scheme turned out to be, for `schemes.csv`.
#[derive(Default)]
struct SchemeStats {
    txs: u64,
    first: i64,
    last: i64,
    accounts: BTreeSet<u32>,
}

impl SchemeStats {
    fn add(&mut self, t: &Tx) {
        if self.txs == 0 {
            self.first = t.ts;
        }
        self.txs += 1;
        self.last = t.ts;
        for r in [t.src, t.dst] {
            if r != NONE {
                self.accounts.insert(r);
            }
        }
    }
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn write_schemes(path: &Path, schemes: &[SchemeMeta], stats: &[SchemeStats], ids: &Ids) -> Result<()> {
    let mut f = CsvFile::create(
        path,
        &["scheme_id", "typology", "variant", "transactions", "first_ts", "last_ts", "accounts"],
    )?;
    for (m, s) in schemes.iter().zip(stats) {
        let accounts: Vec<&str> = s.accounts.iter().map(|&r| ids.get(r)).collect();
        f.row(&[
            &m.id,
            m.typ.code(),
            m.variant,
            &s.txs.to_string(),
            &rfc3339(s.first),
            &rfc3339(s.last),
            &accounts.join(" "),
        ])?;
    }
    f.finish()
}

/// Writes `accounts.csv` and `populations.csv`: background rows in a shuffled order, scheme
/// and near-miss accounts interleaved at pseudo-random positions.
fn write_accounts(
    dir: &Path,
    seed: u64,
    start: NaiveDate,
    layout: &Layout,
    scheme_accounts: &[AccountSpec],
    ids: &Ids,
) -> Result<Vec<PathBuf>> {
    let acc_path = dir.join("accounts.csv");
    let pop_path = dir.join("populations.csv");
    let mut acc = create(&acc_path)?;
    let mut pop = create(&pop_path)?;
    accounts::write_accounts_header(&mut acc).map_err(|e| Error::io(&acc_path, e))?;
    writeln!(pop, "account_id,population").map_err(|e| Error::io(&pop_path, e))?;
    let n = layout.total as u64;
    let shuffle = Shuffle::new(n, seed);
    let mut slots: Vec<(u64, u32)> =
        (0..scheme_accounts.len() as u32).map(|i| (rng::mix(seed, STREAM_SLOT, i as u64) % n, i)).collect();
    slots.sort_unstable();
    let mut next = 0;
    let mut write = |idx: u32, spec: &AccountSpec| -> Result<()> {
        let id = ids.get(idx);
        accounts::write_account_row(&mut acc, seed, start, id, spec).map_err(|e| Error::io(&acc_path, e))?;
        writeln!(pop, "{id},{}", spec.population).map_err(|e| Error::io(&pop_path, e))
    };
    for k in 0..n {
        while next < slots.len() && slots[next].0 == k {
            let i = slots[next].1;
            write(layout.total + i, &scheme_accounts[i as usize])?;
            next += 1;
        }
        let idx = shuffle.get(k) as u32;
        write(idx, &layout.spec(seed, idx))?;
    }
    flush(&acc_path, acc)?;
    flush(&pop_path, pop)?;
    Ok(vec![acc_path, pop_path])
}

/// A mirror swap's transaction by leg (`labels.csv` column `leg`): `us_cash` (the cash
/// placed in the US), `cn` (the CNY leg), `mx` (the MXN leg); empty for the rest (and for
/// every other typology). `mirrorflow eval` counts a swap as linked when one T6 alert
/// holds its US cash and a CN or MX leg.
fn mirror_leg(typ: model::Typ, t: &model::Tx) -> &'static str {
    if typ != model::Typ::T6 {
        return "";
    }
    match (t.channel, t.cur) {
        (model::Channel::CashDeposit, _) => "us_cash",
        (_, model::Cur::Cny) => "cn",
        (_, model::Cur::Mxn) => "mx",
        _ => "",
    }
}
