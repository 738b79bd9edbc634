//! The generator's in-memory vocabulary: a pending transaction (`Tx`), currencies,
//! channels, memos, account specs, typologies, and the reference tables (regions,
//! institutions) that give accounts plausible attributes.
//!
//! Owns: the records shared by the background, scheme and writer code, and small pure
//! helpers on them (money in cents to scaled amounts, time arithmetic).
//! Must not: do I/O or draw random numbers itself (callers pass an `Rng`).

use mirrorflow_core::schema::AMOUNT_ONE;

use super::rng::Rng;

pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;

/// "No account" (the missing side of a cash deposit or withdrawal), "no customer".
pub(crate) const NONE: u32 = u32::MAX;
/// Account and customer references at or above this bit (and below `NONE`) are local to
/// one scheme instance; they are mapped to global indices when the instance is placed.
pub(crate) const LOCAL: u32 = 1 << 30;

/// Currencies and assets the generator uses (all covered by `fx_rates.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Cur {
    Usd,
    Mxn,
    Cny,
    Usdt,
    Btc,
    Eth,
}

impl Cur {
    pub(crate) const ALL: [Cur; 6] = [Cur::Usd, Cur::Mxn, Cur::Cny, Cur::Usdt, Cur::Btc, Cur::Eth];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Cur::Usd => "USD",
            Cur::Mxn => "MXN",
            Cur::Cny => "CNY",
            Cur::Usdt => "USDT",
            Cur::Btc => "BTC",
            Cur::Eth => "ETH",
        }
    }

    /// Fractional digits amounts in this currency carry.
    pub(crate) fn decimals(self) -> u32 {
        match self {
            Cur::Usd | Cur::Mxn | Cur::Cny => 2,
            Cur::Usdt => 6,
            Cur::Btc => 8,
            Cur::Eth => 18,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The contract's channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    CashDeposit,
    CashWithdrawal,
    Wire,
    Ach,
    P2p,
    Card,
    Check,
    Crypto,
    Internal,
}

impl Channel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::CashDeposit => "cash_deposit",
            Channel::CashWithdrawal => "cash_withdrawal",
            Channel::Wire => "wire",
            Channel::Ach => "ach",
            Channel::P2p => "p2p",
            Channel::Card => "card",
            Channel::Check => "check",
            Channel::Crypto => "crypto",
            Channel::Internal => "internal",
        }
    }
}

/// A memo: most are static text, so the hot path never allocates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Memo {
    None,
    Static(&'static str),
    /// A static prefix followed by a number (`INV 10423`).
    Num(&'static str, u32),
    Text(Box<str>),
}

impl Memo {
    pub(crate) fn text(s: String) -> Memo {
        Memo::Text(s.into_boxed_str())
    }

    /// Appends the memo's text to `out`.
    pub(crate) fn render(&self, out: &mut String) {
        match self {
            Memo::None => {}
            Memo::Static(s) => out.push_str(s),
            Memo::Num(p, n) => {
                use std::fmt::Write;
                out.push_str(p);
                let _ = write!(out, "{n}");
            }
            Memo::Text(s) => out.push_str(s),
        }
    }

    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

/// Up to three schemes a transaction belongs to (`NONE` = unused slot).
pub(crate) type Labels = [u32; 3];
pub(crate) const NO_LABELS: Labels = [NONE; 3];

/// One transaction before it gets its id. Account references are indices into the
/// account table (or local to a scheme instance until it is placed).
#[derive(Clone, Debug)]
pub(crate) struct Tx {
    /// Seconds since the Unix epoch, UTC.
    pub ts: i64,
    /// Tie-breaker among equal `ts`, assigned in generation order.
    pub order: u64,
    pub src: u32,
    pub dst: u32,
    /// Exact amount at scale 18.
    pub amount: i128,
    pub cur: Cur,
    pub channel: Channel,
    pub location: &'static str,
    pub memo: Memo,
    pub labels: Labels,
}

impl Tx {
    pub(crate) fn new(ts: i64, src: u32, dst: u32, amount: i128, cur: Cur, channel: Channel) -> Tx {
        Tx { ts, order: 0, src, dst, amount, cur, channel, location: "", memo: Memo::None, labels: NO_LABELS }
    }

    pub(crate) fn at(mut self, location: &'static str) -> Tx {
        self.location = location;
        self
    }

    pub(crate) fn memo(mut self, memo: Memo) -> Tx {
        self.memo = memo;
        self
    }
}

/// Cents to a scale-18 amount.
pub(crate) fn cents(c: i64) -> i128 {
    c as i128 * (AMOUNT_ONE / 100)
}

/// An integer count of `10^-decimals` units to a scale-18 amount.
pub(crate) fn units(u: i128, decimals: u32) -> i128 {
    u * 10i128.pow(18 - decimals)
}

/// The typologies of the domain brief.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Typ {
    T1,
    T2,
    T3,
    T4,
    T5,
    T6,
    T7,
    T8,
    T9,
    T10,
    T11,
    T12,
    T13,
}

impl Typ {
    pub(crate) const ALL: [Typ; 13] = [
        Typ::T1,
        Typ::T2,
        Typ::T3,
        Typ::T4,
        Typ::T5,
        Typ::T6,
        Typ::T7,
        Typ::T8,
        Typ::T9,
        Typ::T10,
        Typ::T11,
        Typ::T12,
        Typ::T13,
    ];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Typ::T1 => "T1",
            Typ::T2 => "T2",
            Typ::T3 => "T3",
            Typ::T4 => "T4",
            Typ::T5 => "T5",
            Typ::T6 => "T6",
            Typ::T7 => "T7",
            Typ::T8 => "T8",
            Typ::T9 => "T9",
            Typ::T10 => "T10",
            Typ::T11 => "T11",
            Typ::T12 => "T12",
            Typ::T13 => "T13",
        }
    }
}

/// How an account id is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdStyle {
    /// `{country}{8 digits}`, e.g. `US04417211`.
    Bank,
    /// `tron:T...` (33 base58 characters).
    Tron,
    /// `eth:0x...` (40 hex digits).
    Eth,
    /// `btc:bc1q...` (38 bech32 characters).
    Btc,
}

/// Everything `accounts.csv` and `populations.csv` say about one account.
#[derive(Clone, Debug)]
pub(crate) struct AccountSpec {
    pub style: IdStyle,
    pub country: &'static str,
    pub region: &'static str,
    pub institution: &'static str,
    pub kind: &'static str,
    /// Days relative to the ledger's first day (negative = before it); `None` = unknown.
    pub opened_at: Option<i32>,
    pub nationality: &'static str,
    pub occupation: &'static str,
    /// Declared monthly income in cents.
    pub income_cents: Option<i64>,
    pub industry: &'static str,
    /// Customer index (`NONE` = unknown, e.g. a self-hosted wallet).
    pub customer: u32,
    /// Link keys: equal keys give equal hashes; 0 = not known.
    pub phone: u64,
    pub address: u64,
    pub device: u64,
    pub watchlist: &'static str,
    pub population: &'static str,
}

// ---------------------------------------------------------------------------------------
// Reference tables.

/// US states with rough population weights.
pub(crate) const US_STATES: [(&str, u32); 30] = [
    ("US-CA", 39),
    ("US-TX", 30),
    ("US-FL", 22),
    ("US-NY", 20),
    ("US-PA", 13),
    ("US-IL", 13),
    ("US-OH", 12),
    ("US-GA", 11),
    ("US-NC", 11),
    ("US-MI", 10),
    ("US-NJ", 9),
    ("US-VA", 9),
    ("US-WA", 8),
    ("US-AZ", 7),
    ("US-MA", 7),
    ("US-TN", 7),
    ("US-IN", 7),
    ("US-MD", 6),
    ("US-MO", 6),
    ("US-WI", 6),
    ("US-CO", 6),
    ("US-MN", 6),
    ("US-SC", 5),
    ("US-AL", 5),
    ("US-LA", 5),
    ("US-OR", 4),
    ("US-NV", 3),
    ("US-NM", 2),
    ("US-UT", 3),
    ("US-CT", 4),
];

pub(crate) const MX_STATES: [(&str, u32); 10] = [
    ("MX-CMX", 9),
    ("MX-JAL", 8),
    ("MX-NLE", 6),
    ("MX-SIN", 3),
    ("MX-BCN", 4),
    ("MX-SON", 3),
    ("MX-CHH", 4),
    ("MX-MIC", 5),
    ("MX-GUA", 6),
    ("MX-TAM", 4),
];

pub(crate) const CN_PROVINCES: [(&str, u32); 8] =
    [("CN-GD", 12), ("CN-ZJ", 7), ("CN-FJ", 4), ("CN-SH", 3), ("CN-BJ", 3), ("CN-JS", 8), ("CN-SC", 8), ("CN-SD", 9)];

pub(crate) const US_BANKS: [&str; 8] = [
    "Lakeshore National Bank",
    "Pacific Crest Bank",
    "Union Prairie Bank",
    "Harborview Savings",
    "Great Plains Trust",
    "Magnolia Federal",
    "Summit Peak Credit Union",
    "Redwood Commerce Bank",
];
pub(crate) const MX_BANKS: [&str; 4] =
    ["Banco Sierra Madre", "Banco del Pacifico Norte", "Caja Popular Occidente", "Banco Altiplano"];
pub(crate) const CN_BANKS: [&str; 4] =
    ["Eastern Lotus Bank", "Jade River Commercial Bank", "Pearl Delta Rural Bank", "Northern Silk Bank"];
pub(crate) const HK_BANKS: [&str; 2] = ["Victoria Harbour Bank", "Kowloon Merchant Bank"];
pub(crate) const AE_BANKS: [&str; 2] = ["Gulf Meridian Bank", "Creek Trade Bank"];

/// A weighted draw from one of the region tables.
pub(crate) fn pick_region(rng: &mut Rng, table: &[(&'static str, u32)]) -> &'static str {
    let mut total = 0u64;
    for &(_, w) in table {
        total += w as u64;
    }
    let mut x = rng.below(total);
    for &(r, w) in table {
        if x < w as u64 {
            return r;
        }
        x -= w as u64;
    }
    table[table.len() - 1].0
}

/// A home region for an account in `country`.
pub(crate) fn region_for(rng: &mut Rng, country: &str) -> &'static str {
    match country {
        "US" => pick_region(rng, &US_STATES),
        "MX" => pick_region(rng, &MX_STATES),
        "CN" => pick_region(rng, &CN_PROVINCES),
        "AE" => "AE-DU",
        _ => "",
    }
}

/// A bank for an account in `country`.
pub(crate) fn bank_for(rng: &mut Rng, country: &str) -> &'static str {
    match country {
        "US" => US_BANKS[rng.index(US_BANKS.len())],
        "MX" => MX_BANKS[rng.index(MX_BANKS.len())],
        "CN" => CN_BANKS[rng.index(CN_BANKS.len())],
        "HK" => HK_BANKS[rng.index(HK_BANKS.len())],
        "AE" => AE_BANKS[rng.index(AE_BANKS.len())],
        _ => "",
    }
}

/// A US state other than `home` (for cash dropped at branches away from home).
pub(crate) fn other_state(rng: &mut Rng, home: &str) -> &'static str {
    loop {
        let s = pick_region(rng, &US_STATES);
        if s != home {
            return s;
        }
    }
}

/// `n` distinct US states, the first being `home`.
pub(crate) fn distinct_states(rng: &mut Rng, home: &'static str, n: usize) -> Vec<&'static str> {
    let mut v = vec![home];
    while v.len() < n {
        let s = pick_region(rng, &US_STATES);
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_trip() {
        assert_eq!(cents(950_000), 9500 * AMOUNT_ONE);
        assert_eq!(units(1_500_000, 6), AMOUNT_ONE + AMOUNT_ONE / 2);
    }

    #[test]
    fn memos_render() {
        assert_eq!(Memo::Num("INV ", 42).to_text(), "INV 42");
        assert_eq!(Memo::None.to_text(), "");
    }
}
