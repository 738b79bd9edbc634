//! Injected laundering schemes (T1-T5, T7-T13; T6 lives in `mirror`) and their near
//! misses: how many of each, when they start, and the transactions and accounts of each
//! instance.
//!
//! Owns: the plan (`plan`), the per-instance builder (`Inst`), and `instantiate`, which
//! builds an instance from its plan alone (a pure function of seed and plan), so the
//! generator can build it once to count and size it and again on its start day to emit
//! it. Each instance is checked against the oracle: a labelled scheme must meet its
//! typology's default thresholds, a near miss must meet none of the account-level ones;
//! an instance that fails is redrawn from the next attempt's random stream.
//! Must not: write files, or use background accounts other than shared infrastructure
//! (universities as tuition payees, exchanges).

use super::accounts::Layout;
use super::fx::Fx;
use super::mirror;
use super::model::{
    AccountSpec, Channel, Cur, DAY, HOUR, IdStyle, LOCAL, Labels, Memo, NO_LABELS, NONE, Tx, Typ, bank_for, cents,
    distinct_states, other_state, region_for, units,
};
use super::oracle::{Oracle, has_cas_number};
use super::rng::Rng;

const STREAM_PLAN: u64 = 0xC0;
const STREAM_SCHEME: u64 = 0xC1;
const ATTEMPTS: u64 = 40;

/// What every instance may read.
pub(crate) struct Env<'a> {
    pub seed: u64,
    pub start_epoch: i64,
    pub days: u32,
    pub fx: &'a Fx,
    pub layout: &'a Layout,
    /// `varied` adds the `network` mirror-swap variant (see `plan`).
    pub style: super::GenStyle,
}

/// One scheme or near miss to inject.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub typ: Typ,
    pub near_miss: bool,
    /// Typology-specific variant (T6: 0 customer_id, 1 phone, 2 none, 3 netted, 4 crypto,
    /// 5 network).
    pub variant: u8,
    pub start_day: u32,
    /// Position in the priority order; also the instance's random stream.
    pub key: u64,
}

/// T6 variant names, as written to `labels.csv`.
pub(crate) const T6_VARIANTS: [&str; 6] = ["customer_id", "phone", "none", "netted", "crypto", "network"];

/// How many days an instance of `typ` may span (it is compressed when the ledger is
/// shorter).
fn nominal_span(typ: Typ, near_miss: bool) -> u32 {
    match (typ, near_miss) {
        (Typ::T1, _) => 14,
        (Typ::T2, _) => 10,
        (Typ::T3, _) => 14,
        (Typ::T4, _) => 12,
        (Typ::T5, _) => 28,
        (Typ::T6, _) => 9,
        (Typ::T7, false) => 26,
        (Typ::T7, true) => 24,
        (Typ::T8, _) => 8,
        (Typ::T9, _) => 8,
        (Typ::T10, _) => 9,
        (Typ::T11, false) => 6,
        (Typ::T11, true) => 12,
        (Typ::T12, _) => 24,
        (Typ::T13, _) => 28,
    }
}

/// The plans for a ledger of `rows` over `days`, in priority order: every prefix holds a
/// balanced mix, so trimming from the end (for tiny ledgers) keeps every typology.
/// About one scheme per 5,000 rows, 30% of them mirror swaps; at least three of each
/// typology (ten mirror swaps, two per variant) from 3,000 rows up; near misses about a
/// third as many as schemes, at least two per typology. In the `varied` style every
/// other mirror swap is a `network` event (variant 5), the rest cycle through the five
/// classic variants as before.
pub(crate) fn plan(seed: u64, rows: u64, days: u32, style: super::GenStyle) -> Vec<Plan> {
    let total = (rows / 5_000) as usize;
    let (min_each, min_t6, min_nm) = match rows {
        r if r >= 3_000 => (3, 10, 2),
        r if r >= 1_200 => (2, 5, 1),
        _ => (1, 5, 1),
    };
    let t6 = (total * 3 / 10).max(min_t6);
    let each = (total * 7 / 10 / 12).max(min_each);
    let nm_each = (total / 3 / 13).max(min_nm);
    let rounds = t6.max(each).max(nm_each);
    let mut out = Vec::new();
    let mut t6_seen = 0u8;
    let mut t6_n = 0u64;
    for r in 0..rounds {
        for typ in Typ::ALL {
            let n = if typ == Typ::T6 { t6 } else { each };
            if r < n {
                let variant = if typ == Typ::T6 {
                    t6_seen = t6_seen.wrapping_add(1);
                    t6_n += 1;
                    match style {
                        super::GenStyle::Classic => (t6_seen - 1) % 5,
                        super::GenStyle::Varied if t6_n % 2 == 1 => 5,
                        super::GenStyle::Varied => ((t6_n / 2 - 1) % 5) as u8,
                    }
                } else {
                    0
                };
                out.push(Plan { typ, near_miss: false, variant, start_day: 0, key: 0 });
            }
        }
        for typ in Typ::ALL {
            if r < nm_each {
                out.push(Plan { typ, near_miss: true, variant: 0, start_day: 0, key: 0 });
            }
        }
    }
    for (k, p) in out.iter_mut().enumerate() {
        p.key = k as u64;
        let span = nominal_span(p.typ, p.near_miss).min(days);
        let mut r = Rng::stream(seed, STREAM_PLAN, k as u64);
        p.start_day = r.below((days - span) as u64 + 1) as u32;
    }
    out
}

/// One built instance, with local account references (`LOCAL | i`) and local scheme
/// labels (index into `schemes`).
pub(crate) struct Instance {
    pub accounts: Vec<AccountSpec>,
    pub txs: Vec<Tx>,
    /// (typology, variant) of each labelled scheme: [0] is the plan's own (absent for a
    /// near miss), the rest sub-schemes (T1 / T3 / T11 on a mirror swap's US leg).
    pub schemes: Vec<(Typ, &'static str)>,
    pub customers: u32,
    /// Whether the instance does what its plan says (`Err` only if every attempt failed).
    pub valid: Result<(), String>,
}

/// Builds the instance of `plan`. Pure: the same plan and environment always give the
/// same instance.
pub(crate) fn instantiate(plan: &Plan, env: &Env) -> Instance {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let mut x = Inst::new(env, plan, attempt);
        build(&mut x, plan);
        let valid = if x.within_horizon() { check(&x, plan) } else { Err("reaches past the ledger".into()) };
        let ok = valid.is_ok();
        last = Some((x, valid));
        if ok {
            break;
        }
    }
    let (mut x, valid) = last.expect("at least one attempt");
    // Only an instance that failed every attempt can reach past the ledger; what lies
    // outside is dropped the same way in both passes.
    let (lo, hi) = (x.day_start(0), x.horizon_end());
    x.txs.retain(|t| t.ts >= lo && t.ts < hi);
    Instance { accounts: x.accounts, txs: x.txs, schemes: x.schemes, customers: x.customers, valid }
}

fn build(x: &mut Inst, plan: &Plan) {
    match (plan.typ, plan.near_miss) {
        (Typ::T1, false) => t1(x),
        (Typ::T2, false) => t2(x),
        (Typ::T3, false) => t3(x),
        (Typ::T4, false) => t4(x),
        (Typ::T5, false) => t5(x),
        (Typ::T6, false) => mirror::scheme(x, plan.variant),
        (Typ::T7, false) => t7(x),
        (Typ::T8, false) => t8(x),
        (Typ::T9, false) => t9(x),
        (Typ::T10, false) => t10(x),
        (Typ::T11, false) => t11(x),
        (Typ::T12, false) => t12(x),
        (Typ::T13, false) => t13(x),
        (Typ::T1, true) => nm_t1(x),
        (Typ::T2, true) => nm_t2(x),
        (Typ::T3, true) => nm_t3(x),
        (Typ::T4, true) => nm_t4(x),
        (Typ::T5, true) => nm_t5(x),
        (Typ::T6, true) => mirror::near_miss(x),
        (Typ::T7, true) => nm_t7(x),
        (Typ::T8, true) => nm_t8(x),
        (Typ::T9, true) => nm_t9(x),
        (Typ::T10, true) => nm_t10(x),
        (Typ::T11, true) => nm_t11(x),
        (Typ::T12, true) => nm_t12(x),
        (Typ::T13, true) => nm_t13(x),
    }
}

/// Whether a built instance does what its plan says: a scheme meets its typology, a near
/// miss meets no account-level typology. `Err` names what failed (for tests).
pub(crate) fn check(x: &Inst, plan: &Plan) -> Result<(), String> {
    let o = Oracle::new(&x.txs, x.env.fx, x.env.start_epoch);
    let locals = || (0..x.accounts.len() as u32).map(|i| (LOCAL | i, &x.accounts[i as usize]));
    if plan.near_miss {
        for (a, spec) in locals() {
            if let Some(t) = o.any_hit(a, spec) {
                return Err(format!("near miss {:?} meets {t} on local account {}", plan.typ, a & !LOCAL));
            }
        }
        return check_near_miss_shape(x, plan, &o);
    }
    let any = |f: &dyn Fn(u32, &AccountSpec) -> bool| locals().any(|(a, s)| f(a, s));
    let ok = match plan.typ {
        Typ::T1 => any(&|a, _| !o.t1(a).is_empty()),
        Typ::T2 => any(&|a, _| !o.t2(a).is_empty()),
        Typ::T3 => any(&|a, _| !o.t3(a).is_empty()),
        Typ::T4 => any(&|a, _| !o.t4(a).is_empty()),
        Typ::T5 => any(&|a, s| !o.t5(a, s).is_empty()),
        Typ::T8 => any(&|a, _| o.fan(a, true) > 3 || o.fan(a, false) > 3),
        Typ::T6 => return mirror::check_scheme(x, plan.variant),
        Typ::T7 => o.cycle(),
        Typ::T9 => o.scatter_gather(),
        Typ::T10 => o.bipartite(),
        Typ::T11 => o.on_ramp(|a| is_exchange_bank(x, a)) && o.peel_hops() >= 3,
        Typ::T12 => x.txs.iter().all(|t| precursor_signal(x, t)),
        Typ::T13 => unmatched_trade_inflows(x, &o),
    };
    if ok { Ok(()) } else { Err(format!("{:?} scheme does not meet its own thresholds", plan.typ)) }
}

/// The shape-level near-miss checks: the typology a near miss imitates does not hold.
fn check_near_miss_shape(x: &Inst, plan: &Plan, o: &Oracle) -> Result<(), String> {
    let holds = match plan.typ {
        Typ::T6 => return mirror::check_near_miss(x),
        Typ::T7 => o.cycle(),
        Typ::T9 => o.scatter_gather(),
        Typ::T10 => o.bipartite(),
        Typ::T11 => o.on_ramp(|a| is_exchange_bank(x, a)) || o.peel_hops() >= 3,
        Typ::T12 => x.txs.iter().any(|t| precursor_signal(x, t)),
        Typ::T13 => unmatched_trade_inflows(x, o),
        _ => false,
    };
    if holds { Err(format!("near miss {:?} meets its typology", plan.typ)) } else { Ok(()) }
}

fn is_exchange_bank(x: &Inst, a: u32) -> bool {
    x.layout().exchanges.us_bank.contains(&a)
}

/// T12 signal: a CAS number in the memo, or a payee flagged as a precursor supplier.
fn precursor_signal(x: &Inst, t: &Tx) -> bool {
    let flagged = t.dst != NONE && t.dst & LOCAL != 0 && x.acct(t.dst).watchlist == "precursor_supplier";
    flagged || has_cas_number(&t.memo.to_text())
}

/// T13: a local business receiving at least 3 wires from MX / CN / HK / AE whose
/// payments to suppliers abroad match less than half of them.
fn unmatched_trade_inflows(x: &Inst, o: &Oracle) -> bool {
    let foreign = |r: u32| r != NONE && r & LOCAL != 0 && matches!(x.acct(r).country, "MX" | "CN" | "HK" | "AE");
    (0..x.accounts.len() as u32).map(|i| LOCAL | i).filter(|&a| x.acct(a).kind == "business").any(|a| {
        let ins: Vec<usize> = (0..x.txs.len()).filter(|&i| x.txs[i].dst == a && foreign(x.txs[i].src)).collect();
        let inflow: i64 = ins.iter().map(|&i| o.usd_cents(i)).sum();
        let purchases: i64 =
            (0..x.txs.len()).filter(|&i| x.txs[i].src == a && foreign(x.txs[i].dst)).map(|i| o.usd_cents(i)).sum();
        ins.len() >= 3 && purchases * 2 < inflow
    })
}

/// A scheme instance under construction.
pub(crate) struct Inst<'e> {
    pub env: &'e Env<'e>,
    pub rng: Rng,
    /// First day of the instance (ledger day index).
    pub day0: u32,
    /// Days available from `day0` to the end of the ledger.
    pub avail: u32,
    key: u64,
    near_miss: bool,
    pub accounts: Vec<AccountSpec>,
    pub txs: Vec<Tx>,
    pub schemes: Vec<(Typ, &'static str)>,
    pub customers: u32,
    links: u64,
}

const OCCUPATIONS: [&str; 11] = [
    "nurse",
    "teacher",
    "driver",
    "warehouse associate",
    "engineer",
    "cashier",
    "electrician",
    "accountant",
    "sales associate",
    "cook",
    "analyst",
];

impl<'e> Inst<'e> {
    fn new(env: &'e Env<'e>, plan: &Plan, attempt: u64) -> Self {
        let schemes = if plan.near_miss {
            Vec::new()
        } else {
            let variant = if plan.typ == Typ::T6 { T6_VARIANTS[plan.variant as usize % T6_VARIANTS.len()] } else { "" };
            vec![(plan.typ, variant)]
        };
        Inst {
            env,
            rng: Rng::stream(env.seed, STREAM_SCHEME, plan.key << 8 | attempt),
            day0: plan.start_day,
            avail: env.days - plan.start_day,
            key: plan.key,
            near_miss: plan.near_miss,
            accounts: Vec::new(),
            txs: Vec::new(),
            schemes,
            customers: 0,
            links: 0,
        }
    }

    pub(crate) fn fx(&self) -> &'e Fx {
        self.env.fx
    }

    pub(crate) fn layout(&self) -> &'e Layout {
        self.env.layout
    }

    /// A new local customer.
    pub(crate) fn customer(&mut self) -> u32 {
        self.customers += 1;
        LOCAL | (self.customers - 1)
    }

    /// A new link key (phone / address / device), unique across the whole ledger.
    pub(crate) fn link(&mut self) -> u64 {
        self.links += 1;
        (1u64 << 40) | (self.key << 12) | self.links
    }

    /// Defaults for a new account in `country`: its own customer and link keys, an old
    /// account (opened 400 days to 11 years before the instance starts).
    pub(crate) fn spec(&mut self, country: &'static str, kind: &'static str) -> AccountSpec {
        let customer = self.customer();
        let (phone, address, device) = (self.link(), self.link(), self.link());
        let personal = kind == "personal";
        AccountSpec {
            style: IdStyle::Bank,
            country,
            region: region_for(&mut self.rng, country),
            institution: bank_for(&mut self.rng, country),
            kind,
            opened_at: Some(self.day0 as i32 - self.rng.range(400, 4_000) as i32),
            nationality: if personal { country } else { "" },
            occupation: if personal { OCCUPATIONS[self.rng.index(OCCUPATIONS.len())] } else { "" },
            income_cents: if personal { Some(self.rng.range(3_500, 9_000) * 100) } else { None },
            industry: "",
            customer,
            phone,
            address,
            device,
            watchlist: "",
            population: if self.near_miss { "near_miss" } else { "scheme" },
        }
    }

    /// Adds an account; returns its local reference.
    pub(crate) fn add(&mut self, spec: AccountSpec) -> u32 {
        self.accounts.push(spec);
        LOCAL | (self.accounts.len() as u32 - 1)
    }

    pub(crate) fn acct(&self, r: u32) -> &AccountSpec {
        &self.accounts[(r & !LOCAL) as usize]
    }

    pub(crate) fn acct_mut(&mut self, r: u32) -> &mut AccountSpec {
        &mut self.accounts[(r & !LOCAL) as usize]
    }

    /// A personal account with defaults.
    pub(crate) fn person(&mut self, country: &'static str) -> u32 {
        let s = self.spec(country, "personal");
        self.add(s)
    }

    /// A business account in `industry`.
    pub(crate) fn business(&mut self, country: &'static str, industry: &'static str) -> u32 {
        let mut s = self.spec(country, "business");
        s.industry = industry;
        self.add(s)
    }

    /// A self-hosted wallet (no customer, no links).
    pub(crate) fn wallet(&mut self, style: IdStyle) -> u32 {
        let mut s = self.spec("", "wallet");
        self.customers -= 1;
        s.style = style;
        s.institution = "self_hosted";
        s.customer = NONE;
        s.region = "";
        s.nationality = "";
        s.occupation = "";
        s.income_cents = None;
        s.opened_at = None;
        s.phone = 0;
        s.address = 0;
        s.device = 0;
        self.add(s)
    }

    /// Start of instance day `off` (seconds since the epoch).
    pub(crate) fn day_start(&self, off: u32) -> i64 {
        self.env.start_epoch + (self.day0 + off) as i64 * DAY
    }

    /// End of the ledger (exclusive).
    pub(crate) fn horizon_end(&self) -> i64 {
        self.env.start_epoch + self.env.days as i64 * DAY
    }

    /// A random time on instance day `off` between hours `lo` and `hi` (UTC).
    pub(crate) fn at(&mut self, off: u32, lo: i64, hi: i64) -> i64 {
        self.day_start(off) + self.rng.range(lo * HOUR, hi * HOUR - 1)
    }

    /// Days usable by a pattern that wants `want` days (at least 1).
    pub(crate) fn span(&self, want: u32) -> u32 {
        want.min(self.avail).max(1)
    }

    /// A random start day leaving `need` days after it.
    pub(crate) fn start_day(&mut self, need: u32) -> u32 {
        self.rng.below(self.avail.saturating_sub(need) as u64 + 1) as u32
    }

    /// Adds a transaction, labelled with the plan's scheme unless this is a near miss.
    pub(crate) fn push(&mut self, tx: Tx) -> usize {
        let mut tx = tx;
        tx.labels = if self.near_miss { NO_LABELS } else { [0, NONE, NONE] };
        self.txs.push(tx);
        self.txs.len() - 1
    }

    /// A new sub-scheme of this instance; returns its local label.
    pub(crate) fn sub_scheme(&mut self, typ: Typ) -> u32 {
        self.schemes.push((typ, ""));
        self.schemes.len() as u32 - 1
    }

    /// Adds label `s` to transaction `i`.
    pub(crate) fn label(&mut self, i: usize, s: u32) {
        let l: &mut Labels = &mut self.txs[i].labels;
        if let Some(slot) = l.iter_mut().find(|x| **x == NONE) {
            *slot = s;
        }
    }

    fn within_horizon(&self) -> bool {
        let (lo, hi) = (self.day_start(0), self.horizon_end());
        self.txs.iter().all(|t| t.ts >= lo && t.ts < hi)
    }

    /// Splits `total` cents into `k` random parts, each at least `min_share` of an equal
    /// share (so no part is tiny).
    pub(crate) fn split(&mut self, total: i64, k: usize, min_share: f64) -> Vec<i64> {
        let w: Vec<f64> = (0..k).map(|_| min_share + (1.0 - min_share) * self.rng.unit() * 2.0).collect();
        let sum: f64 = w.iter().sum();
        let mut parts: Vec<i64> = w.iter().map(|wi| (total as f64 * wi / sum) as i64).collect();
        let diff = total - parts.iter().sum::<i64>();
        parts[0] += diff;
        parts
    }

    /// `n` sorted random times in `[t0, t0 + span)`.
    pub(crate) fn times(&mut self, t0: i64, span: i64, n: usize) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n).map(|_| t0 + self.rng.range(0, span - 1)).collect();
        v.sort_unstable();
        v
    }

    /// A US personal account opened `age_lo..=age_hi` days before the instance starts.
    pub(crate) fn new_person(&mut self, country: &'static str, age_lo: i64, age_hi: i64) -> u32 {
        let r = self.person(country);
        let age = self.rng.range(age_lo, age_hi) as i32;
        self.acct_mut(r).opened_at = Some(self.day0 as i32 - age);
        r
    }

    /// A foreign business (MX / CN / HK / AE) in `industry`.
    pub(crate) fn foreign_business(&mut self, industry: &'static str) -> u32 {
        let country = *self.rng.pick(&["MX", "CN", "HK", "AE"]);
        self.business(country, industry)
    }
}

/// A random channel for a person-to-person or account-to-account transfer.
fn transfer_channel(r: &mut Rng) -> Channel {
    match r.below(10) {
        0..=4 => Channel::P2p,
        5..=7 => Channel::Ach,
        _ => Channel::Wire,
    }
}

fn usd(x: &mut Inst, ts: i64, src: u32, dst: u32, amount_cents: i64, ch: Channel) -> usize {
    x.push(Tx::new(ts, src, dst, cents(amount_cents), Cur::Usd, ch))
}

fn cash(x: &mut Inst, ts: i64, dst: u32, amount_cents: i64, at: &'static str) -> usize {
    x.push(Tx::new(ts, NONE, dst, cents(amount_cents), Cur::Usd, Channel::CashDeposit).at(at))
}

// ---------------------------------------------------------------------------------------
// Labelled schemes.

/// T1 structuring: 2-4 deposits in [$8,000, $9,950] within 48 h, or daily totals in
/// [$9,050, $9,950] on 3-5 days within 12.
fn t1(x: &mut Inst) {
    let a = x.person("US");
    let home = x.acct(a).region;
    if x.avail < 6 || x.rng.chance(0.5) {
        let d = x.start_day(3);
        let t0 = x.at(d, 14, 20);
        let n = x.rng.range(2, 4) as usize;
        for ts in x.times(t0, 44 * HOUR, n) {
            let at = if x.rng.chance(0.3) { other_state(&mut x.rng, home) } else { home };
            let amount = x.rng.range(800_000, 995_000);
            cash(x, ts, a, amount, at);
        }
    } else {
        let span = x.span(12);
        let n = (x.rng.range(3, 5) as u32).min(span);
        let mut days: Vec<u32> = (0..span).collect();
        x.rng.shuffle(&mut days);
        days.truncate(n as usize);
        days.sort_unstable();
        for d in days {
            let total = x.rng.range(905_000, 995_000);
            let parts = if x.rng.chance(0.4) { x.split(total, 2, 0.3) } else { vec![total] };
            for p in parts {
                let ts = x.at(d, 14, 22);
                cash(x, ts, a, p, home);
            }
        }
    }
}

/// T2 smurfing: 4-7 distinct senders, each under $9,500, into one account within 6 days.
fn t2(x: &mut Inst) {
    let a = if x.rng.chance(0.7) { x.person("US") } else { x.business("US", "import_export") };
    let n = x.rng.range(4, 7) as usize;
    let span = x.span(6) as i64 * DAY;
    let d = x.start_day(6);
    let t0 = x.at(d, 12, 16);
    for ts in x.times(t0, span - 16 * HOUR, n) {
        let s = x.person("US");
        let amount = x.rng.range(100_000, 950_000) / 100 * 100;
        let ch = transfer_channel(&mut x.rng);
        usd(x, ts, s, a, amount, ch);
    }
}

/// T3 funnel: cash at branches in 3-5 states over 2-4 days; each day's deposits leave
/// (88-98%) within 6-30 hours by wire to an account abroad.
fn t3(x: &mut Inst) {
    let a = x.new_person("US", 30, 900);
    let home = x.acct(a).region;
    let n_states = x.rng.range(3, 5) as usize;
    let states = distinct_states(&mut x.rng, home, n_states);
    let out_to = x.foreign_business("import_export");
    let n_days = (x.rng.range(2, 4) as u32).min(x.span(8).saturating_sub(2).max(1));
    let mut day = x.start_day(n_days * 2 + 2);
    let mut pending: Vec<&'static str> = states.clone();
    x.rng.shuffle(&mut pending);
    for k in 0..n_days {
        let mut today: Vec<&'static str> = Vec::new();
        let per_day = pending.len().div_ceil((n_days - k) as usize).max(1);
        for _ in 0..per_day {
            if let Some(s) = pending.pop() {
                today.push(s);
            }
        }
        if today.is_empty() {
            today.push(*x.rng.pick(&states));
        }
        let mut total = 0;
        let mut last = 0;
        for s in today {
            let ts = x.at(day, 14, 20);
            let amount = x.rng.range(200_000, 790_000);
            cash(x, ts, a, amount, s);
            total += amount;
            last = last.max(ts);
        }
        let out_ts = last + x.rng.range(6 * HOUR, 30 * HOUR);
        let out = total * x.rng.range(88, 98) / 100;
        usd(x, out_ts, a, out_to, out, Channel::Wire);
        day += x.rng.range(1, 2) as u32;
    }
}

/// T4 pass-through: a wire in, then 2-4 wires out within 2-40 hours totalling 93-100%;
/// once or twice.
fn t4(x: &mut Inst) {
    let a = if x.rng.chance(0.6) { x.business("US", "consulting") } else { x.person("US") };
    let src = x.foreign_business("import_export");
    let rounds = if x.avail >= 9 && x.rng.chance(0.5) { 2 } else { 1 };
    let mut d = x.start_day(3 + 5 * (rounds - 1));
    for _ in 0..rounds {
        let t_in = x.at(d, 13, 18);
        let amount = x.rng.skewed(1_500_000, 20_000_000, 2) / 100 * 100;
        usd(x, t_in, src, a, amount, Channel::Wire);
        let k = x.rng.range(2, 4) as usize;
        let out_total = amount * x.rng.range(93, 100) / 100;
        for part in x.split(out_total, k, 0.4) {
            let to = if x.rng.chance(0.5) { x.person("US") } else { x.foreign_business("trading") };
            let ts = t_in + x.rng.range(2 * HOUR, 40 * HOUR);
            usd(x, ts, a, to, part, Channel::Wire);
        }
        d += 5;
    }
}

/// T5 profile mismatch: a new account (opened 20-150 days ago) of a student or a
/// low-income customer receives, within 25 days, several times what its profile allows.
fn t5(x: &mut Inst) {
    let a = x.new_person("US", 20, 150);
    let student = x.rng.chance(0.6);
    let total = if student {
        let income = x.rng.range(800, 2_000) * 100;
        let cn = x.rng.chance(0.5);
        let s = x.acct_mut(a);
        s.occupation = "student";
        s.income_cents = Some(income);
        if cn {
            s.nationality = "CN";
        }
        x.rng.range(2_500_000, 8_000_000)
    } else {
        let occ = *x.rng.pick(&["cashier", "driver", "cook", "unemployed"]);
        let income = x.rng.range(1_800, 3_500) * 100;
        let s = x.acct_mut(a);
        s.occupation = occ;
        s.income_cents = Some(income);
        income * 3 * x.rng.range(160, 300) / 100
    };
    let n = x.rng.range(4, 9) as usize;
    let span = x.span(25) as i64 * DAY;
    let t0 = x.at(0, 12, 16);
    let n_senders = x.rng.range(1, 3) as usize;
    let senders: Vec<u32> =
        (0..n_senders).map(|_| if x.rng.chance(0.5) { x.person("CN") } else { x.person("US") }).collect();
    let parts = x.split(total, n, 0.4);
    let times = x.times(t0, span - 16 * HOUR, n);
    for (p, ts) in parts.into_iter().zip(times) {
        let s = *x.rng.pick(&senders);
        if x.acct(s).country == "CN" {
            let day = x.fx().day_of(ts);
            let amount = x.fx().amount_for_usd(p, 0, Cur::Cny, day);
            x.push(Tx::new(ts, s, a, amount, Cur::Cny, Channel::Wire));
        } else if p < 790_000 && x.rng.chance(0.3) {
            let home = x.acct(a).region;
            cash(x, ts, a, p, home);
        } else {
            let ch = transfer_channel(&mut x.rng);
            usd(x, ts, s, a, p, ch);
        }
    }
}

/// T7 cycle: 2-6 accounts, a time-respecting directed cycle closing within 25 days,
/// each hop keeping 90-99.5% of the value.
fn t7(x: &mut Inst) {
    let len = x.rng.range(2, 6) as usize;
    let nodes: Vec<u32> = (0..len)
        .map(|i| match (i, x.rng.below(4)) {
            (0, _) | (_, 0) => x.business("US", "consulting"),
            (_, 1) => x.foreign_business("trading"),
            _ => x.person("US"),
        })
        .collect();
    let span = x.span(25) as i64 * DAY - 20 * HOUR;
    let t0 = x.at(0, 13, 18);
    let mut times = x.times(t0 + HOUR, span.max(len as i64 * 4 * HOUR), len);
    times[0] = t0;
    for i in 1..len {
        times[i] = times[i].max(times[i - 1] + 2 * HOUR);
    }
    let mut amount = x.rng.skewed(2_000_000, 25_000_000, 2) / 100 * 100;
    for i in 0..len {
        let ch = if x.rng.chance(0.7) { Channel::Wire } else { Channel::Ach };
        usd(x, times[i], nodes[i], nodes[(i + 1) % len], amount, ch);
        amount = amount * x.rng.range(900, 995) / 1000;
    }
}

/// T8 fan-in (5-9 senders into one account within 5 days) or fan-out (one account to
/// 5-9 recipients within 4 days).
fn t8(x: &mut Inst) {
    let hub = if x.rng.chance(0.5) { x.person("US") } else { x.business("US", "import_export") };
    let n = x.rng.range(5, 9) as usize;
    let inbound = x.rng.chance(0.5);
    let span = x.span(if inbound { 5 } else { 4 }) as i64 * DAY - 12 * HOUR;
    let t0 = x.at(0, 12, 16);
    for ts in x.times(t0, span, n) {
        let country = if x.rng.chance(0.8) { "US" } else { "MX" };
        let other = x.person(country);
        let amount = x.rng.range(30_000, 400_000);
        let ch = transfer_channel(&mut x.rng);
        if inbound {
            usd(x, ts, other, hub, amount, ch);
        } else {
            usd(x, ts, hub, other, amount, ch);
        }
    }
}

/// Scatters `amount` from `ends.0` over `k` fresh intermediaries (ACH within 6 h of
/// `t0`), each wiring `keep` percent of its part on to `ends.1` after `delay`.
fn scatter_through(
    x: &mut Inst,
    t0: i64,
    ends: (u32, u32),
    amount: i64,
    k: usize,
    delay: (i64, i64),
    keep: (i64, i64),
) {
    let (src, sink) = ends;
    for part in x.split(amount, k, 0.5) {
        let mid = x.person("US");
        let t1 = t0 + x.rng.range(0, 6 * HOUR);
        usd(x, t1, src, mid, part, Channel::Ach);
        let t2 = t1 + x.rng.range(delay.0, delay.1);
        let fwd = part * x.rng.range(keep.0, keep.1) / 100;
        usd(x, t2, mid, sink, fwd, Channel::Wire);
    }
}

/// T9 scatter-gather (one source, 2-5 intermediaries, one sink; 93-100% re-converges)
/// or gather-scatter (2-4 sources into a hub, 92-100% out to 2-4 sinks).
fn t9(x: &mut Inst) {
    let t0 = x.at(0, 13, 17);
    if x.rng.chance(0.5) {
        let src = x.business("US", "consulting");
        let sink = x.foreign_business("trading");
        let k = x.rng.range(2, 5) as usize;
        let amount = x.rng.skewed(1_000_000, 15_000_000, 2);
        scatter_through(x, t0, (src, sink), amount, k, (6 * HOUR, 60 * HOUR), (93, 100));
    } else {
        let hub = x.business("US", "import_export");
        let k_in = x.rng.range(2, 4) as usize;
        let mut gathered = 0;
        let mut last_in = t0;
        for _ in 0..k_in {
            let s = x.person("US");
            let amount = x.rng.range(300_000, 4_000_000);
            let ts = t0 + x.rng.range(0, 20 * HOUR);
            let ch = transfer_channel(&mut x.rng);
            usd(x, ts, s, hub, amount, ch);
            gathered += amount;
            last_in = last_in.max(ts);
        }
        let m = x.rng.range(2, 4) as usize;
        let out = gathered * x.rng.range(92, 100) / 100;
        for part in x.split(out, m, 0.5) {
            let sink = if x.rng.chance(0.5) { x.person("US") } else { x.foreign_business("trading") };
            let ts = last_in + x.rng.range(12 * HOUR, 60 * HOUR);
            usd(x, ts, hub, sink, part, Channel::Wire);
        }
    }
}

/// T10 bipartite (every one of 2-3 senders pays every one of 2-3 receivers within 5 days)
/// or stack (a second complete layer forwards ~95% to 2-3 more accounts).
fn t10(x: &mut Inst) {
    let na = x.rng.range(2, 3) as usize;
    let nb = x.rng.range(2, 3) as usize;
    let a: Vec<u32> = (0..na).map(|_| x.business("US", "consulting")).collect();
    let b: Vec<u32> = (0..nb).map(|_| x.person("US")).collect();
    let stack = x.rng.chance(0.5);
    let span = x.span(if stack { 3 } else { 5 }) as i64 * DAY - 12 * HOUR;
    let t0 = x.at(0, 12, 16);
    let mut received = vec![0i64; nb];
    let mut last = t0;
    for &ai in &a {
        for (j, &bj) in b.iter().enumerate() {
            let ts = t0 + x.rng.range(0, span.max(HOUR));
            let amount = x.rng.range(500_000, 3_000_000);
            usd(x, ts, ai, bj, amount, Channel::Ach);
            received[j] += amount;
            last = last.max(ts);
        }
    }
    if stack {
        let nc = x.rng.range(2, 3) as usize;
        let c: Vec<u32> = (0..nc).map(|_| x.foreign_business("trading")).collect();
        for (j, &bj) in b.iter().enumerate() {
            let out = received[j] * x.rng.range(92, 98) / 100;
            for (part, &ck) in x.split(out, nc, 0.5).into_iter().zip(&c) {
                let ts = last + x.rng.range(6 * HOUR, 40 * HOUR);
                usd(x, ts, bj, ck, part, Channel::Wire);
            }
        }
    }
}

/// The coin and hot wallet a chain uses at US exchange `e`.
fn chain(x: &Inst, style: IdStyle, e: usize) -> (Cur, u32) {
    let ex = &x.layout().exchanges;
    match style {
        IdStyle::Btc => (Cur::Btc, ex.us_btc[e]),
        IdStyle::Eth => (Cur::Eth, ex.us_eth[e]),
        _ => (Cur::Usdt, ex.us_tron[e]),
    }
}

/// A peel chain from `w0` holding `units0` (in 10^-dec units of `cur`): `hops` hops, each
/// sending `keep` of the balance on and peeling the rest off. Returns the last wallet and
/// the time of the last hop.
#[allow(clippy::too_many_arguments)]
fn peel_chain(
    x: &mut Inst,
    w0: u32,
    style: IdStyle,
    cur: Cur,
    units0: i128,
    mut ts: i64,
    hops: usize,
    keep_ppm: (i64, i64),
    gap: (i64, i64),
) -> (u32, i64) {
    let dec = cur.decimals();
    let mut bal = units0;
    let mut w = w0;
    let hot = chain(x, style, 0).1;
    for _ in 0..hops {
        ts += x.rng.range(gap.0, gap.1);
        let keep = x.rng.range(keep_ppm.0, keep_ppm.1) as i128;
        let big = bal * keep / 1_000_000;
        let small = bal - big;
        let next = x.wallet(style);
        let peel_to = if x.rng.chance(0.4) { hot } else { x.wallet(style) };
        x.push(Tx::new(ts, w, next, units(big, dec), cur, Channel::Crypto));
        let ts2 = ts + x.rng.range(0, 120);
        x.push(Tx::new(ts2, w, peel_to, units(small, dec), cur, Channel::Crypto));
        w = next;
        bal = big;
    }
    (w, ts)
}

/// T11 on-ramp and peel chain: cash in, exchange funded by ACH within 2-40 hours, coins
/// withdrawn to a self-hosted wallet, then 3-5 peel hops splitting 90.5:9.5 to 98.5:1.5.
fn t11(x: &mut Inst) {
    let a = x.person("US");
    let home = x.acct(a).region;
    let e = x.rng.index(2);
    let d = x.start_day(4);
    let t0 = x.at(d, 14, 18);
    let n = x.rng.range(1, 3) as usize;
    let mut total = 0;
    let mut last = t0;
    for ts in x.times(t0, 5 * HOUR, n) {
        let amount = x.rng.range(300_000, 990_000);
        cash(x, ts, a, amount, home);
        total += amount;
        last = ts;
    }
    let fund_ts = last + x.rng.range(2 * HOUR, 40 * HOUR);
    let funded = total * x.rng.range(95, 100) / 100;
    let bank = x.layout().exchanges.us_bank[e];
    usd(x, fund_ts, a, bank, funded, Channel::Ach);
    let style = if x.rng.chance(0.6) { IdStyle::Tron } else { IdStyle::Btc };
    let (cur, hot) = chain(x, style, e);
    let w0 = x.wallet(style);
    let ts = fund_ts + x.rng.range(HOUR / 2, 6 * HOUR);
    let coins = x.fx().amount_for_usd(funded, -10_000, cur, x.fx().day_of(ts));
    x.push(Tx::new(ts, hot, w0, coins, cur, Channel::Crypto));
    let dec = cur.decimals();
    let hops = x.rng.range(3, 5) as usize;
    peel_chain(x, w0, style, cur, coins / 10i128.pow(18 - dec), ts, hops, (905_000, 985_000), (HOUR / 2, 8 * HOUR));
}

/// Precursor chemicals quoted by CAS number.
pub(crate) const PRECURSORS: [(&str, &str); 10] = [
    ("BMK glycidate", "5449-12-7"),
    ("PMK glycidate", "13605-48-6"),
    ("4-ANPP", "21409-26-7"),
    ("N-phenethyl-4-piperidone", "39742-60-4"),
    ("1-boc-4-piperidone", "79099-07-3"),
    ("4-piperidone HCl", "40064-34-4"),
    ("2-bromo-4'-methylpropiophenone", "1451-82-7"),
    ("phenylacetone", "103-79-7"),
    ("4-anilinopiperidine", "23056-29-3"),
    ("norfentanyl", "1609-66-1"),
];

/// T12 precursor payments: 2-4 payments over up to 3 weeks to a CN/HK chemical supplier,
/// by USDT on Tron to its (watchlisted) wallet or by wire with a CAS number in the memo.
fn t12(x: &mut Inst) {
    let country = if x.rng.chance(0.75) { "CN" } else { "HK" };
    let industry = if x.rng.chance(0.7) { "chemicals" } else { "pharmaceutical_intermediates" };
    let sup = x.business(country, industry);
    let flagged = x.rng.chance(0.6);
    if flagged {
        x.acct_mut(sup).watchlist = "precursor_supplier";
    }
    let crypto = flagged && x.rng.chance(0.6);
    let (payer, sup_wallet) = if crypto {
        let w = x.wallet(IdStyle::Tron);
        let sw = x.wallet(IdStyle::Tron);
        let s = x.acct_mut(sw);
        s.country = country;
        s.watchlist = "precursor_supplier";
        (w, sw)
    } else {
        let p = match x.rng.below(3) {
            0 => x.business("US", "pharmacy"),
            1 => x.business("MX", "import_export"),
            _ => x.person("US"),
        };
        (p, NONE)
    };
    let n = x.rng.range(2, 4) as usize;
    let span = x.span(21) as i64 * DAY - 16 * HOUR;
    let t0 = x.at(0, 1, 8);
    for ts in x.times(t0, span, n) {
        let (name, cas) = *x.rng.pick(&PRECURSORS);
        let kg = x.rng.range(5, 100);
        let usd_amount = x.rng.range(200_000, 2_500_000);
        if crypto {
            let day = x.fx().day_of(ts);
            let amount = x.fx().amount_for_usd(usd_amount, 0, Cur::Usdt, day);
            let memo = if x.rng.chance(0.4) { Memo::text(format!("{name} {kg}kg CAS {cas}")) } else { Memo::None };
            x.push(Tx::new(ts, payer, sup_wallet, amount, Cur::Usdt, Channel::Crypto).memo(memo));
        } else {
            let memo = Memo::text(format!("CAS {cas} {name}, {kg} kg"));
            x.push(Tx::new(ts, payer, sup, cents(usd_amount), Cur::Usd, Channel::Wire).memo(memo));
        }
    }
}

/// T13 trade-based laundering: an electronics business receives 3-7 wires from 2-4
/// buyers in MX / CN / HK / AE over up to four weeks and buys nothing; half the time one
/// wire out to a private person at the end.
fn t13(x: &mut Inst) {
    let industry = *x.rng.pick(&["electronics", "phone_accessories", "computer_parts"]);
    let front = x.business("US", industry);
    let m = x.rng.range(2, 4) as usize;
    let buyers: Vec<u32> = (0..m).map(|_| x.foreign_business("import_export")).collect();
    let n = x.rng.range(3, 7) as usize;
    let span = x.span(26) as i64 * DAY - 20 * HOUR;
    let t0 = x.at(0, 13, 17);
    let times = x.times(t0, span.max(HOUR), n);
    let mut total = 0;
    for (i, &ts) in times.iter().enumerate() {
        let b = buyers[i % m];
        let usd_amount = x.rng.skewed(1_500_000, 12_000_000, 2) / 100 * 100;
        total += usd_amount;
        let memo = Memo::text(format!(
            "invoice {} {}",
            x.rng.range(1000, 9999),
            *x.rng.pick(&["smartphones", "laptops", "tablets", "GPU cards"])
        ));
        if x.acct(b).country == "MX" && x.rng.chance(0.4) {
            let amount = x.fx().amount_for_usd(usd_amount, 0, Cur::Mxn, x.fx().day_of(ts));
            x.push(Tx::new(ts, b, front, amount, Cur::Mxn, Channel::Wire).memo(memo));
        } else {
            x.push(Tx::new(ts, b, front, cents(usd_amount), Cur::Usd, Channel::Wire).memo(memo));
        }
    }
    if x.rng.chance(0.5) {
        let p = x.person("US");
        let ts = times[n - 1] + x.rng.range(2 * HOUR, 18 * HOUR);
        let amount = total * x.rng.range(20, 40) / 100;
        x.push(Tx::new(ts, front, p, cents(amount), Cur::Usd, Channel::Wire).memo(Memo::Static("consulting fee")));
    }
}

// ---------------------------------------------------------------------------------------
// Near misses: each just outside one threshold, and inside none of the account-level
// ones.

/// T1 near miss: deposits of $7,950-$7,999 within 48 h; or two in-band deposits 80-110
/// hours apart; or in-band daily totals on only 2 days, 5-9 days apart.
fn nm_t1(x: &mut Inst) {
    let a = x.person("US");
    let home = x.acct(a).region;
    let variant = if x.avail < 11 { x.rng.below(2) } else { x.rng.below(3) };
    let d = x.start_day(if variant == 0 { 3 } else { 10 });
    let t0 = x.at(d, 14, 19);
    match variant {
        0 => {
            let n = x.rng.range(2, 3) as usize;
            for ts in x.times(t0, 44 * HOUR, n) {
                let amount = x.rng.range(795_000, 799_900);
                cash(x, ts, a, amount, home);
            }
        }
        1 => {
            let amount = x.rng.range(810_000, 980_000);
            cash(x, t0, a, amount, home);
            let t1 = t0 + x.rng.range(80 * HOUR, 110 * HOUR);
            let amount = x.rng.range(810_000, 980_000);
            cash(x, t1, a, amount, home);
        }
        _ => {
            let amount = x.rng.range(905_000, 995_000);
            cash(x, t0, a, amount, home);
            let t1 = t0 + x.rng.range(5, 9) * DAY;
            let amount = x.rng.range(905_000, 995_000);
            cash(x, t1, a, amount, home);
        }
    }
}

/// T2 near miss: only 3 distinct senders within 7 days (one may send twice); or a 4th
/// sender 7 days and some hours after the first.
fn nm_t2(x: &mut Inst) {
    let a = x.person("US");
    let senders: Vec<u32> = (0..3).map(|_| x.person("US")).collect();
    let t0 = x.at(0, 12, 16);
    let times = x.times(t0, 5 * DAY, 3);
    for (&s, &ts) in senders.iter().zip(&times) {
        let amount = x.rng.range(100_000, 600_000);
        usd(x, ts, s, a, amount, Channel::P2p);
    }
    if x.rng.chance(0.5) {
        let ts = times[2] + x.rng.range(HOUR, DAY);
        let amount = x.rng.range(100_000, 600_000);
        usd(x, ts, senders[0], a, amount, Channel::P2p);
    } else if x.avail >= 9 {
        let s4 = x.person("US");
        let ts = times[0] + 7 * DAY + x.rng.range(4 * HOUR, 20 * HOUR);
        let amount = x.rng.range(100_000, 600_000);
        usd(x, ts, s4, a, amount, Channel::P2p);
    }
}

/// T3 near miss: cash in 3 states, but only 55-70% leaves within 48 hours (the rest
/// 6-9 days later).
fn nm_t3(x: &mut Inst) {
    let a = x.person("US");
    let home = x.acct(a).region;
    let states = distinct_states(&mut x.rng, home, 3);
    let out_to = x.foreign_business("import_export");
    let mut total = 0;
    let mut last = 0;
    for (k, s) in states.into_iter().enumerate() {
        let ts = x.at(k as u32, 14, 20);
        let amount = x.rng.range(200_000, 600_000);
        cash(x, ts, a, amount, s);
        total += amount;
        last = ts;
    }
    let first_out = total * x.rng.range(55, 70) / 100;
    let ts = last + x.rng.range(10 * HOUR, 30 * HOUR);
    usd(x, ts, a, out_to, first_out, Channel::Wire);
    let ts = last + x.rng.range(6, 9) * DAY;
    if ts < x.horizon_end() {
        usd(x, ts, a, out_to, total - first_out, Channel::Wire);
    }
}

/// T4 near miss: out only 80-86% of the inflow within 72 hours; or 95-100% but 76-90
/// hours later.
fn nm_t4(x: &mut Inst) {
    let a = x.business("US", "consulting");
    let src = x.foreign_business("import_export");
    let t_in = x.at(0, 13, 18);
    let amount = x.rng.skewed(1_500_000, 20_000_000, 2) / 100 * 100;
    usd(x, t_in, src, a, amount, Channel::Wire);
    let late = x.rng.chance(0.5);
    let out = amount * if late { x.rng.range(95, 100) } else { x.rng.range(80, 86) } / 100;
    let k = x.rng.range(2, 3) as usize;
    for part in x.split(out, k, 0.4) {
        let to = x.person("US");
        let ts = t_in + if late { x.rng.range(76 * HOUR, 90 * HOUR) } else { x.rng.range(6 * HOUR, 40 * HOUR) };
        usd(x, ts, a, to, part, Channel::Wire);
    }
}

/// T5 near miss: a student account 190-260 days old with $22k-$35k in; or a new
/// low-income account with only 2.2-2.8x its declared income in.
fn nm_t5(x: &mut Inst) {
    let old_student = x.rng.chance(0.5);
    let (a, total) = if old_student {
        let a = x.new_person("US", 190, 260);
        let s = x.acct_mut(a);
        s.occupation = "student";
        s.nationality = "CN";
        s.income_cents = Some(1_500 * 100);
        (a, x.rng.range(2_200_000, 3_500_000))
    } else {
        let a = x.new_person("US", 40, 150);
        let income = x.rng.range(2_500, 4_000) * 100;
        let s = x.acct_mut(a);
        s.occupation = "cashier";
        s.income_cents = Some(income);
        (a, income * x.rng.range(220, 280) / 100)
    };
    let sender = if old_student { x.person("CN") } else { x.person("US") };
    let n = x.rng.range(2, 4) as usize;
    let t0 = x.at(0, 12, 16);
    let span = x.span(20) as i64 * DAY - 16 * HOUR;
    let times = x.times(t0, span.max(HOUR), n);
    for (p, ts) in x.split(total, n, 0.5).into_iter().zip(times) {
        if old_student {
            let amount = x.fx().amount_for_usd(p, 0, Cur::Cny, x.fx().day_of(ts));
            x.push(Tx::new(ts, sender, a, amount, Cur::Cny, Channel::Wire));
        } else {
            usd(x, ts, sender, a, p, Channel::Ach);
        }
    }
}

/// T7 near miss: a cycle whose hops are 3.2-5 days apart and where one hop loses 18-24%;
/// or a cycle that is not time-respecting (a middle hop happens before the first).
fn nm_t7(x: &mut Inst) {
    let len = if x.avail >= 18 { x.rng.range(3, 4) as usize } else { 2 };
    let nodes: Vec<u32> = (0..len).map(|_| x.business("US", "consulting")).collect();
    let t0 = x.at(0, 13, 18);
    let mut times = vec![t0];
    for i in 1..len {
        let prev = times[i - 1];
        times.push(prev + x.rng.range(77 * HOUR, 120 * HOUR));
    }
    let broken_order = len >= 3 && x.rng.chance(0.5);
    if broken_order {
        // hop 1 happens before hop 0: no time-respecting path closes the loop
        times.swap(0, 1);
    }
    // the drop shows on the hop after the lossy one
    let lossy = if broken_order { usize::MAX } else { x.rng.index(len - 1) };
    let mut amount = x.rng.skewed(2_000_000, 20_000_000, 2) / 100 * 100;
    for i in 0..len {
        usd(x, times[i], nodes[i], nodes[(i + 1) % len], amount, Channel::Wire);
        let keep = if i == lossy { x.rng.range(760, 820) } else { x.rng.range(900, 995) };
        amount = amount * keep / 1000;
    }
}

/// T8 near miss: exactly 3 counterparties in or out within 5 days.
fn nm_t8(x: &mut Inst) {
    let hub = x.person("US");
    let inbound = x.rng.chance(0.5);
    let t0 = x.at(0, 12, 16);
    for ts in x.times(t0, 5 * DAY, 3) {
        let other = x.person("US");
        let amount = x.rng.range(30_000, 400_000);
        if inbound {
            usd(x, ts, other, hub, amount, Channel::P2p);
        } else {
            usd(x, ts, hub, other, amount, Channel::P2p);
        }
    }
}

/// T9 near miss: scatter-gather (or gather-scatter) where only 74-82% re-converges.
fn nm_t9(x: &mut Inst) {
    let t0 = x.at(0, 13, 17);
    let k = x.rng.range(2, 3) as usize;
    if x.rng.chance(0.5) {
        let src = x.business("US", "consulting");
        let sink = x.foreign_business("trading");
        let amount = x.rng.skewed(1_000_000, 15_000_000, 2);
        scatter_through(x, t0, (src, sink), amount, k, (12 * HOUR, 60 * HOUR), (74, 82));
    } else {
        let hub = x.business("US", "import_export");
        let mut gathered = 0;
        for _ in 0..k {
            let s = x.person("US");
            let amount = x.rng.range(300_000, 4_000_000);
            let ts = t0 + x.rng.range(0, 20 * HOUR);
            usd(x, ts, s, hub, amount, Channel::Ach);
            gathered += amount;
        }
        let out = gathered * x.rng.range(74, 82) / 100;
        let last_in = t0 + 20 * HOUR;
        for part in x.split(out, k, 0.5) {
            let sink = x.person("US");
            let ts = last_in + x.rng.range(12 * HOUR, 60 * HOUR);
            usd(x, ts, hub, sink, part, Channel::Wire);
        }
    }
}

/// T10 near miss: a 2x2 bipartite with one edge missing.
fn nm_t10(x: &mut Inst) {
    let a = [x.business("US", "consulting"), x.business("US", "consulting")];
    let b = [x.person("US"), x.person("US")];
    let t0 = x.at(0, 12, 16);
    for (i, j) in [(0, 0), (0, 1), (1, 0)] {
        let ts = t0 + x.rng.range(0, 3 * DAY);
        let amount = x.rng.range(500_000, 3_000_000);
        usd(x, ts, a[i], b[j], amount, Channel::Ach);
    }
}

/// T11 near miss: cash, then the exchange funded 52-66 hours later (outside 48 h) with
/// 65-80% of it; or a peel chain of only 2 hops; or 3 hops splitting 70:30 to 85:15. Peel
/// hops are 80-100 hours apart so no wallet looks like a pass-through.
fn nm_t11(x: &mut Inst) {
    let variant = if x.avail < 10 { 0 } else { x.rng.below(3) };
    let e = x.rng.index(2);
    if variant == 0 {
        let a = x.person("US");
        let home = x.acct(a).region;
        let t0 = x.at(0, 14, 18);
        let amount = x.rng.range(400_000, 790_000);
        cash(x, t0, a, amount, home);
        let bank = x.layout().exchanges.us_bank[e];
        let ts = t0 + x.rng.range(52 * HOUR, 66 * HOUR);
        let funded = amount * x.rng.range(65, 80) / 100;
        usd(x, ts, a, bank, funded, Channel::Ach);
        return;
    }
    let style = IdStyle::Tron;
    let (cur, hot) = chain(x, style, e);
    let w0 = x.wallet(style);
    let ts = x.at(0, 14, 18);
    let coins = x.fx().amount_for_usd(x.rng.range(500_000, 3_000_000), 0, cur, x.fx().day_of(ts));
    x.push(Tx::new(ts, hot, w0, coins, cur, Channel::Crypto));
    let dec = cur.decimals();
    let (hops, keep) = if variant == 1 { (2, (905_000, 985_000)) } else { (3, (700_000, 850_000)) };
    peel_chain(x, w0, style, cur, coins / 10i128.pow(18 - dec), ts, hops, keep, (80 * HOUR, 100 * HOUR));
}

/// T12 near miss: a payment to an unflagged Chinese chemical supplier whose memo has
/// numbers but no CAS number.
fn nm_t12(x: &mut Inst) {
    let sup = x.business("CN", "chemicals");
    let payer = x.business("US", "industrial_supplies");
    let n = x.rng.range(1, 3) as usize;
    let t0 = x.at(0, 13, 18);
    let span = x.span(20) as i64 * DAY - 20 * HOUR;
    for ts in x.times(t0, span.max(HOUR), n) {
        let po = x.rng.range(1000, 9999);
        let memo = match x.rng.below(3) {
            0 => format!("PO {po} lot 2025-11-3A solvent drums"),
            1 => format!("PO {po} ref 12-345-6 resin, 40 bags"),
            _ => format!("PO {po} CAS no. on request"),
        };
        let amount = x.rng.range(300_000, 3_000_000);
        x.push(Tx::new(ts, payer, sup, cents(amount), Cur::Usd, Channel::Wire).memo(Memo::text(memo)));
    }
}

/// T13 near miss: an electronics business paid by up to 3 foreign buyers, which buys
/// matching goods (85-100%) from Chinese suppliers 4-9 days after each payment.
fn nm_t13(x: &mut Inst) {
    let front = x.business("US", "electronics");
    let k = x.rng.range(2, 3) as usize;
    let sup = x.business("CN", "electronics");
    let t0 = x.at(0, 13, 17);
    let span = x.span(12) as i64 * DAY;
    let times = x.times(t0, (span - 10 * DAY).max(HOUR), k);
    for ts in times {
        let b = x.foreign_business("import_export");
        let amount = x.rng.skewed(1_500_000, 8_000_000, 2) / 100 * 100;
        usd(x, ts, b, front, amount, Channel::Wire);
        let t2 = ts + x.rng.range(4 * DAY, 9 * DAY);
        if t2 < x.horizon_end() {
            let cost = amount * x.rng.range(85, 100) / 100;
            x.push(
                Tx::new(t2, front, sup, cents(cost), Cur::Usd, Channel::Wire)
                    .memo(Memo::Static("purchase order handsets")),
            );
        }
    }
}
