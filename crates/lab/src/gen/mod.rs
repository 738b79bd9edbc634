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
//!   `crypto`, `network` (varied style); `leg` too: `us_cash`, `cn`, `mx`, `beneficiary`
//!   (the nominees' payments of a `network` event), or empty);
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
//! Surface (`GenSurface`, `gen --style/--layout/--currency/--amount-scale`):
//! - style `classic` (the default) is the output above, byte for byte; `varied` takes the
//!   generator's own markers away: memos in many forms or none (`vary`), industry names
//!   from a wide vocabulary, payroll employers of 15-60 staff on their own cadences with
//!   staff joining and leaving, rent on the renter's own day, subscriptions, restaurants
//!   whose nightly takings are lognormal (some nights land in [$8,000, $10,000) by
//!   chance), and every other mirror swap a `network` event (`mirror`);
//! - `--currency CODE` writes the domestic (USD) transactions in another home currency
//!   (`fx_rates.csv` gains its daily rate) and `--amount-scale F` multiplies every amount
//!   by F (labels keep their transactions; thresholds that held in USD need not hold);
//! - layout `amlworld` writes `transactions.csv` in IBM AMLworld's columns (no accounts
//!   table; `labels.csv` names rows `aw-<line>` as the AMLworld reader does); `amlsim`
//!   writes AMLSim's `transactions.csv` (one currency, every amount converted),
//!   `alert_transactions.csv` (AMLSim's alert-transaction file, readable by `eval`) and
//!   its account table as `amlsim_accounts.csv` (the contract reader would take a file
//!   named `accounts.csv` for the contract's table). `labels.csv`, `populations.csv` and
//!   `schemes.csv` are written in every layout, with that layout's ids.
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
mod vary;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use mirrorflow_core::error::{Error, Result};

use accounts::{IdForm, Ids, Layout, Shuffle};
use background::Background;
use fx::Fx;
use model::{AccountSpec, Cur, DAY, LOCAL, NONE, Tx, Typ};
use schemes::{Env, Plan, instantiate};
use sink::{AmlSimSink, AmlWorldSink, CsvFile, CsvSink, ParquetSink, Row, TxSink};

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

/// How the ledger looks on its surface: memos and names, populations' shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenStyle {
    /// The generator's original vocabulary (fixed bytes; tests and goldens rely on it).
    #[default]
    Classic,
    /// No tidy markers, natural distributions, network mirror swaps.
    Varied,
}

/// Which file layout the transactions (and labels) are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenLayout {
    /// The data contract.
    #[default]
    Contract,
    /// IBM AMLworld's CSV (`HI-Small_Trans.csv` style).
    AmlWorld,
    /// IBM AMLSim's output files.
    AmlSim,
}

/// The surface of a generated ledger beyond `GenOptions`: style, layout, home currency
/// and amount scale. `Default` is today's ledger (classic, contract, USD, scale 1).
#[derive(Debug, Clone, Default)]
pub struct GenSurface {
    pub style: GenStyle,
    pub layout: GenLayout,
    /// ISO code of a home currency replacing USD (`SEK`); `None` or `USD`: dollars.
    pub currency: Option<String>,
    /// USD per unit of `currency` on the first day (decimal text); `None`: a built-in
    /// level for the currencies in `fx::HOME_RATES`.
    pub usd_per_unit: Option<String>,
    /// Every amount is multiplied by this decimal (text, at most 6 fractional digits,
    /// at most 1000); `None`: 1.
    pub amount_scale: Option<String>,
}

/// The held-out protocol (also in README and `gen --help`): seeds and styles used while
/// tuning detection, and the held-out set nobody looks at until a report.
pub const TUNING_SEEDS: [u64; 3] = [11, 12, 13];
pub const HELD_OUT_SEEDS: [u64; 5] = [101, 102, 103, 104, 105];

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
    for plan in schemes::plan(env.seed, rows, env.days, env.style) {
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

/// Generates a ledger into `opts.out` (classic style, contract layout, USD).
pub fn generate(opts: &GenOptions) -> Result<GenReport> {
    generate_with(opts, &GenSurface::default())
}

/// An exact multiplier: (numerator, denominator).
type Scale = (i128, i128);
/// A home currency's code and USD per unit on the first day (scale 18).
type HomeRate = (String, i128);

fn parse_surface(opts: &GenOptions, surface: &GenSurface) -> Result<(Option<HomeRate>, Option<Scale>)> {
    if surface.layout != GenLayout::Contract && opts.format == GenFormat::Parquet {
        return Err(Error::Usage("--layout amlworld and amlsim are CSV layouts: drop --format parquet".into()));
    }
    let home = match surface.currency.as_deref().map(str::trim) {
        None | Some("USD") => {
            if surface.usd_per_unit.is_some() {
                return Err(Error::Usage("--usd-per-unit needs --currency".into()));
            }
            None
        }
        Some(code) => {
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(Error::Usage(format!("--currency `{code}`: expected an ISO 4217 code like SEK")));
            }
            if Cur::ALL.iter().any(|c| c.code() == code) {
                return Err(Error::Usage(format!(
                    "--currency {code}: the ledger already carries {code} as a foreign currency; choose another"
                )));
            }
            let text = match (&surface.usd_per_unit, fx::HOME_RATES.iter().find(|(c, _)| *c == code)) {
                (Some(t), _) => t.as_str(),
                (None, Some((_, t))) => t,
                (None, None) => {
                    return Err(Error::Usage(format!(
                        "--currency {code}: no built-in rate; give --usd-per-unit (USD for one {code})"
                    )));
                }
            };
            // 0.000001 to 1,000,000 USD a unit keeps every amount inside the contract's decimals
            let rate = mirrorflow_core::money::parse_decimal(text.trim().as_bytes(), 18)
                .ok()
                .filter(|r| (1_000_000_000_000..=1_000_000 * mirrorflow_core::schema::AMOUNT_ONE).contains(r))
                .ok_or_else(|| {
                    Error::Usage(format!("--usd-per-unit `{text}`: expected a decimal from 0.000001 to 1000000"))
                })?;
            Some((code.to_string(), rate))
        }
    };
    let scale = match surface.amount_scale.as_deref().map(str::trim) {
        None => None,
        Some(text) => {
            let v = mirrorflow_core::money::parse_decimal(text.as_bytes(), 6)
                .ok()
                .filter(|v| *v > 0 && *v <= 1_000_000_000)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--amount-scale `{text}`: expected a decimal above 0 and at most 1000, \
                         with at most 6 fractional digits"
                    ))
                })?;
            (v != 1_000_000).then_some((v, 1_000_000))
        }
    };
    Ok((home, scale))
}

/// `amount` (scale 18) times `scale`, rounded half up to `decimals`, at least one unit.
fn scaled(amount: i128, (num, den): Scale, decimals: u32) -> i128 {
    let x = amount.checked_mul(num).map(|v| v / den).unwrap_or(amount / den * num);
    let q = 10i128.pow(18 - decimals.min(18));
    ((x + q / 2) / q * q).max(q)
}

/// Generates a ledger into `opts.out` with the given surface.
pub fn generate_with(opts: &GenOptions, surface: &GenSurface) -> Result<GenReport> {
    let (home_cur, scale) = parse_surface(opts, surface)?;
    let style = surface.style;
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
    let mut fx = Fx::new(seed, opts.start, start_epoch, days);
    if let Some((code, rate)) = &home_cur {
        fx.set_home(seed, code, *rate);
    }
    let fx = fx;
    let fx_path = opts.out.join("fx_rates.csv");
    let mut w = create(&fx_path)?;
    fx.write_csv(&mut w).map_err(|e| Error::io(&fx_path, e))?;
    flush(&fx_path, w)?;
    report.files.push(fx_path);

    // Population and schemes.
    let layout = Layout::new(opts.rows, days);
    let env = Env { seed, start_epoch, days, fx: &fx, layout: &layout, style };
    let plc = place(&env, opts.rows);
    let bg_accounts = layout.total;
    let n_accounts = bg_accounts as usize + plc.accounts.len();
    let form = match surface.layout {
        GenLayout::Contract => IdForm::Contract,
        GenLayout::AmlWorld => IdForm::AmlWorld,
        GenLayout::AmlSim => IdForm::AmlSim,
    };
    let mut ids = Ids::with_form(n_accounts, form);
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
    let home_code = fx.home_code().unwrap_or("USD").to_string();
    let acct_out = AccountsOut { style, layout: surface.layout, currency: &home_code };
    report.files.extend(write_accounts(&opts.out, seed, opts.start, &layout, &plc.accounts, &ids, &acct_out)?);
    report.accounts = ids.len() as u64;
    report.near_misses = plc.near_misses;

    // Transactions, day by day.
    let mut out = TxOut::open(opts, surface, &fx, &ids, &plc.schemes, scale)?;
    let bg_total = opts.rows - plc.txs;
    let start_wd = opts.start.weekday().num_days_from_monday();
    let weight = |d: u32| -> u128 { [100, 100, 100, 100, 104, 80, 64][((start_wd + d) % 7) as usize] };
    let w_total: u128 = (0..days).map(weight).sum();
    let mut w_cum: u128 = 0;
    let mut background = Background::new(&layout, &fx, seed, opts.start, start_epoch, home, income).with_style(style);
    let mut pending: BTreeMap<u32, Vec<Tx>> = BTreeMap::new();
    let mut next_plan = 0;
    let mut day_txs: Vec<Tx> = Vec::new();
    let mut order = 0u64;
    for d in 0..days {
        while next_plan < plc.placed.len() && plc.placed[next_plan].plan.start_day == d {
            schedule(&plc.placed[next_plan], &env, &mut pending)?;
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
            out.write(t)?;
        }
    }
    if !pending.is_empty() || out.tx_no != opts.rows {
        return Err(Error::Internal(format!("wrote {} transactions instead of {}", out.tx_no, opts.rows)));
    }
    let stats = out.finish(&mut report)?;
    let schemes_path = opts.out.join("schemes.csv");
    write_schemes(&schemes_path, &plc.schemes, &stats, &ids)?;
    report.files.push(schemes_path);
    for m in &plc.schemes {
        *report.schemes_by_typology.entry(m.typ.code().to_string()).or_default() += 1;
    }
    Ok(report)
}

/// Builds a placed scheme's transactions, in global ids, into the days they fall on.
fn schedule(p: &Placed, env: &Env, pending: &mut BTreeMap<u32, Vec<Tx>>) -> Result<()> {
    let inst = instantiate(&p.plan, env);
    if inst.txs.len() != p.n_txs {
        return Err(Error::Internal(format!("scheme plan {} rebuilt with a different size", p.plan.key)));
    }
    for mut t in inst.txs {
        t.src = global(t.src, p.acct_base);
        t.dst = global(t.dst, p.acct_base);
        for l in t.labels.iter_mut().filter(|l| **l != NONE) {
            *l += p.scheme_base;
        }
        let day = ((t.ts - env.start_epoch).div_euclid(DAY)) as u32;
        pending.entry(day).or_default().push(t);
    }
    Ok(())
}

/// Where generated transactions are written: the transactions file in the chosen layout,
/// `labels.csv`, AMLSim's `alert_transactions.csv`, and each scheme's figures.
struct TxOut<'a> {
    layout: GenLayout,
    style: GenStyle,
    seed: u64,
    fx: &'a Fx,
    ids: &'a Ids,
    schemes: &'a [SchemeMeta],
    /// The ledger's home currency (USD unless one replaces it).
    home_code: &'a str,
    has_home: bool,
    scale: Option<Scale>,
    tx_path: PathBuf,
    sink: Box<dyn TxSink>,
    labels_path: PathBuf,
    labels: CsvFile,
    alerts_path: PathBuf,
    alert_txs: Option<CsvFile>,
    stats: Vec<SchemeStats>,
    tx_no: u64,
    labelled: u64,
    tx_id: String,
    memo: String,
    memo_varied: String,
    alert_id: String,
    amount_text: Vec<u8>,
}

impl<'a> TxOut<'a> {
    fn open(
        opts: &GenOptions,
        surface: &GenSurface,
        fx: &'a Fx,
        ids: &'a Ids,
        schemes: &'a [SchemeMeta],
        scale: Option<Scale>,
    ) -> Result<Self> {
        let tx_path = opts.out.join(match opts.format {
            GenFormat::Csv => "transactions.csv",
            GenFormat::Parquet => "transactions.parquet",
        });
        let sink: Box<dyn TxSink> = match (surface.layout, opts.format) {
            (GenLayout::AmlWorld, _) => Box::new(AmlWorldSink::create(&tx_path)?),
            (GenLayout::AmlSim, _) => Box::new(AmlSimSink::create(&tx_path)?),
            (_, GenFormat::Csv) => Box::new(CsvSink::create(&tx_path)?),
            (_, GenFormat::Parquet) => Box::new(ParquetSink::create(&tx_path)?),
        };
        let labels_path = opts.out.join("labels.csv");
        let labels = CsvFile::create(&labels_path, &["tx_id", "scheme_id", "typology", "variant", "leg"])?;
        let alerts_path = opts.out.join("alert_transactions.csv");
        let alert_txs = match surface.layout {
            GenLayout::AmlSim => Some(CsvFile::create(
                &alerts_path,
                &[
                    "alert_id",
                    "alert_type",
                    "is_sar",
                    "tran_id",
                    "orig_acct",
                    "bene_acct",
                    "tx_type",
                    "base_amt",
                    "tran_timestamp",
                ],
            )?),
            _ => None,
        };
        Ok(TxOut {
            layout: surface.layout,
            style: surface.style,
            seed: opts.seed,
            fx,
            ids,
            schemes,
            home_code: fx.home_code().unwrap_or("USD"),
            has_home: fx.home_code().is_some(),
            scale,
            tx_path,
            sink,
            labels_path,
            labels,
            alerts_path,
            alert_txs,
            stats: (0..schemes.len()).map(|_| SchemeStats::default()).collect(),
            tx_no: 0,
            labelled: 0,
            tx_id: String::with_capacity(16),
            memo: String::with_capacity(64),
            memo_varied: String::with_capacity(64),
            alert_id: String::with_capacity(12),
            amount_text: Vec::with_capacity(40),
        })
    }

    /// The written amount, its currency and decimals: AMLSim has one currency; a home
    /// currency replaces USD; `--amount-scale` scales every amount.
    fn amount(&self, t: &Tx) -> (i128, &'a str, u32) {
        let fx = self.fx;
        let (amount, currency, decimals) = if self.layout == GenLayout::AmlSim && t.cur != Cur::Usd {
            let usd = fx.usd_cents(t.amount, t.cur, t.ts);
            (fx.home_for_usd(usd, fx.day_of(t.ts)), self.home_code, 2)
        } else if t.cur == Cur::Usd && self.has_home {
            let usd = (t.amount / model::cents(1)) as i64;
            (fx.home_for_usd(usd, fx.day_of(t.ts)), self.home_code, 2)
        } else {
            (t.amount, t.cur.code(), t.cur.decimals())
        };
        match self.scale {
            Some(sc) => (scaled(amount, sc, decimals), currency, decimals),
            None => (amount, currency, decimals),
        }
    }

    /// Writes one transaction with its labels.
    fn write(&mut self, t: &Tx) -> Result<()> {
        self.tx_no += 1;
        let tx_no = self.tx_no;
        self.tx_id.clear();
        match self.layout {
            GenLayout::Contract => write!(self.tx_id, "T{tx_no:010}"),
            GenLayout::AmlWorld => write!(self.tx_id, "aw-{}", tx_no + 1), // line number, header = 1
            GenLayout::AmlSim => write!(self.tx_id, "{tx_no}"),
        }
        .map_err(|_| Error::Internal("formatting a transaction id".into()))?;
        self.memo.clear();
        t.memo.render(&mut self.memo);
        if self.style == GenStyle::Varied {
            vary::memo(self.seed, tx_no, (t.src, t.dst), t.ts, &self.memo, &mut self.memo_varied);
            std::mem::swap(&mut self.memo, &mut self.memo_varied);
        }
        let ids = self.ids;
        let name = |r: u32| if r == NONE { "" } else { ids.get(r) };
        let (amount, currency, _) = self.amount(t);
        let first_label = t.labels.iter().copied().find(|l| *l != NONE);
        self.alert_id.clear();
        let _ = match first_label {
            Some(l) => write!(self.alert_id, "{}", l + 1),
            None => write!(self.alert_id, "-1"),
        };
        let row = Row {
            tx_id: &self.tx_id,
            ts: t.ts,
            src: name(t.src),
            dst: name(t.dst),
            amount,
            currency,
            channel: t.channel.as_str(),
            location: t.location,
            memo: &self.memo,
            laundering: first_label.is_some(),
            alert_id: &self.alert_id,
        };
        self.sink.write(&row)?;
        for &l in t.labels.iter().filter(|l| **l != NONE) {
            let m = &self.schemes[l as usize];
            self.labels.row(&[&self.tx_id, &m.id, m.typ.code(), m.variant, mirror_leg(m.typ, m.variant, t)])?;
            if let Some(a) = self.alert_txs.as_mut() {
                self.amount_text.clear();
                sink::push_amount(&mut self.amount_text, amount);
                a.row(&[
                    &(l + 1).to_string(),
                    m.typ.code(),
                    "True",
                    &self.tx_id,
                    name(t.src),
                    name(t.dst),
                    sink::amlsim_type(t.channel.as_str()),
                    std::str::from_utf8(&self.amount_text).unwrap_or("0"),
                    &sink::rfc3339(t.ts),
                ])?;
            }
            self.stats[l as usize].add(t);
        }
        self.labelled += first_label.is_some() as u64;
        Ok(())
    }

    /// Closes every file (listing them in `report`); returns each scheme's figures.
    fn finish(self, report: &mut GenReport) -> Result<Vec<SchemeStats>> {
        self.sink.finish()?;
        report.files.push(self.tx_path);
        self.labels.finish()?;
        report.files.push(self.labels_path);
        if let Some(a) = self.alert_txs {
            a.finish()?;
            report.files.push(self.alerts_path);
        }
        report.transactions = self.tx_no;
        report.labelled_transactions = self.labelled;
        Ok(self.stats)
    }
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

/// How `write_accounts` writes: the style (industry names), the layout (which account
/// table), the home currency (AMLSim's reporting currency).
struct AccountsOut<'a> {
    style: GenStyle,
    layout: GenLayout,
    currency: &'a str,
}

/// Writes the account table (`accounts.csv` for the contract, `amlsim_accounts.csv` for
/// AMLSim, none for AMLworld, whose stale `accounts.csv` is removed) and
/// `populations.csv`: background rows in a shuffled order, scheme and near-miss accounts
/// interleaved at pseudo-random positions.
fn write_accounts(
    dir: &Path,
    seed: u64,
    start: NaiveDate,
    layout: &Layout,
    scheme_accounts: &[AccountSpec],
    ids: &Ids,
    how: &AccountsOut,
) -> Result<Vec<PathBuf>> {
    let acc_path = dir.join(match how.layout {
        GenLayout::AmlSim => "amlsim_accounts.csv",
        _ => "accounts.csv",
    });
    if how.layout != GenLayout::Contract {
        // a contract table left by an earlier run would be read with these transactions
        let stale = dir.join("accounts.csv");
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
        }
    }
    let pop_path = dir.join("populations.csv");
    let mut acc = match how.layout {
        GenLayout::AmlWorld => None,
        _ => Some(create(&acc_path)?),
    };
    let mut pop = create(&pop_path)?;
    match (&mut acc, how.layout) {
        (Some(a), GenLayout::AmlSim) => writeln!(a, "{}", accounts::AMLSIM_ACCOUNT_HEADER),
        (Some(a), _) => accounts::write_accounts_header(a),
        (None, _) => Ok(()),
    }
    .map_err(|e| Error::io(&acc_path, e))?;
    writeln!(pop, "account_id,population").map_err(|e| Error::io(&pop_path, e))?;
    let n = layout.total as u64;
    let shuffle = Shuffle::new(n, seed);
    let mut slots: Vec<(u64, u32)> =
        (0..scheme_accounts.len() as u32).map(|i| (rng::mix(seed, STREAM_SLOT, i as u64) % n, i)).collect();
    slots.sort_unstable();
    let mut next = 0;
    let mut write = |idx: u32, spec: &AccountSpec| -> Result<()> {
        let id = ids.get(idx);
        let varied;
        let spec = if how.style == GenStyle::Varied {
            varied = AccountSpec { industry: vary::industry(seed, idx, spec.industry), ..spec.clone() };
            &varied
        } else {
            spec
        };
        match (&mut acc, how.layout) {
            (Some(a), GenLayout::AmlSim) => accounts::write_amlsim_account_row(a, seed, start, id, spec, how.currency),
            (Some(a), _) => accounts::write_account_row(a, seed, start, id, spec),
            (None, _) => Ok(()),
        }
        .map_err(|e| Error::io(&acc_path, e))?;
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
    flush(&pop_path, pop)?;
    match acc {
        Some(a) => {
            flush(&acc_path, a)?;
            Ok(vec![acc_path, pop_path])
        }
        None => Ok(vec![pop_path]),
    }
}

/// A mirror swap's transaction by leg (`labels.csv` column `leg`): `us_cash` (the cash
/// placed in the US), `cn` (the CNY leg), `mx` (the MXN leg); empty for the rest (and for
/// every other typology). `mirrorflow eval` counts a swap as linked when one T6 alert
/// holds its US cash and a CN or MX leg. A `network` event also marks the nominees'
/// payments to the clients' US beneficiaries `beneficiary` (not a leg for linkage).
fn mirror_leg(typ: model::Typ, variant: &str, t: &model::Tx) -> &'static str {
    if typ != model::Typ::T6 {
        return "";
    }
    match (t.channel, t.cur) {
        (model::Channel::CashDeposit, _) => "us_cash",
        (_, model::Cur::Cny) => "cn",
        (_, model::Cur::Mxn) => "mx",
        (_, model::Cur::Usd) if variant == "network" => "beneficiary",
        _ => "",
    }
}
