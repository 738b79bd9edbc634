//! The account table: how the background population is laid out (which index ranges are
//! ordinary people, restaurants, money-services businesses, students, traders, exchanges),
//! each account's attributes, account and customer id spelling, and `accounts.csv` /
//! `populations.csv`.
//!
//! Owns: the background population and the id scheme. Ids never reveal a population or a
//! scheme: numbers are a bijective shuffle of the index, and rows are written in a
//! shuffled order with scheme accounts interleaved.
//! Must not: generate transactions (`background` and `schemes` do).

use std::io::Write;

use chrono::NaiveDate;

use mirrorflow_core::money::format_decimal;
use mirrorflow_core::schema::acct as col;

use super::model::{AccountSpec, IdStyle, NONE, bank_for, region_for};
use super::rng::{Rng, mix};

const STREAM_ACCOUNT: u64 = 0xA0;
const NS_PHONE: u64 = 0x5048_4f4e;
const NS_ADDRESS: u64 = 0x4144_4452;
const NS_DEVICE: u64 = 0x4445_5643;
const NS_WALLET: u64 = 0x5741_4c4c;

/// A contiguous run of account indices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u32,
    pub len: u32,
}

impl Range {
    pub(crate) fn at(&self, i: u32) -> u32 {
        self.start + i % self.len.max(1)
    }
    pub(crate) fn pick(&self, rng: &mut Rng) -> u32 {
        self.start + rng.below(self.len as u64) as u32
    }
    pub(crate) fn contains(&self, idx: u32) -> bool {
        idx >= self.start && idx < self.start + self.len
    }
    pub(crate) fn offset(&self, idx: u32) -> u32 {
        idx - self.start
    }
}

/// The exchanges' accounts: a US bank account and hot wallets per US exchange, and one
/// Mexican exchange (bank account + Tron hot wallet).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Exchanges {
    pub us_bank: [u32; 2],
    pub us_tron: [u32; 2],
    pub us_eth: [u32; 2],
    pub us_btc: [u32; 2],
    pub mx_bank: u32,
    pub mx_tron: u32,
    pub range: Range,
}

pub(crate) const US_EXCHANGES: [&str; 2] = ["Kestrel Exchange", "Northwind Digital"];
pub(crate) const MX_EXCHANGE: &str = "Bitmesa";

/// Index ranges of the background population, sized from the requested rows and days.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    /// US ordinary people; the first `employed` are paid by `employers`, the first
    /// `renters` pay rent.
    pub persons: Range,
    pub employed: u32,
    pub renters: u32,
    /// Chinese students in the US, right after `persons` (card spenders are both).
    pub students: Range,
    /// Their families' accounts in China (one per student).
    pub families: Range,
    pub universities: Range,
    pub merchants: Range,
    pub landlords: Range,
    pub employers: Range,
    pub restaurants: Range,
    pub msb_us: Range,
    pub msb_mx: Range,
    pub remit_senders: Range,
    pub remit_recipients: Range,
    pub importers: Range,
    pub wholesalers: Range,
    pub cn_suppliers: Range,
    pub foreign_buyers: Range,
    pub crypto_users: Range,
    /// Self-hosted wallets, one per crypto user; chain = offset % 3 (BTC, ETH, Tron).
    pub wallets: Range,
    pub marketplaces: Range,
    pub sellers: Range,
    pub mx_persons: Range,
    pub cn_persons: Range,
    pub exchanges: Exchanges,
    pub total: u32,
}

/// The fewest and most background accounts a ledger gets, whatever its size (the floor
/// keeps scheme accounts a minority in small demo ledgers).
pub(crate) const MIN_ACCOUNTS: u64 = 800;
pub(crate) const MAX_ACCOUNTS: u64 = 400_000;

impl Layout {
    /// Sizes the population: about `rows / 40` accounts (800 at least, 400k at most);
    /// populations whose activity is scheduled (restaurants, payroll) are sized from the
    /// average rows per day so that scheduled activity stays a fixed share of it.
    pub(crate) fn new(rows: u64, days: u32) -> Layout {
        let a = (rows / 40).clamp(MIN_ACCOUNTS, MAX_ACCOUNTS) as f64;
        let per_day = (rows as f64 / days.max(1) as f64).max(1.0);
        let n = |share: f64, min: u32| ((a * share) as u32).max(min);
        let mut l = Layout::default();
        let mut next = 0u32;
        let mut take = |len: u32| {
            let r = Range { start: next, len };
            next += len;
            r
        };
        let students = n(0.02, 4);
        let restaurants = ((per_day * 0.04 * 7.0 / 6.0) as u32).clamp(3, (a / 20.0) as u32);
        let employed_target = (per_day * 1.4) as u32;
        let sizes_other = students * 2
            + restaurants
            + n(0.03, 10)
            + n(0.005, 3)
            + n(0.05, 4) * 2
            + n(0.04, 6) * 2
            + n(0.04, 6)
            + n(0.03, 6)
            + n(0.02, 5)
            + n(0.006, 3)
            + n(0.003, 2)
            + n(0.006, 4)
            + n(0.004, 3);
        let persons = ((a as u32).saturating_sub(sizes_other)).max(40);
        l.persons = take(persons);
        l.students = take(students);
        l.employed = employed_target.clamp(10, persons);
        l.renters = ((per_day * 0.03 * 30.0) as u32).clamp(5, persons);
        l.families = take(students);
        l.universities = take((students / 200).clamp(2, 40));
        l.merchants = take(n(0.03, 10));
        l.landlords = take(n(0.005, 3));
        l.employers = take((l.employed / 25).max(2));
        l.restaurants = take(restaurants);
        l.msb_us = take(((a / 5000.0) as u32).clamp(2, 20));
        l.msb_mx = take(l.msb_us.len);
        l.remit_senders = take(n(0.05, 4));
        l.remit_recipients = take(l.remit_senders.len);
        l.importers = take(n(0.006, 3));
        l.wholesalers = take(n(0.003, 2));
        l.cn_suppliers = take(n(0.006, 4));
        l.foreign_buyers = take(n(0.004, 3));
        l.crypto_users = take(n(0.04, 6));
        l.wallets = take(l.crypto_users.len);
        l.marketplaces = take(((a / 60_000.0) as u32).clamp(2, 4));
        l.sellers = take(n(0.02, 5));
        l.mx_persons = take(n(0.04, 6));
        l.cn_persons = take(n(0.03, 6));
        let ex = take(10);
        l.exchanges = Exchanges {
            us_bank: [ex.start, ex.start + 1],
            us_tron: [ex.start + 2, ex.start + 3],
            us_eth: [ex.start + 4, ex.start + 5],
            us_btc: [ex.start + 6, ex.start + 7],
            mx_bank: ex.start + 8,
            mx_tron: ex.start + 9,
            range: ex,
        };
        l.total = next;
        l
    }

    /// Spenders (card, P2P): US persons and students, which are adjacent.
    pub(crate) fn spenders(&self) -> Range {
        Range { start: self.persons.start, len: self.persons.len + self.students.len }
    }

    /// The attributes of background account `idx`, a pure function of the seed and index.
    pub(crate) fn spec(&self, seed: u64, idx: u32) -> AccountSpec {
        let mut r = Rng::stream(seed, STREAM_ACCOUNT, idx as u64);
        let mut s = base(&mut r, idx, "US", "personal", "ordinary");
        let l = self;
        let years = |r: &mut Rng, lo: i64, hi: i64| Some(-(r.range(lo * 365, hi * 365) as i32));
        if l.persons.contains(idx) || l.crypto_users.contains(idx) {
            let off = if l.persons.contains(idx) { l.persons.offset(idx) } else { u32::MAX };
            s.occupation = *r.pick(&[
                "nurse",
                "teacher",
                "driver",
                "warehouse associate",
                "engineer",
                "cashier",
                "electrician",
                "accountant",
                "retired",
                "sales associate",
                "cook",
                "analyst",
            ]);
            s.income_cents = Some(r.range(2_400, 12_000) * 100);
            if s.occupation == "retired" {
                s.income_cents = Some(r.range(1_500, 4_000) * 100);
            }
            // A few accounts are new: opened in the last six months.
            s.opened_at = if r.chance(0.06) { Some(-(r.range(20, 170) as i32)) } else { years(&mut r, 1, 25) };
            if off != u32::MAX && off % 9 == 1 && off > 0 {
                // households: every ninth person shares an address with the previous one
                s.address = link(idx - 1);
            }
            if l.crypto_users.contains(idx) {
                s.population = "retail_crypto";
                s.occupation = *r.pick(&["engineer", "analyst", "student", "driver", "designer"]);
                if s.occupation == "student" {
                    s.income_cents = Some(r.range(800, 2_000) * 100);
                    s.opened_at = years(&mut r, 1, 5);
                }
            }
        } else if l.students.contains(idx) {
            s.population = "student_tuition";
            s.nationality = "CN";
            s.occupation = "student";
            s.income_cents = Some(r.range(1_500, 3_000) * 100);
            // Old enough that tuition season never looks like a brand-new account.
            s.opened_at = Some(-(r.range(200, 1_400) as i32));
            let off = l.students.offset(idx);
            if !off.is_multiple_of(4) {
                // dorm rooms: students share an address in groups of four
                s.address = link(idx - off % 4);
            }
        } else if l.families.contains(idx) {
            s = base(&mut r, idx, "CN", "personal", "student_tuition");
            s.occupation = *r.pick(&["business owner", "manager", "physician", "civil servant", "engineer"]);
            s.income_cents = Some(r.range(3_000, 20_000) * 100);
            s.opened_at = years(&mut r, 3, 20);
        } else if l.universities.contains(idx) {
            s = base(&mut r, idx, "US", "business", "student_tuition");
            s.industry = "education";
            s.opened_at = years(&mut r, 20, 60);
        } else if l.merchants.contains(idx) {
            s = base(&mut r, idx, "US", "business", "merchant");
            s.industry = *r.pick(&["grocery", "retail", "utilities", "fuel", "pharmacy", "telecom", "apparel"]);
            s.opened_at = years(&mut r, 2, 30);
        } else if l.landlords.contains(idx) {
            s = base(&mut r, idx, "US", "business", "merchant");
            s.industry = "property_management";
            s.opened_at = years(&mut r, 3, 30);
        } else if l.employers.contains(idx) {
            s = base(&mut r, idx, "US", "business", "payroll_employer");
            s.industry =
                *r.pick(&["logistics", "healthcare", "manufacturing", "software", "construction", "hospitality"]);
            s.opened_at = years(&mut r, 2, 40);
        } else if l.restaurants.contains(idx) {
            s = base(&mut r, idx, "US", "business", "cash_restaurant");
            s.industry = "restaurant";
            s.opened_at = years(&mut r, 1, 20);
        } else if l.msb_us.contains(idx) {
            s = base(&mut r, idx, "US", "msb", "msb_remittance");
            s.institution = *r.pick(&["Envios Aguila", "QuickPeso Remesas", "Frontera Money Transfer"]);
            s.industry = "money_services";
            s.opened_at = years(&mut r, 3, 15);
        } else if l.msb_mx.contains(idx) {
            s = base(&mut r, idx, "MX", "msb", "msb_remittance");
            s.industry = "money_services";
            s.opened_at = years(&mut r, 3, 15);
        } else if l.remit_senders.contains(idx) {
            s.population = "msb_remittance";
            s.nationality = "MX";
            s.occupation = *r.pick(&["construction worker", "cook", "farmworker", "cleaner", "mechanic"]);
            s.income_cents = Some(r.range(2_200, 4_800) * 100);
            s.opened_at = years(&mut r, 1, 12);
        } else if l.remit_recipients.contains(idx) {
            s = base(&mut r, idx, "MX", "personal", "msb_remittance");
            s.occupation = *r.pick(&["homemaker", "retired", "student", "farmer", "shopkeeper"]);
            s.income_cents = Some(r.range(300, 900) * 100);
            s.opened_at = years(&mut r, 1, 15);
        } else if l.importers.contains(idx) {
            s = base(&mut r, idx, "US", "business", "china_trade");
            s.industry = *r.pick(&["import_export", "furniture", "apparel", "industrial_supplies", "toys"]);
            s.opened_at = years(&mut r, 2, 25);
        } else if l.wholesalers.contains(idx) {
            s = base(&mut r, idx, "US", "business", "china_trade");
            s.industry = "electronics";
            s.opened_at = years(&mut r, 3, 20);
        } else if l.cn_suppliers.contains(idx) {
            s = base(&mut r, idx, "CN", "business", "china_trade");
            // a quarter are (legitimate) chemical suppliers: the precursor look-alike
            s.industry = match l.cn_suppliers.offset(idx) % 4 {
                0 => "chemicals",
                1 => "electronics",
                2 => "textiles",
                _ => *r.pick(&["furniture", "toys", "machinery"]),
            };
            s.opened_at = years(&mut r, 3, 25);
        } else if l.foreign_buyers.contains(idx) {
            let country = ["MX", "HK", "AE", "MX"][(l.foreign_buyers.offset(idx) % 4) as usize];
            s = base(&mut r, idx, country, "business", "china_trade");
            s.industry = *r.pick(&["electronics_retail", "import_export", "telecom"]);
            s.opened_at = years(&mut r, 2, 20);
        } else if l.wallets.contains(idx) {
            let off = l.wallets.offset(idx);
            s = base(&mut r, idx, "", "wallet", "retail_crypto");
            s.style = wallet_style(off);
            s.institution = "self_hosted";
            s.customer = NONE;
            s.region = "";
            s.nationality = "";
            s.opened_at = None;
            s.phone = 0;
            s.address = 0;
            s.device = 0;
        } else if l.marketplaces.contains(idx) {
            s = base(&mut r, idx, "US", "business", "marketplace");
            s.institution = "Redwood Commerce Bank";
            s.industry = "online_marketplace";
            s.opened_at = years(&mut r, 5, 20);
        } else if l.sellers.contains(idx) {
            s = base(&mut r, idx, "US", "business", "marketplace");
            s.industry = *r.pick(&["online_retail", "handmade_goods", "collectibles", "apparel"]);
            s.opened_at = years(&mut r, 1, 10);
        } else if l.mx_persons.contains(idx) {
            s = base(&mut r, idx, "MX", "personal", "ordinary");
            s.occupation = *r.pick(&["teacher", "merchant", "driver", "engineer", "nurse"]);
            s.income_cents = Some(r.range(500, 3_000) * 100);
            s.opened_at = years(&mut r, 1, 20);
        } else if l.cn_persons.contains(idx) {
            s = base(&mut r, idx, "CN", "personal", "ordinary");
            s.occupation = *r.pick(&["engineer", "teacher", "manager", "shop owner", "worker"]);
            s.income_cents = Some(r.range(800, 5_000) * 100);
            s.opened_at = years(&mut r, 1, 20);
        } else if l.exchanges.range.contains(idx) {
            let ex = &l.exchanges;
            let off = ex.range.offset(idx);
            let (name, country, style, owner) = match off {
                0 | 1 => (US_EXCHANGES[off as usize], "US", IdStyle::Bank, idx),
                2 | 3 => (US_EXCHANGES[off as usize - 2], "US", IdStyle::Tron, ex.us_bank[off as usize - 2]),
                4 | 5 => (US_EXCHANGES[off as usize - 4], "US", IdStyle::Eth, ex.us_bank[off as usize - 4]),
                6 | 7 => (US_EXCHANGES[off as usize - 6], "US", IdStyle::Btc, ex.us_bank[off as usize - 6]),
                8 => (MX_EXCHANGE, "MX", IdStyle::Bank, idx),
                _ => (MX_EXCHANGE, "MX", IdStyle::Tron, ex.mx_bank),
            };
            s = base(&mut r, idx, country, "exchange", "exchange");
            s.style = style;
            s.institution = name;
            s.industry = "crypto_exchange";
            s.customer = owner;
            s.phone = link(owner);
            s.address = link(owner);
            s.opened_at = years(&mut r, 4, 10);
        }
        s
    }
}

/// The id style of the `off`-th self-hosted wallet.
pub(crate) fn wallet_style(off: u32) -> IdStyle {
    match off % 3 {
        0 => IdStyle::Btc,
        1 => IdStyle::Eth,
        _ => IdStyle::Tron,
    }
}

/// A link key for background customer `idx` (never 0; scheme keys live above 2^32).
pub(crate) fn link(idx: u32) -> u64 {
    idx as u64 + 1
}

/// Defaults for an account in `country`: own customer (= index), own link keys, a bank
/// and home region drawn for the country, nationality = country.
fn base(r: &mut Rng, idx: u32, country: &'static str, kind: &'static str, population: &'static str) -> AccountSpec {
    AccountSpec {
        style: IdStyle::Bank,
        country,
        region: region_for(r, country),
        institution: bank_for(r, country),
        kind,
        opened_at: Some(-(r.range(365, 3650) as i32)),
        nationality: if kind == "personal" { country } else { "" },
        occupation: "",
        income_cents: None,
        industry: "",
        customer: idx,
        phone: link(idx),
        address: link(idx),
        device: link(idx),
        watchlist: "",
        population,
    }
}

/// How account ids are spelled in the output layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdForm {
    /// `US04417211`, `tron:T...` (the data contract).
    Contract,
    /// `<bank code>/<9 hex digits>`, as the AMLworld reader joins `From Bank` and `Account`.
    AmlWorld,
    /// A plain number, as AMLSim's `acct_id`.
    AmlSim,
}

/// A numeric bank code for an institution (AMLworld's `From Bank`), three digits or more.
pub(crate) fn bank_code(institution: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in institution.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h % 997 + 1
}

/// All account ids in index order, in one buffer.
pub(crate) struct Ids {
    buf: String,
    ends: Vec<u32>,
    form: IdForm,
}

impl Ids {
    #[cfg(test)]
    pub(crate) fn with_capacity(n: usize) -> Ids {
        Ids::with_form(n, IdForm::Contract)
    }

    pub(crate) fn with_form(n: usize, form: IdForm) -> Ids {
        Ids { buf: String::with_capacity(n * 14), ends: Vec::with_capacity(n), form }
    }

    pub(crate) fn push(&mut self, seed: u64, idx: u32, spec: &AccountSpec) {
        use std::fmt::Write;
        debug_assert_eq!(idx as usize, self.ends.len());
        match self.form {
            IdForm::Contract => write_account_id(&mut self.buf, seed, idx, spec.style, spec.country),
            IdForm::AmlWorld => {
                // (idx * odd + b) mod 2^32 is a bijection, so ids stay unique
                let n = (idx as u64).wrapping_mul(2_654_435_761).wrapping_add(seed) & 0xFFFF_FFFF;
                let _ = write!(self.buf, "{:03}/{:09X}", bank_code(spec.institution), 0x8_0000_0000u64 | n);
            }
            IdForm::AmlSim => {
                let _ = write!(self.buf, "{}", shuffle_number(idx, 38_259_917, seed % 100_000_000));
            }
        }
        self.ends.push(self.buf.len() as u32);
    }

    pub(crate) fn get(&self, idx: u32) -> &str {
        let i = idx as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Account id numbers: a bijection of `0..10^8` so numbers say nothing about the index.
fn shuffle_number(idx: u32, a: u64, b: u64) -> u64 {
    (idx as u64 * a + b) % 100_000_000
}

fn write_account_id(out: &mut String, seed: u64, idx: u32, style: IdStyle, country: &str) {
    use std::fmt::Write;
    match style {
        IdStyle::Bank => {
            let _ = write!(out, "{country}{:08}", shuffle_number(idx, 38_259_917, seed % 100_000_000));
        }
        IdStyle::Eth | IdStyle::Tron | IdStyle::Btc => {
            let mut st = mix(seed, NS_WALLET, idx as u64);
            let (prefix, alphabet, n): (&str, &[u8], usize) = match style {
                IdStyle::Eth => ("eth:0x", b"0123456789abcdef", 40),
                IdStyle::Tron => ("tron:T", b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 33),
                _ => ("btc:bc1q", b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", 38),
            };
            out.push_str(prefix);
            let mut word = 0u64;
            for i in 0..n {
                if i % 8 == 0 {
                    word = super::rng::splitmix64(&mut st);
                }
                out.push(alphabet[(word & 0xff) as usize % alphabet.len()] as char);
                word >>= 8;
            }
        }
    }
}

/// A customer id: `C` and a shuffled 8-digit number.
pub(crate) fn customer_id(seed: u64, customer: u32) -> String {
    format!("C{:08}", shuffle_number(customer, 61_803_399, (seed / 7) % 100_000_000))
}

/// 16 hex digits standing for a hashed phone / address / device.
fn link_hash(seed: u64, ns: u64, key: u64) -> String {
    format!("{:016x}", mix(seed, ns, key))
}

/// Writes the header of `accounts.csv`.
pub(crate) fn write_accounts_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        [
            col::ACCOUNT_ID,
            col::CUSTOMER_ID,
            col::COUNTRY,
            col::REGION,
            col::INSTITUTION,
            col::KIND,
            col::OPENED_AT,
            col::NATIONALITY,
            col::OCCUPATION,
            col::MONTHLY_INCOME_USD,
            col::INDUSTRY,
            col::PHONE_HASH,
            col::ADDRESS_HASH,
            col::DEVICE_HASH,
            col::WATCHLIST,
        ]
        .join(",")
    )
}

/// Writes one row of `accounts.csv`.
pub(crate) fn write_account_row(
    accounts: &mut impl Write,
    seed: u64,
    start: NaiveDate,
    id: &str,
    s: &AccountSpec,
) -> std::io::Result<()> {
    let customer = if s.customer == NONE { String::new() } else { customer_id(seed, s.customer) };
    let opened = match s.opened_at {
        Some(d) => {
            let date = if d < 0 { start - chrono::Days::new((-d) as u64) } else { start + chrono::Days::new(d as u64) };
            date.format("%Y-%m-%d").to_string()
        }
        None => String::new(),
    };
    let income = s.income_cents.map(|c| format_decimal(c as i128, 2)).unwrap_or_default();
    let hash = |ns, key| if key == 0 { String::new() } else { link_hash(seed, ns, key) };
    writeln!(
        accounts,
        "{id},{customer},{},{},{},{},{opened},{},{},{income},{},{},{},{},{}",
        s.country,
        s.region,
        s.institution,
        s.kind,
        s.nationality,
        s.occupation,
        s.industry,
        hash(NS_PHONE, s.phone),
        hash(NS_ADDRESS, s.address),
        hash(NS_DEVICE, s.device),
        s.watchlist,
    )
}

/// The header of AMLSim's account table (the columns it has that we can fill).
pub(crate) const AMLSIM_ACCOUNT_HEADER: &str = "acct_id,dsply_nm,type,acct_stat,acct_rptng_crncy,prior_sar_count,\
branch_id,open_dt,close_dt,initial_deposit,tx_behavior_id,bank_id,state,country";

/// One row of AMLSim's account table: `type` I (individual) or C (corporate), every
/// account active, no prior SAR, the home region as `state`.
pub(crate) fn write_amlsim_account_row(
    out: &mut impl Write,
    seed: u64,
    start: NaiveDate,
    id: &str,
    s: &AccountSpec,
    currency: &str,
) -> std::io::Result<()> {
    let kind = if matches!(s.kind, "personal" | "wallet") { "I" } else { "C" };
    let opened = match s.opened_at {
        Some(d) if d < 0 => (start - chrono::Days::new((-d) as u64)).format("%Y-%m-%d").to_string(),
        Some(d) => (start + chrono::Days::new(d as u64)).format("%Y-%m-%d").to_string(),
        None => String::new(),
    };
    let h = mix(seed, NS_ADDRESS ^ 0xAA, id.len() as u64 ^ s.phone);
    let deposit = 100 + h % 50_000;
    let branch = bank_code(s.region) + 1000 * (bank_code(s.institution) % 50);
    writeln!(
        out,
        "{id},C_{id},{kind},A,{currency},false,{branch},{opened},,{deposit}.00,1,{},{},{}",
        bank_code(s.institution),
        s.region,
        s.country
    )
}

/// A bijective shuffle of `0..n` (affine map with a multiplier coprime to `n`), used for
/// the order of background rows in `accounts.csv`.
pub(crate) struct Shuffle {
    n: u64,
    a: u64,
    b: u64,
}

impl Shuffle {
    pub(crate) fn new(n: u64, seed: u64) -> Shuffle {
        fn gcd(mut a: u64, mut b: u64) -> u64 {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        }
        let n = n.max(1);
        let mut a = (n as f64 * 0.618_033_988_7) as u64 | 1;
        while gcd(a, n) != 1 {
            a += 2;
        }
        Shuffle { n, a: a % n.max(2), b: seed % n }
    }

    pub(crate) fn get(&self, k: u64) -> u64 {
        ((k as u128 * self.a as u128 + self.b as u128) % self.n as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_covers_every_population() {
        for rows in [1_000u64, 5_000, 200_000, 10_000_000] {
            let l = Layout::new(rows, 30);
            assert!(l.persons.len >= 40);
            assert!(l.employed <= l.persons.len && l.renters <= l.persons.len);
            assert!(l.restaurants.len >= 3);
            assert_eq!(l.total, l.exchanges.range.start + 10);
            assert!(l.total as u64 <= MAX_ACCOUNTS + 1000);
        }
    }

    #[test]
    fn ids_are_unique() {
        let l = Layout::new(50_000, 30);
        let mut ids = Ids::with_capacity(l.total as usize);
        for i in 0..l.total {
            ids.push(1, i, &l.spec(1, i));
        }
        let mut all: Vec<&str> = (0..l.total).map(|i| ids.get(i)).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), l.total as usize);
        assert!(ids.get(l.wallets.start).starts_with("btc:bc1q"));
        assert!(ids.get(l.wallets.start + 1).starts_with("eth:0x"));
        assert!(ids.get(l.wallets.start + 2).starts_with("tron:T"));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        for n in [1u64, 2, 10, 97, 1000, 4096] {
            let s = Shuffle::new(n, 12345);
            let mut seen = vec![false; n as usize];
            for k in 0..n {
                let v = s.get(k) as usize;
                assert!(!seen[v]);
                seen[v] = true;
            }
        }
    }
}
