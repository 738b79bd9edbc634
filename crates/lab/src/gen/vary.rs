//! The `varied` style's surface: what a bank's own ledger looks like instead of this
//! generator's tidy markers. Memos in many forms or none (per payer where a real payer
//! keeps one form: an employer's payroll, a tenant's rent), industry names from a wide
//! vocabulary (synonyms, NAICS codes, empty, unknown), business names for memos, and the
//! natural distributions the varied populations draw from (normal, lognormal).
//!
//! Owns: the varied vocabularies and the deterministic maths behind them (`exp` written
//! with `+ - * /` only, so a seed gives the same bytes on every platform).
//! Must not: decide which transactions exist (background and schemes do), or touch the
//! `classic` style (its bytes are fixed).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike};

use super::rng::{Rng, mix};

const STREAM_MEMO: u64 = 0xE0;
const NS_FORM: u64 = 0xE1;
const NS_NAME: u64 = 0xE2;
const NS_INDUSTRY: u64 = 0xE3;

// ---------------------------------------------------------------------------------------
// Deterministic maths.

/// `e^x` from a Taylor series of `x / 1024` squared ten times: only `+ - * /`, so the
/// result is the same bit for bit everywhere (accuracy about 1e-12 relative, ample for
/// drawing amounts).
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return 1.0;
    }
    let y = x.clamp(-40.0, 40.0) / 1024.0;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 1..=8 {
        term = term * y / k as f64;
        sum += term;
    }
    for _ in 0..10 {
        sum *= sum;
    }
    sum
}

/// A standard normal draw (Irwin-Hall: the sum of 12 uniforms less 6; tails end at +-6).
pub(crate) fn normal(r: &mut Rng) -> f64 {
    let mut s = 0.0;
    for _ in 0..12 {
        s += r.unit();
    }
    s - 6.0
}

/// A lognormal draw with the given median and shape `sigma`.
pub(crate) fn lognormal(r: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * exp(sigma * normal(r))
}

// ---------------------------------------------------------------------------------------
// Names.

const NAME_HEAD: [&str; 32] = [
    "ACME",
    "SUMMIT",
    "BLUE RIVER",
    "NORTHSTAR",
    "KEYSTONE",
    "PINNACLE",
    "HARBOR",
    "MERIDIAN",
    "CEDAR",
    "IRONWOOD",
    "GOLDEN ST",
    "LONE PINE",
    "RED OAK",
    "SILVERLINE",
    "TRI-COUNTY",
    "METRO",
    "EAGLE",
    "ATLAS",
    "PIONEER",
    "GREENFIELD",
    "BAYSIDE",
    "CROWN",
    "PRAIRIE",
    "COASTAL",
    "GRANITE",
    "LIBERTY",
    "MAPLE",
    "ORION",
    "SUNBELT",
    "VANTAGE",
    "WESTGATE",
    "ZENITH",
];
const NAME_TAIL: [&str; 14] = [
    "LLC",
    "INC",
    "CORP",
    "CO",
    "GROUP",
    "HOLDINGS",
    "SVCS",
    "LOGISTICS",
    "MFG",
    "PARTNERS",
    "ENTERPRISES",
    "",
    "",
    "",
];

/// A business's short name as banks print it in memos (`SUMMIT MFG`), fixed per account.
pub(crate) fn business_name(seed: u64, account: u32) -> String {
    let h = mix(seed, NS_NAME, account as u64);
    let head = NAME_HEAD[(h % NAME_HEAD.len() as u64) as usize];
    let tail = NAME_TAIL[((h >> 16) % NAME_TAIL.len() as u64) as usize];
    if tail.is_empty() { head.to_string() } else { format!("{head} {tail}") }
}

/// One of `n` forms, fixed per (`account`, `kind`): a payer keeps its memo style.
pub(crate) fn form(seed: u64, account: u32, kind: u64, n: u64) -> u64 {
    mix(seed, NS_FORM ^ kind, account as u64) % n
}

fn reference(r: &mut Rng, out: &mut String) {
    match r.below(4) {
        0 => {
            let _ = write!(out, "{:010}", r.below(10_000_000_000));
        }
        1 => {
            let _ = write!(out, "REF{:07}", r.below(10_000_000));
        }
        2 => {
            const HEX: &[u8] = b"0123456789ABCDEF";
            for _ in 0..12 {
                out.push(HEX[r.index(16)] as char);
            }
        }
        _ => {
            let _ = write!(out, "{}-{:05}", r.range(100, 999), r.below(100_000));
        }
    }
}

fn mmdd(ts: i64) -> String {
    let d = DateTime::from_timestamp(ts, 0).unwrap_or_default();
    format!("{:02}/{:02}", d.month(), d.day())
}

fn month_name(ts: i64) -> &'static str {
    let d = DateTime::from_timestamp(ts, 0).unwrap_or_default();
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"][d.month0() as usize]
}

/// A payroll memo in the employer's own form (never the word `payroll`): empty,
/// `SALARY`, `ACME PAYRL 11/14`, `direct dep`, a reference, ...
pub(crate) fn payroll_memo(seed: u64, employer: u32, ts: i64, r: &mut Rng) -> String {
    let name = business_name(seed, employer);
    let mut s = String::new();
    match form(seed, employer, 1, 14) {
        0 | 1 => {}
        2 => s.push_str("SALARY"),
        3 => {
            let _ = write!(s, "{name} PAYRL {}", mmdd(ts));
        }
        4 => s.push_str("direct dep"),
        5 => {
            let _ = write!(s, "DIRECT DEP {name}");
        }
        6 => {
            let _ = write!(s, "{name} DIR DEP");
        }
        7 => {
            s.push_str("PPD ");
            reference(r, &mut s);
        }
        8 => {
            let _ = write!(s, "ACH CREDIT {name}");
        }
        9 => s.push_str(&name),
        10 => {
            let _ = write!(s, "wages {}", mmdd(ts));
        }
        11 => {
            let d = DateTime::from_timestamp(ts, 0).unwrap_or_default();
            let _ = write!(s, "PAY {}", d.format("%Y%m%d"));
        }
        12 => {
            let _ = write!(s, "EDI PYMNTS {name}");
        }
        _ => reference(r, &mut s),
    }
    s
}

/// A memo for a recurring payment of `kind` (`rent`, `subscription`) in the payer's form.
pub(crate) fn recurring_memo(seed: u64, payer: u32, payee: u32, kind: &str, ts: i64, r: &mut Rng) -> String {
    let payee_name = business_name(seed, payee);
    let mut s = String::new();
    let f = form(seed, payer, if kind == "rent" { 2 } else { 3 }, 8);
    match (kind, f) {
        (_, 0 | 1) => {}
        ("rent", 2) => s.push_str("RENT"),
        ("rent", 3) => {
            let _ = write!(s, "rent {}", month_name(ts).to_ascii_lowercase());
        }
        ("rent", 4) => {
            let _ = write!(s, "Unit {}{}", r.range(1, 40), ["A", "B", "C", ""][(payer % 4) as usize]);
        }
        ("rent", 5) => {
            let _ = write!(s, "{payee_name} PROPERTY");
        }
        ("rent", 6) => s.push_str("lease pmt"),
        (_, 2) => {
            let _ = write!(s, "{payee_name}*MONTHLY");
        }
        (_, 3) => s.push_str("MEMBERSHIP"),
        (_, 4) => {
            let _ = write!(s, "{payee_name} {}", month_name(ts));
        }
        (_, 5) => s.push_str("recurring"),
        (_, 6) => {
            let _ = write!(s, "{payee_name}");
        }
        _ => reference(r, &mut s),
    }
    s
}

/// The varied form of a memo the classic generator wrote as `text` (per transaction
/// `tx_no`, from `src`). Memos carrying a CAS number are kept as they are: the number is
/// the evidence, not a marker.
pub(crate) fn memo(seed: u64, tx_no: u64, (src, dst): (u32, u32), ts: i64, text: &str, out: &mut String) {
    let mut r = Rng::stream(seed, STREAM_MEMO, tx_no);
    out.clear();
    if text.is_empty() {
        // a few blank memos get a bare reference, as bank exports often show
        if r.below(20) == 0 {
            reference(&mut r, out);
        }
        return;
    }
    if super::oracle::has_cas_number(text) {
        out.push_str(text);
        return;
    }
    let pick = |r: &mut Rng, forms: &[&str]| forms[r.index(forms.len())].to_string();
    let name = || business_name(seed, src);
    let num = |t: &str| t.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
    let mut s = String::new();
    match text {
        "PAYROLL" => s = payroll_memo(seed, src, ts, &mut r),
        "rent" => s = recurring_memo(seed, src, dst, "rent", ts, &mut r),
        "subscription" => s = recurring_memo(seed, src, dst, "subscription", ts, &mut r),
        "utility bill" => match form(seed, src, 4, 7) {
            0 | 1 => {}
            2 => s = pick(&mut r, &["UTIL PMT", "ELECTRIC", "WATER/SEWER", "GAS SVC"]),
            3 => s.push_str("bill pay"),
            4 => s.push_str("WEB PMT"),
            5 => {
                s.push_str("acct ");
                reference(&mut r, &mut s);
            }
            _ => s.push_str("AUTOPAY"),
        },
        "seller payout" => match form(seed, src, 5, 7) {
            0 | 1 => {}
            2 => s.push_str("PAYOUT"),
            3 => s = format!("{} TRANSFER", name()),
            4 => s = format!("settlement {}", mmdd(ts)),
            5 => {
                s.push_str("DISB ");
                reference(&mut r, &mut s);
            }
            _ => s.push_str("mkt proceeds"),
        },
        "prefunding" => match r.below(5) {
            0 | 1 => {}
            2 => s.push_str("FUNDING"),
            3 => s = format!("cover {}", mmdd(ts)),
            _ => {
                s.push_str("TRF ");
                reference(&mut r, &mut s);
            }
        },
        "remittance" => {
            s = pick(&mut r, &["", "", "ENVIO", "family support", "money transfer", "para mama", "ayuda", "SEND"])
        }
        "SPEI remesa" => match r.below(5) {
            0 | 1 => {}
            2 => s.push_str("remesa"),
            3 => s.push_str("deposito"),
            _ => {
                s.push_str("SPEI ");
                reference(&mut r, &mut s);
            }
        },
        "crypto purchase" => match r.below(5) {
            0 | 1 => {}
            2 => s.push_str("BUY"),
            3 => s.push_str("EXCHANGE DEPOSIT"),
            _ => {
                s.push_str("ACH ");
                reference(&mut r, &mut s);
            }
        },
        "withdrawal" | "retiro" => {
            s = pick(&mut r, &["", "", "WITHDRAWAL", "payout", "cashout", "liquidacion", "retiro"]);
        }
        "living expenses" => {
            s = pick(&mut r, &["", "", "living", "shenghuofei", "family", "support", "TT REMIT", "for daily use"])
        }
        t if t.starts_with("tuition") => match r.below(6) {
            0 | 1 => {}
            2 => s.push_str(t),
            3 => s.push_str("TUITION"),
            4 => s = format!("student acct {}", num(t)),
            _ => s = format!("univ fees {}", month_name(ts)),
        },
        t if t.starts_with("INV ") || t.starts_with("FACTURA ") || t.starts_with("PO ") => {
            let n = num(t);
            match r.below(8) {
                0 | 1 => {}
                2 | 3 => s.push_str(t),
                4 => s = format!("Invoice {n}"),
                5 => s = format!("inv#{n}"),
                6 => s = format!("PMT {n}"),
                _ => reference(&mut r, &mut s),
            }
        }
        t => {
            // everything else (P2P notes, scheme cover stories): kept or dropped
            if r.below(4) != 0 {
                s.push_str(t);
            }
        }
    }
    out.push_str(&s);
}

// ---------------------------------------------------------------------------------------
// Industry names.

fn synonyms(industry: &str) -> &'static [&'static str] {
    match industry {
        "restaurant" => &[
            "restaurant",
            "Restaurants",
            "food service",
            "Full-Service Restaurants",
            "722511",
            "eating place",
            "diner",
            "cafe",
            "bar & grill",
            "taqueria",
            "QSR",
            "food & beverage",
            "catering",
            "hospitality",
        ],
        "grocery" | "fuel" | "pharmacy" | "apparel" | "retail" => &[
            "retail",
            "Retail Trade",
            "grocery",
            "supermarket",
            "445110",
            "convenience store",
            "gas station",
            "pharmacy",
            "clothing store",
            "general merchandise",
            "44-45",
            "shop",
        ],
        "utilities" | "telecom" => {
            &["utilities", "electric utility", "221122", "telecommunications", "telecom", "517312", "water supply"]
        }
        "property_management" => &[
            "property_management",
            "real estate",
            "Lessors of Residential Buildings",
            "531110",
            "landlord",
            "property mgmt",
            "apartments",
            "rental",
        ],
        "logistics" | "healthcare" | "manufacturing" | "software" | "construction" | "hospitality" => &[
            "logistics",
            "trucking",
            "484121",
            "warehousing",
            "healthcare",
            "home health care",
            "621610",
            "clinic",
            "manufacturing",
            "fabricated metal",
            "332710",
            "plastics",
            "software",
            "IT services",
            "541511",
            "SaaS",
            "construction",
            "general contractor",
            "236220",
            "roofing",
            "hotel",
            "721110",
            "staffing",
            "561320",
            "Retail Trade",
            "call center",
            "janitorial services",
            "landscaping",
            "auto repair",
            "dental office",
        ],
        "education" => &["education", "university", "Colleges and Universities", "611310", "higher ed", "school"],
        "money_services" => &[
            "money_services",
            "MSB",
            "money transmitter",
            "remittances",
            "522390",
            "check casher",
            "currency exchange",
            "financial services",
        ],
        "import_export" | "furniture" | "industrial_supplies" | "toys" | "electronics" | "textiles" | "machinery" => &[
            "import_export",
            "wholesale",
            "423990",
            "importer",
            "trading company",
            "distribution",
            "furniture",
            "electronics",
            "consumer electronics",
            "textiles",
            "toys",
            "machinery",
            "industrial supplies",
            "general trade",
        ],
        "electronics_retail" | "phone_accessories" | "computer_parts" => &[
            "electronics",
            "electronics_retail",
            "cell phones",
            "443142",
            "phone accessories",
            "computer parts",
            "consumer electronics",
        ],
        "chemicals" | "pharmaceutical_intermediates" => &[
            "chemicals",
            "chemical manufacturing",
            "325199",
            "specialty chemicals",
            "industrial chemicals",
            "pharma intermediates",
            "fine chemicals",
        ],
        "online_marketplace" | "online_retail" | "handmade_goods" | "collectibles" => &[
            "online_marketplace",
            "e-commerce",
            "454110",
            "online retail",
            "marketplace",
            "crafts",
            "collectibles",
            "internet sales",
        ],
        "produce_trading" | "currency_exchange" | "trading" => {
            &["produce", "agricultural trade", "424480", "trading", "casa de cambio", "import_export", "commerce"]
        }
        "real_estate" | "luxury_goods" => {
            &["real estate", "title company", "531210", "escrow", "jewelry", "luxury goods", "448310", "watches"]
        }
        "consulting" | "holding" | "professional_services" | "investment" => &[
            "consulting",
            "management consulting",
            "541611",
            "advisory",
            "professional services",
            "holding company",
            "551112",
            "business services",
            "investments",
        ],
        "crypto_exchange" => &[
            "crypto_exchange",
            "virtual currency exchange",
            "VASP",
            "digital asset platform",
            "523999",
            "fintech",
            "money transmitter",
        ],
        _ => &[],
    }
}

/// The industry an account's row shows: a synonym of `industry` (fixed per account), or
/// empty / unknown for some. Accounts without an industry keep none.
pub(crate) fn industry(seed: u64, account: u32, industry: &'static str) -> &'static str {
    if industry.is_empty() {
        return industry;
    }
    let h = mix(seed, NS_INDUSTRY, account as u64);
    match h % 100 {
        0..=7 => "",
        8..=10 => ["unknown", "other", "n/a"][((h >> 8) % 3) as usize],
        _ => {
            let v = synonyms(industry);
            if v.is_empty() { industry } else { v[((h >> 16) % v.len() as u64) as usize] }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_std() {
        for x in [-5.0, -1.0, -0.1, 0.0, 0.3, 1.0, 2.5, 7.0] {
            let (a, b) = (exp(x), f64::exp(x));
            assert!((a - b).abs() <= b * 1e-9, "exp({x}) = {a} vs {b}");
        }
    }

    #[test]
    fn payroll_memos_never_say_payroll() {
        let mut r = Rng::new(1);
        for e in 0..2_000 {
            let m = payroll_memo(5, e, 1_790_000_000, &mut r);
            assert!(!m.to_ascii_uppercase().contains("PAYROLL"), "{m}");
        }
    }

    #[test]
    fn varied_memos_keep_cas_numbers() {
        let mut out = String::new();
        memo(1, 7, (3, 4), 0, "INV 12 titanium dioxide CAS 13463-67-7, 2 t", &mut out);
        assert!(out.contains("13463-67-7"));
    }
}
