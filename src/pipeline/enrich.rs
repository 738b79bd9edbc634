//! The enrich stage (`Enricher`) is the core crate's, so detector tests can enrich the
//! batches they build; its tests here read FX tables with the product's ingest.

pub use mirrorflow_core::enrich::Enricher;

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use std::sync::Arc;

    use arrow::array::AsArray;

    use super::*;
    use crate::ingest::Reason;
    use crate::ingest::tables::AccountsTable;
    use crate::ingest::{IngestState, RowCtx, Slot, TxBuilder, TxMapping, test_fields};
    use crate::schema::tx;

    #[test]
    fn a_usd_value_beyond_the_bound_is_taken_out_and_handed_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fx_rates.csv");
        std::fs::write(&path, "date,currency,usd_per_unit\n2026-03-01,XAU,15000000000000\n").unwrap();
        let cfg = crate::config::Config::default();
        let (fx, _) = crate::ingest::tables::read_fx(&path, &cfg.input, &mut Vec::new()).unwrap();
        let mut enricher = Enricher::new(Arc::new(fx), Arc::new(AccountsTable::empty()));
        let m = TxMapping::for_dialect(crate::config::Dialect::Contract, &cfg.input);
        let mut b = TxBuilder::new();
        let ctx = RowCtx { file: "t", line: 1, raw: b"" };
        // 1e19 XAU at 1.5e13 USD: beyond i128 micro-dollars; 66 XAU: just under 1e15
        // USD; 67 XAU: just over it; 1 unknown-currency unit: no rate, kept (null)
        for (id, amount, cur) in
            [("big", "1e19", "XAU"), ("under", "66", "XAU"), ("over", "67", "XAU"), ("nofx", "1", "ZZZ")]
        {
            let mut f = test_fields(id, "2026-03-02T00:00:00Z");
            f[Slot::Amount as usize] = Some(Cow::Borrowed(amount.as_bytes()));
            f[Slot::Currency as usize] = Some(Cow::Borrowed(cur.as_bytes()));
            b.push(&ctx, &f, &m).unwrap();
        }
        let (batch, _) = b.finish(&mut IngestState::default());
        let (out, rejected) = enricher.enrich(&batch, "ledger").unwrap();
        let ids: Vec<&str> = out.column_by_name(tx::TX_ID).unwrap().as_string::<i32>().iter().flatten().collect();
        assert_eq!(ids, ["under", "nofx"]);
        let why: Vec<(Reason, &str)> = rejected.iter().map(|r| (r.reason, r.field.as_str())).collect();
        assert_eq!(why, [(Reason::UsdOutOfRange, "amount"), (Reason::UsdOutOfRange, "amount")]);
        assert!(rejected[0].message.contains("tx_id `big`"), "{}", rejected[0].message);
        assert!(rejected[1].message.contains("more than 1000000000000000 USD"), "{}", rejected[1].message);
        assert_eq!(enricher.missing_rate.get("ZZZ"), Some(&1));
    }
}
