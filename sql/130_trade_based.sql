-- rule: 130_trade_based
-- version: 1
-- typology: T13
-- severity: high
-- episode_gap: 14d
-- lookback: {{lookback_days}}d
-- score: 0.65
-- needs: kyc (industry, country)
-- description: An electronics or import business receiving several wires from buyers in MX/CN/HK/AE within a month while its purchases abroad cover less than half of them
-- param: lookback_days = 30
-- param: min_inflows = 3
-- param: max_purchase_share = 0.5
-- param: min_amount_usd = 5000
-- param: trade_industries = 'electronics,phone_accessories,computer_parts,import_export'
-- param: subject_countries = 'US'
-- param: buyer_countries = 'MX,CN,HK,AE'
-- param: inflow_channels = 'wire'
-- param: purchase_channels = 'wire,trade,crypto'
-- narrative: Account {subject} ({industry} business) received {inflows} wires from {buyers} buyer(s) in {buyer_country_list} ({buyer_list}), USD {amount_usd} in all, between {first_ts} and {last_ts}, while paying only USD {purchases_usd} ({purchase_share} of it) to suppliers abroad in the {lookback_days} days up to {as_of}: payments for goods the business does not appear to buy, consistent with trade-based money laundering.
--
-- Who is judged: businesses in subject_countries whose industry is in trade_industries
-- (small electronics and import firms, the typology's fronts).
-- What counts, from min_amount_usd up (trade settlements; samples, fees and freight
-- below it are neither receipts nor purchases): inflows on inflow_channels from an
-- account in buyer_countries, and purchases on purchase_channels paid to a business in
-- another country than the subject's. A wholesaler that really trades pays its
-- suppliers most of what its buyers pay it (the look-alike buys 82-96% within hours); a
-- front buys nothing abroad, or pays the money on to private persons.
-- Measured on generated 1M-row ledgers (seeds 11, 12 and 13): every T13 scheme found, every
-- alert true, none on the wholesalers, the importers or the near misses (which buy
-- 85-100% of each payment abroad 4-9 days later: their episodes are cleared).
-- Anchors: every new inflow and every new purchase of a judged business; the totals at
-- an anchor cover (anchor - lookback_days, anchor], ties in time by `seq`. A row comes
-- back when at least min_inflows inflows are in the lookback and the purchases other
-- than the anchor itself stay under max_purchase_share of them; `matched` says whether
-- the pattern holds with the anchor counted. So an inflow anchor comes back only when it
-- matches, and a purchase anchor when the pattern held just before it: a purchase that
-- explains the inflows returns `matched = false` and clears the open episode (the
-- inflows are the shared evidence). Inflows that merely age out of the lookback clear
-- nothing: they were never explained.
-- The episode gap (14d) is longer than a supplier takes to be paid for goods the buyers
-- prepaid (days, a week or two), so an episode waits for the purchases that would
-- explain it before it is alerted, 14 days after its last inflow.
--
-- How it stays cheap (`accounts` is not read: the KYC attributes of both parties are
-- columns of the rows):
-- 1. candidates: the judged businesses the batch touched (a few hundred accounts at most);
-- 2. legs: their inflows and purchases over the window read (the candidates are the hash
--    table, the window only probes it);
-- 3. gate, per business over the window read (GROUP BY subject): at least min_inflows
--    inflows, and the purchases every anchor of this batch sees (those after the
--    business's last row in the batch minus lookback_days and before its first one)
--    under max_purchase_share of all the inflows any of its anchors can see: a necessary
--    condition for any row to come back. With small batches it stops a wholesaler, whose
--    purchases keep pace with its sales;
-- 4. the totals at every anchor are running sums over the business's legs in time order
--    (each leg enters at its time and leaves lookback_days later), a sort and no join of
--    every anchor with the business's history, so a busy wholesaler that passes the gate
--    (large batches) stays cheap;
-- 5. only the anchors that come back collect their evidence, the inflows in their
--    lookback (`legs` and `inflows` are read twice, so the engine computes them once).
WITH candidates AS (
    -- the judged businesses the batch touched, with the span of their rows in it (t0, t1)
    SELECT subject, max(country) AS country, max(industry) AS industry, min(ts) AS t0, max(ts) AS t1
    FROM (SELECT dst_account AS subject, dst_country AS country, dst_industry AS industry, ts
          FROM new_tx
          WHERE amount_usd >= {{min_amount_usd}} AND array_has(string_to_array('{{inflow_channels}}', ','), channel)
            AND dst_kind = 'business'
            AND array_has(string_to_array('{{trade_industries}}', ','), dst_industry)
            AND array_has(string_to_array('{{subject_countries}}', ','), dst_country)
          UNION ALL
          SELECT src_account AS subject, src_country AS country, src_industry AS industry, ts
          FROM new_tx
          WHERE amount_usd >= {{min_amount_usd}} AND array_has(string_to_array('{{purchase_channels}}', ','), channel)
            AND src_kind = 'business'
            AND array_has(string_to_array('{{trade_industries}}', ','), src_industry)
            AND array_has(string_to_array('{{subject_countries}}', ','), src_country)) n
    GROUP BY subject
),
inflows AS (
    SELECT c.subject, c.industry, c.t0, c.t1, w.tx_id, w.ts, w.seq, w.src_account AS cp, w.src_country AS cp_country,
           w.amount_usd AS in_usd, CAST(NULL AS DECIMAL(38, 6)) AS buy_usd
    FROM candidates c
    JOIN window_tx w ON w.dst_account = c.subject
    WHERE w.amount_usd >= {{min_amount_usd}} AND array_has(string_to_array('{{inflow_channels}}', ','), w.channel)
      AND array_has(string_to_array('{{buyer_countries}}', ','), w.src_country)
),
legs AS (
    SELECT * FROM inflows
    UNION ALL
    SELECT c.subject, c.industry, c.t0, c.t1, w.tx_id, w.ts, w.seq, w.dst_account AS cp, w.dst_country AS cp_country,
           CAST(NULL AS DECIMAL(38, 6)) AS in_usd, w.amount_usd AS buy_usd
    FROM candidates c
    JOIN window_tx w ON w.src_account = c.subject AND w.dst_country <> c.country
    WHERE w.amount_usd >= {{min_amount_usd}} AND array_has(string_to_array('{{purchase_channels}}', ','), w.channel)
      AND w.dst_kind = 'business'
),
gate AS (
    -- per business over the window read (see above)
    SELECT subject
    FROM legs
    GROUP BY subject, t0, t1
    HAVING count(in_usd) >= {{min_inflows}}
       AND coalesce(sum(CASE WHEN ts > t1 - INTERVAL '{{lookback_days}} days' AND ts < t0 THEN buy_usd END), 0)
           < sum(in_usd) * {{max_purchase_share}}
),
gated AS (
    SELECT l.* FROM gate g JOIN legs l ON l.subject = g.subject
),
events AS (
    -- each leg enters the totals at its time (live = 1) and leaves them lookback_days
    -- later (live = 0, ordered before an anchor at that very time)
    SELECT g.subject, g.industry, g.t0, g.seq, k.live, coalesce(g.buy_usd, 0) AS own_purchase,
           CASE WHEN k.live = 1 THEN g.ts ELSE g.ts + INTERVAL '{{lookback_days}} days' END AS ev_ts,
           CASE WHEN g.in_usd IS NULL THEN 0 WHEN k.live = 1 THEN 1 ELSE -1 END AS d_inflows,
           CASE WHEN k.live = 1 THEN coalesce(g.in_usd, 0) ELSE -coalesce(g.in_usd, 0) END AS d_inflow_usd,
           CASE WHEN k.live = 1 THEN coalesce(g.buy_usd, 0) ELSE -coalesce(g.buy_usd, 0) END AS d_purchase_usd
    FROM gated g CROSS JOIN (VALUES (0), (1)) AS k(live)
),
running AS (
    SELECT subject, industry, t0, ev_ts, seq, live, own_purchase,
           sum(d_inflows) OVER upto AS inflows,
           sum(d_inflow_usd) OVER upto AS inflow_usd,
           sum(d_purchase_usd) OVER upto AS purchases_usd
    FROM events
    WINDOW upto AS (PARTITION BY subject ORDER BY ev_ts, live, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
anchors AS (
    -- the batch's legs (from the business's first row in the batch on) at which a row
    -- comes back
    SELECT subject, industry, ev_ts AS anchor_ts, seq AS anchor_seq, inflow_usd, purchases_usd
    FROM running
    WHERE live = 1 AND ev_ts >= t0
      AND inflows >= {{min_inflows}}
      AND purchases_usd - own_purchase < inflow_usd * {{max_purchase_share}}
),
evidence AS (
    -- the inflows in each returned anchor's lookback
    SELECT a.subject, a.industry, a.anchor_ts, a.anchor_seq, a.inflow_usd, a.purchases_usd,
           l.tx_id, l.ts, l.seq, l.cp, l.cp_country, l.in_usd
    FROM anchors a
    JOIN inflows l ON l.subject = a.subject
    WHERE (l.ts < a.anchor_ts OR (l.ts = a.anchor_ts AND l.seq <= a.anchor_seq))
      AND l.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
totals AS (
    SELECT subject, industry, anchor_ts, anchor_seq, inflow_usd, purchases_usd,
           array_agg(tx_id ORDER BY ts, seq) AS tx_ids,
           min(ts) AS first_ts,
           max(ts) AS last_ts,
           count(*) AS inflows,
           count(DISTINCT cp) AS buyers,
           array_to_string(array_sort(array_agg(DISTINCT cp)), ', ') AS buyer_list,
           array_to_string(array_sort(array_agg(DISTINCT cp_country)), ', ') AS buyer_country_list
    FROM evidence
    GROUP BY subject, industry, anchor_ts, anchor_seq, inflow_usd, purchases_usd
)
SELECT subject, anchor_ts, anchor_seq, industry, tx_ids, first_ts, last_ts,
       inflow_usd AS amount_usd, inflows, buyers, buyer_list, buyer_country_list,
       CAST(purchases_usd AS DECIMAL(38, 2)) AS purchases_usd,
       round(CAST(purchases_usd AS DOUBLE) / CAST(inflow_usd AS DOUBLE), 3) AS purchase_share,
       to_char(anchor_ts, '%Y-%m-%dT%H:%M:%SZ') AS as_of,
       purchases_usd < inflow_usd * {{max_purchase_share}} AS matched
FROM totals
