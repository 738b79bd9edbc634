//! The canonical Arrow schemas every stage agrees on, and the names of their columns.
//!
//! Owns: the column names of the data contract (`../shared/data-contract.md`), their Arrow
//! types, and the few extra columns mirrorflow adds (`seq`, labels, `amount_usd`).
//! Must not: parse or validate anything; that is `ingest`'s job.
//!
//! Money is exact: transaction amounts are `Decimal128(38, 18)` (up to 18 fractional digits
//! for crypto), USD equivalents `Decimal128(38, 6)`, FX rates `Decimal128(38, 18)`.
//! Timestamps are UTC microseconds.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Precision of every decimal column.
pub const DECIMAL_PRECISION: u8 = 38;
/// Scale of transaction amounts and FX rates.
pub const AMOUNT_SCALE: i8 = 18;
/// Scale of USD equivalents.
pub const USD_SCALE: i8 = 6;
/// `10^AMOUNT_SCALE`, the raw value of one unit of an amount.
pub const AMOUNT_ONE: i128 = 1_000_000_000_000_000_000;
/// `10^USD_SCALE`, the raw value of one US dollar.
pub const USD_ONE: i128 = 1_000_000;

/// Column names of the `transactions` table.
pub mod tx {
    /// Unique id of the transaction within the ledger.
    pub const TX_ID: &str = "tx_id";
    /// Event time, UTC microseconds.
    pub const TS: &str = "ts";
    /// Sender account; null for cash coming in from outside the system.
    pub const SRC_ACCOUNT: &str = "src_account";
    /// Receiver account; null for cash withdrawals.
    pub const DST_ACCOUNT: &str = "dst_account";
    /// Exact amount in `currency`.
    pub const AMOUNT: &str = "amount";
    /// ISO 4217 code or asset code.
    pub const CURRENCY: &str = "currency";
    /// `cash_deposit`, `wire`, ... (unknown values are kept).
    pub const CHANNEL: &str = "channel";
    /// Where cash was handled (ISO 3166-2).
    pub const LOCATION: &str = "location";
    /// Free text.
    pub const MEMO: &str = "memo";
    /// Arrival order of the record within its run: ties in `ts` are broken by it.
    pub const SEQ: &str = "seq";
    /// Outside dialects' laundering label (AMLworld `Is Laundering`, AMLSim `is_sar`).
    /// Carried for evaluation only; detection never reads it.
    pub const LABEL_LAUNDERING: &str = "label_laundering";
    /// Outside dialects' scheme label (AMLSim `alert_id`). Evaluation only.
    pub const LABEL_SCHEME: &str = "label_scheme";
    /// USD equivalent at the day's FX rate, added by the pipeline's enrich stage.
    pub const AMOUNT_USD: &str = "amount_usd";
    /// KYC attributes of both parties, looked up once in the enrich stage so rules need
    /// not join `accounts` for them (null when the account is not in the table).
    pub const PARTY_COLUMNS: [&str; 6] =
        ["src_kind", "src_industry", "src_country", "dst_kind", "dst_industry", "dst_country"];
}

/// Column names of the `accounts` table.
pub mod acct {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const CUSTOMER_ID: &str = "customer_id";
    pub const COUNTRY: &str = "country";
    pub const REGION: &str = "region";
    pub const INSTITUTION: &str = "institution";
    pub const KIND: &str = "kind";
    pub const OPENED_AT: &str = "opened_at";
    pub const NATIONALITY: &str = "nationality";
    pub const OCCUPATION: &str = "occupation";
    pub const MONTHLY_INCOME_USD: &str = "monthly_income_usd";
    pub const INDUSTRY: &str = "industry";
    pub const PHONE_HASH: &str = "phone_hash";
    pub const ADDRESS_HASH: &str = "address_hash";
    pub const DEVICE_HASH: &str = "device_hash";
    pub const WATCHLIST: &str = "watchlist";
}

/// Column names of the `fx_rates` table.
pub mod fx {
    pub const DATE: &str = "date";
    pub const CURRENCY: &str = "currency";
    pub const USD_PER_UNIT: &str = "usd_per_unit";
}

/// The channels named by the data contract. Other values are kept and counted.
pub const KNOWN_CHANNELS: [&str; 10] =
    ["cash_deposit", "cash_withdrawal", "wire", "ach", "p2p", "card", "check", "crypto", "internal", "trade"];

/// Arrow type of exact transaction amounts.
pub fn amount_type() -> DataType {
    DataType::Decimal128(DECIMAL_PRECISION, AMOUNT_SCALE)
}

/// Arrow type of USD equivalents.
pub fn usd_type() -> DataType {
    DataType::Decimal128(DECIMAL_PRECISION, USD_SCALE)
}

/// Arrow type of event times: UTC microseconds.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static TRANSACTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(tx::TX_ID, DataType::Utf8, false),
        Field::new(tx::TS, ts_type(), false),
        Field::new(tx::SRC_ACCOUNT, DataType::Utf8, true),
        Field::new(tx::DST_ACCOUNT, DataType::Utf8, true),
        Field::new(tx::AMOUNT, amount_type(), false),
        Field::new(tx::CURRENCY, DataType::Utf8, false),
        Field::new(tx::CHANNEL, DataType::Utf8, true),
        Field::new(tx::LOCATION, DataType::Utf8, true),
        Field::new(tx::MEMO, DataType::Utf8, true),
        Field::new(tx::SEQ, DataType::UInt64, false),
        Field::new(tx::LABEL_LAUNDERING, DataType::Boolean, true),
        Field::new(tx::LABEL_SCHEME, DataType::Utf8, true),
    ]))
});

static ENRICHED: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = TRANSACTIONS.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(tx::AMOUNT_USD, usd_type(), true));
    for c in tx::PARTY_COLUMNS {
        fields.push(Field::new(c, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
});

static ACCOUNTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        s(acct::ACCOUNT_ID, false),
        s(acct::CUSTOMER_ID, true),
        s(acct::COUNTRY, true),
        s(acct::REGION, true),
        s(acct::INSTITUTION, true),
        s(acct::KIND, true),
        Field::new(acct::OPENED_AT, DataType::Date32, true),
        s(acct::NATIONALITY, true),
        s(acct::OCCUPATION, true),
        Field::new(acct::MONTHLY_INCOME_USD, usd_type(), true),
        s(acct::INDUSTRY, true),
        s(acct::PHONE_HASH, true),
        s(acct::ADDRESS_HASH, true),
        s(acct::DEVICE_HASH, true),
        s(acct::WATCHLIST, true),
    ]))
});

static FX_RATES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(fx::DATE, DataType::Date32, false),
        Field::new(fx::CURRENCY, DataType::Utf8, false),
        Field::new(fx::USD_PER_UNIT, amount_type(), false),
    ]))
});

/// Schema of ingested transactions, as every source emits them.
pub fn transactions_schema() -> SchemaRef {
    TRANSACTIONS.clone()
}

/// Schema of transactions after the enrich stage (adds `amount_usd`).
pub fn enriched_schema() -> SchemaRef {
    ENRICHED.clone()
}

/// Schema of the `accounts` table.
pub fn accounts_schema() -> SchemaRef {
    ACCOUNTS.clone()
}

/// Schema of the `fx_rates` table.
pub fn fx_rates_schema() -> SchemaRef {
    FX_RATES.clone()
}

/// Event time (UTC microseconds) of every row of a transactions batch.
pub fn ts_column(batch: &arrow::array::RecordBatch) -> &arrow::array::TimestampMicrosecondArray {
    {
        use arrow::array::AsArray;
        batch
            .column_by_name(tx::TS)
            .expect("transactions batches have ts")
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
    }
}
