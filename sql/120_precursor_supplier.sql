-- rule: 120_precursor_supplier
-- version: 1
-- typology: T12
-- severity: high
-- score: 0.75
-- description: Payments to a watch-listed precursor supplier, payments whose memo quotes the CAS number of a controlled drug precursor, or crypto payments quoting any CAS number to a CN/HK chemical or pharmaceutical business
-- param: watchlist_tag = 'precursor_supplier'
-- param: cas_pattern = '\b([0-9]{2,7}-[0-9]{2}-[0-9])\b'
-- param: controlled_cas = '21409-26-7,39742-60-4,79099-07-3,40064-34-4,41661-47-6,23056-29-3,125541-22-2,1609-66-1,13605-48-6,5449-12-7,80532-66-7,4468-48-8,103-79-7,4676-39-5,94-59-7,299-42-3,90-82-4,1451-82-7'
-- param: supplier_countries = 'CN,HK'
-- param: supplier_industries = 'chemicals,pharmaceuticals,pharmaceutical_intermediates'
-- narrative: Account {subject} paid {payments} payment(s), USD {amount_usd} in all, to {supplier} ({supplier_country}, {supplier_industry}) between {first_ts} and {last_ts}; {reason}. Payments of this kind fund precursor chemicals for synthetic drugs.
--
-- controlled_cas: fentanyl precursors (4-ANPP, NPP, 1-boc-4-piperidone, 4-piperidone,
-- 4-AP, 1-boc-4-AP, norfentanyl), methamphetamine / MDMA precursors (PMK and BMK
-- glycidates, APAAN, phenylacetone, PMK, safrole, ephedrine, pseudoephedrine) and a
-- cathinone precursor (2-bromo-4'-methylpropiophenone).
WITH payments AS (
    SELECT n.src_account, n.dst_account, n.tx_id, n.ts, n.amount_usd, n.channel,
           regexp_match(coalesce(n.memo, ''), '{{cas_pattern}}')[1] AS cas,
           a.country, a.industry, a.watchlist
    FROM new_tx n
    JOIN accounts a ON n.dst_account = a.account_id
    WHERE n.src_account IS NOT NULL
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
)
SELECT src_account AS subject,
       array_agg(tx_id ORDER BY ts, tx_id) AS tx_ids,
       min(ts) AS first_ts,
       max(ts) AS last_ts,
       sum(amount_usd) AS amount_usd,
       count(*) AS payments,
       dst_account AS supplier,
       coalesce(country, 'unknown country') AS supplier_country,
       coalesce(industry, 'unknown industry') AS supplier_industry,
       min(reason) AS reason
FROM flagged
WHERE reason IS NOT NULL
GROUP BY src_account, dst_account, country, industry
