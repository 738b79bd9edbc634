-- rule: 120_precursor_supplier
-- version: 1
-- typology: T12
-- severity: high
-- episode_gap: 30d
-- lookback: {{lookback_days}}d
-- score: 0.75
-- description: Payments to a watch-listed precursor supplier, payments whose memo quotes the CAS number of a controlled drug precursor, or crypto payments quoting any CAS number to a CN/HK chemical or pharmaceutical business
-- param: watchlist_tag = 'precursor_supplier'
-- param: cas_pattern = '\b([0-9]{2,7}-[0-9]{2}-[0-9])\b'
-- param: controlled_cas = '21409-26-7,39742-60-4,79099-07-3,40064-34-4,41661-47-6,23056-29-3,125541-22-2,1609-66-1,13605-48-6,5449-12-7,80532-66-7,4468-48-8,103-79-7,4676-39-5,94-59-7,299-42-3,90-82-4,1451-82-7'
-- param: supplier_countries = 'CN,HK'
-- param: supplier_industries = 'chemicals,pharmaceuticals,pharmaceutical_intermediates'
-- param: lookback_days = 30
-- narrative: Account {subject} paid {payments} payment(s), USD {amount_usd} in all, to {supplier} ({supplier_country}, {supplier_industry}) between {first_ts} and {last_ts}; {reason}. Payments of this kind fund precursor chemicals for synthetic drugs.
--
-- controlled_cas: fentanyl precursors (4-ANPP, NPP, 1-boc-4-piperidone, 4-piperidone,
-- 4-AP, 1-boc-4-AP, norfentanyl), methamphetamine / MDMA precursors (PMK and BMK
-- glycidates, APAAN, phenylacetone, PMK, safrole, ephedrine, pseudoephedrine) and a
-- cathinone precursor (2-bromo-4'-methylpropiophenone).
-- Each new flagged payment anchors a match holding the payer's flagged payments to the
-- same payee in the lookback up to it (ties in time by arrival order `seq`).
-- Only payer/payee pairs with a new payment that can carry a flag (watch-listed payee or
-- a CAS number in the memo) are looked up in the window: the regular expression runs
-- once per new row and on those pairs' history, never over the whole window.
WITH pairs AS (
    SELECT DISTINCT n.src_account, n.dst_account
    FROM new_tx n JOIN accounts a ON n.dst_account = a.account_id
    WHERE n.src_account IS NOT NULL
      AND (a.watchlist = '{{watchlist_tag}}' OR regexp_like(coalesce(n.memo, ''), '{{cas_pattern}}'))
),
payments AS (
    SELECT w.src_account, w.dst_account, w.tx_id, w.ts, w.seq, w.amount_usd, w.channel,
           regexp_match(coalesce(w.memo, ''), '{{cas_pattern}}')[1] AS cas,
           a.country, a.industry, a.watchlist
    FROM window_tx w
    JOIN pairs p ON w.src_account = p.src_account AND w.dst_account = p.dst_account
    JOIN accounts a ON w.dst_account = a.account_id
),
flagged AS (
    SELECT *,
           CASE WHEN watchlist = '{{watchlist_tag}}' THEN 'the payee is on the precursor-supplier watchlist'
                WHEN array_has(string_to_array('{{controlled_cas}}', ','), cas) THEN 'the memo quotes CAS ' || cas || ', a controlled drug precursor'
                WHEN cas IS NOT NULL AND channel = 'crypto'
                     AND array_has(string_to_array('{{supplier_countries}}', ','), country)
                     AND array_has(string_to_array('{{supplier_industries}}', ','), industry)
                    THEN 'a crypto payment quoting CAS ' || cas || ' to a chemical seller in ' || country
           END AS reason
    FROM payments
),
anchors AS (
    SELECT f.src_account, f.dst_account, f.ts AS anchor_ts, f.seq AS anchor_seq
    FROM flagged f JOIN new_tx n ON f.tx_id = n.tx_id
    WHERE f.reason IS NOT NULL
)
SELECT a.src_account AS subject,
       array_agg(f.tx_id ORDER BY f.ts, f.seq) AS tx_ids,
       min(f.ts) AS first_ts,
       max(f.ts) AS last_ts,
       sum(f.amount_usd) AS amount_usd,
       count(*) AS payments,
       a.dst_account AS supplier,
       coalesce(f.country, 'unknown country') AS supplier_country,
       coalesce(f.industry, 'unknown industry') AS supplier_industry,
       min(f.reason) AS reason
FROM anchors a
JOIN flagged f ON f.src_account = a.src_account AND f.dst_account = a.dst_account
WHERE f.reason IS NOT NULL
  AND (f.ts < a.anchor_ts OR (f.ts = a.anchor_ts AND f.seq <= a.anchor_seq))
  AND f.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
GROUP BY a.src_account, a.dst_account, a.anchor_ts, a.anchor_seq, f.country, f.industry
