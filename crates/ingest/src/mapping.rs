//! Where each contract column comes from in a file: the column mapping and the dialects.
//!
//! Owns: `Slot` (the transactions columns a reader fills), `TxMapping` (per slot: which
//! file column(s), or a constant, or the line number; value maps; timestamp options),
//! the presets for IBM AMLworld and IBM AMLSim, header sniffing for `dialect = "auto"`,
//! and resolving a mapping against a header.
//! Must not: read files or parse values.

use std::collections::{BTreeMap, HashMap};

use crate::config::{ColumnRef, Dialect, InputConfig};
use crate::values::TsOptions;

/// The transactions columns a reader fills, in schema order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Slot {
    TxId = 0,
    Ts,
    Src,
    Dst,
    Amount,
    Currency,
    Channel,
    Location,
    Memo,
    LabelLaundering,
    LabelScheme,
}

/// Number of slots.
pub const N_SLOTS: usize = 11;

/// Every slot, in order.
pub const SLOTS: [Slot; N_SLOTS] = [
    Slot::TxId,
    Slot::Ts,
    Slot::Src,
    Slot::Dst,
    Slot::Amount,
    Slot::Currency,
    Slot::Channel,
    Slot::Location,
    Slot::Memo,
    Slot::LabelLaundering,
    Slot::LabelScheme,
];

impl Slot {
    /// The contract column name.
    pub fn name(self) -> &'static str {
        use mirrorflow_core::schema::tx;
        match self {
            Slot::TxId => tx::TX_ID,
            Slot::Ts => tx::TS,
            Slot::Src => tx::SRC_ACCOUNT,
            Slot::Dst => tx::DST_ACCOUNT,
            Slot::Amount => tx::AMOUNT,
            Slot::Currency => tx::CURRENCY,
            Slot::Channel => tx::CHANNEL,
            Slot::Location => tx::LOCATION,
            Slot::Memo => tx::MEMO,
            Slot::LabelLaundering => tx::LABEL_LAUNDERING,
            Slot::LabelScheme => tx::LABEL_SCHEME,
        }
    }

    /// Whether a file must provide this column.
    pub fn required_column(self) -> bool {
        matches!(self, Slot::TxId | Slot::Ts | Slot::Src | Slot::Dst | Slot::Amount | Slot::Currency)
    }
}

/// Where one slot's value comes from, by name.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSource {
    /// Not present: null.
    Absent,
    /// A file column.
    Column(String),
    /// Several file columns joined with `/` (bank-qualified accounts).
    Joined(Vec<String>),
    /// The same value on every row.
    Const(String),
    /// A stable id made of a prefix and the line (row) number, for dialects without ids.
    LineId(String),
}

/// How a file's columns map onto the transactions slots.
#[derive(Debug, Clone)]
pub struct TxMapping {
    /// Dialect the mapping came from (for messages and the summary).
    pub dialect: &'static str,
    pub sources: [FieldSource; N_SLOTS],
    pub ts: TsOptions,
    /// Timestamps are day steps counted from this epoch microsecond (AMLSim `tx_log`).
    pub ts_step_base_us: Option<i64>,
    /// File channel value -> contract channel.
    pub channel_values: HashMap<String, String>,
    /// File currency value -> currency code.
    pub currency_values: HashMap<String, String>,
    /// Label-scheme values that mean "none" (AMLSim's `-1`).
    pub scheme_null_values: Vec<String>,
}

/// A mapping resolved against a header: per slot, column indices or a constant.
#[derive(Debug, Clone)]
pub enum Resolved {
    Absent,
    Column(usize),
    Joined(Vec<usize>),
    Const(String),
    LineId(String),
}

impl TxMapping {
    /// The mapping for `dialect` (contract: the config's column map over the defaults).
    pub fn for_dialect(dialect: Dialect, input: &InputConfig) -> TxMapping {
        let ts = TsOptions { format: input.ts_format.clone(), unit: input.ts_unit };
        let channel_values: HashMap<String, String> =
            input.channel_values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match dialect {
            Dialect::AmlWorld => amlworld(ts),
            Dialect::AmlSim => amlsim(ts),
            Dialect::Auto | Dialect::Contract => {
                contract(&input.columns, input.default_currency.as_deref(), ts, channel_values)
            }
        }
    }

    /// Resolves the mapping against a header; the error lists every missing column.
    pub fn resolve(&self, header: &[String]) -> Result<Vec<Resolved>, String> {
        let index: HashMap<&str, usize> = header
            .iter()
            .enumerate()
            .rev() // first occurrence wins
            .map(|(i, h)| (h.as_str(), i))
            .collect();
        let mut missing = Vec::new();
        let mut out = Vec::with_capacity(N_SLOTS);
        for (slot, src) in SLOTS.iter().zip(&self.sources) {
            let r = match src {
                FieldSource::Absent => Resolved::Absent,
                FieldSource::Const(v) => Resolved::Const(v.clone()),
                FieldSource::LineId(p) => Resolved::LineId(p.clone()),
                FieldSource::Column(name) => match index.get(name.as_str()) {
                    Some(&i) => Resolved::Column(i),
                    None if slot.required_column() => {
                        missing.push(format!("`{name}` (for {})", slot.name()));
                        Resolved::Absent
                    }
                    None => Resolved::Absent,
                },
                FieldSource::Joined(names) => {
                    let mut idx = Vec::new();
                    for n in names {
                        match index.get(n.as_str()) {
                            Some(&i) => idx.push(i),
                            None => missing.push(format!("`{n}` (for {})", slot.name())),
                        }
                    }
                    Resolved::Joined(idx)
                }
            };
            out.push(r);
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(format!("the header has no column {} ({} dialect)", missing.join(", "), self.dialect))
        }
    }
}

/// Picks a dialect from a header when the config says `auto`.
pub fn sniff_dialect(header: &[String]) -> Dialect {
    let has = |n: &str| header.iter().any(|h| h == n);
    let amlsim_transactions = has("tran_id") && has("orig_acct") && has("bene_acct");
    let amlsim_tx_log = has("nameOrig") && has("nameDest") && has("step");
    if amlsim_transactions || amlsim_tx_log {
        Dialect::AmlSim
    } else if has("From Bank") && has("Payment Format") {
        Dialect::AmlWorld
    } else {
        Dialect::Contract
    }
}

/// Renames repeated header names the way pandas does (`Account`, `Account.1`), so
/// AMLworld's two `Account` columns can both be mapped.
pub fn dedupe_header(header: Vec<String>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    header
        .into_iter()
        .map(|h| {
            let n = seen.entry(h.clone()).or_insert(0);
            let out = if *n == 0 { h } else { format!("{h}.{n}") };
            *n += 1;
            out
        })
        .collect()
}

fn contract(
    columns: &BTreeMap<String, ColumnRef>,
    default_currency: Option<&str>,
    ts: TsOptions,
    channel_values: HashMap<String, String>,
) -> TxMapping {
    let sources = SLOTS.map(|slot| match columns.get(slot.name()) {
        Some(ColumnRef::One(c)) => FieldSource::Column(c.clone()),
        Some(ColumnRef::Joined(cs)) => FieldSource::Joined(cs.clone()),
        None => FieldSource::Column(slot.name().to_string()),
    });
    let mut m = TxMapping {
        dialect: "contract",
        sources,
        ts,
        ts_step_base_us: None,
        channel_values,
        currency_values: HashMap::new(),
        scheme_null_values: Vec::new(),
    };
    if let (Some(cur), None) = (default_currency, columns.get("currency")) {
        m.sources[Slot::Currency as usize] = FieldSource::Const(cur.to_string());
    }
    m
}

fn col(s: &str) -> FieldSource {
    FieldSource::Column(s.to_string())
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// IBM AMLworld (`HI-Small_Trans.csv`). It has no transaction id: ids are `aw-<line>`,
/// stable for a given file. Accounts are bank-qualified (`<bank>/<account>`). The
/// amount is the paid amount in the payment currency.
fn amlworld(mut ts: TsOptions) -> TxMapping {
    if ts.format.is_none() {
        ts.format = Some("%Y/%m/%d %H:%M".into());
    }
    TxMapping {
        dialect: "amlworld",
        sources: [
            FieldSource::LineId("aw-".into()),
            col("Timestamp"),
            FieldSource::Joined(vec!["From Bank".into(), "Account".into()]),
            FieldSource::Joined(vec!["To Bank".into(), "Account.1".into()]),
            col("Amount Paid"),
            col("Payment Currency"),
            col("Payment Format"),
            FieldSource::Absent,
            FieldSource::Absent,
            col("Is Laundering"),
            FieldSource::Absent,
        ],
        ts,
        ts_step_base_us: None,
        channel_values: map(&[
            ("ACH", "ach"),
            ("Wire", "wire"),
            ("Cheque", "check"),
            ("Credit Card", "card"),
            ("Cash", "cash"),
            ("Bitcoin", "crypto"),
            ("Reinvestment", "internal"),
        ]),
        currency_values: map(&[
            ("US Dollar", "USD"),
            ("Euro", "EUR"),
            ("Yuan", "CNY"),
            ("Mexican Peso", "MXN"),
            ("Bitcoin", "BTC"),
            ("Yen", "JPY"),
            ("UK Pound", "GBP"),
            ("Rupee", "INR"),
            ("Ruble", "RUB"),
            ("Canadian Dollar", "CAD"),
            ("Australian Dollar", "AUD"),
            ("Swiss Franc", "CHF"),
            ("Shekel", "ILS"),
            ("Saudi Riyal", "SAR"),
            ("Brazil Real", "BRL"),
        ]),
        scheme_null_values: Vec::new(),
    }
}

/// IBM AMLSim: `transactions.csv` (`tran_id,orig_acct,bene_acct,tx_type,base_amt,
/// tran_timestamp,is_sar,alert_id`); amounts are USD. The older `tx_log.csv`
/// (`step,type,amount,nameOrig,...,isSAR,alertID`) is read when its header is seen:
/// see [`amlsim_txlog`].
fn amlsim(ts: TsOptions) -> TxMapping {
    TxMapping {
        dialect: "amlsim",
        sources: [
            col("tran_id"),
            col("tran_timestamp"),
            col("orig_acct"),
            col("bene_acct"),
            col("base_amt"),
            FieldSource::Const("USD".into()),
            col("tx_type"),
            FieldSource::Absent,
            FieldSource::Absent,
            col("is_sar"),
            col("alert_id"),
        ],
        ts,
        ts_step_base_us: None,
        channel_values: amlsim_channels(),
        currency_values: HashMap::new(),
        scheme_null_values: vec!["-1".into()],
    }
}

fn amlsim_channels() -> HashMap<String, String> {
    map(&[
        ("TRANSFER", "wire"),
        ("WIRE", "wire"),
        ("CASH-IN", "cash_deposit"),
        ("DEPOSIT", "cash_deposit"),
        ("CASH-OUT", "cash_withdrawal"),
        ("CHECK", "check"),
        ("CREDIT", "card"),
        ("PAYMENT", "ach"),
    ])
}

/// IBM AMLSim `tx_log.csv`: no ids (`sim-<line>`), time in day steps from 2017-01-01.
pub fn amlsim_txlog(ts: TsOptions) -> TxMapping {
    TxMapping {
        dialect: "amlsim",
        sources: [
            FieldSource::LineId("sim-".into()),
            col("step"),
            col("nameOrig"),
            col("nameDest"),
            col("amount"),
            FieldSource::Const("USD".into()),
            col("type"),
            FieldSource::Absent,
            FieldSource::Absent,
            col("isSAR"),
            col("alertID"),
        ],
        ts,
        ts_step_base_us: Some(1_483_228_800_000_000), // 2017-01-01T00:00:00Z
        channel_values: amlsim_channels(),
        currency_values: HashMap::new(),
        scheme_null_values: vec!["-1".into()],
    }
}

/// The mapping for a file whose header is `header`, given the configured dialect.
pub fn mapping_for_header(input: &InputConfig, header: &[String]) -> TxMapping {
    let dialect = match input.dialect {
        Dialect::Auto => sniff_dialect(header),
        d => d,
    };
    if dialect == Dialect::AmlSim && header.iter().any(|h| h == "nameOrig") {
        return amlsim_txlog(TsOptions { format: input.ts_format.clone(), unit: input.ts_unit });
    }
    TxMapping::for_dialect(dialect, input)
}
