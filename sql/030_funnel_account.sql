-- rule: 030_funnel_account
-- version: 2
-- typology: T3
-- severity: high
-- episode_gap: 7d
-- lookback: {{lookback_days}}d
-- score: 0.7
-- description: Cash deposited into one account at branches in several states, most of it leaving within two days
-- param: min_states = 3
-- param: lookback_days = 30
-- param: outflow_share = 0.8
-- param: outflow_hours = 48
-- param: min_cash_usd = 3000
-- param: exempt_kinds = 'msb,exchange'
-- narrative: Account {subject} (home {home_region}) took USD {cash_usd} of cash deposits in {states} states ({state_list}) between {first_ts} and {last_ts}, and USD {out_usd} ({out_share} of it) left within {outflow_hours} hours of a deposit: the pattern of a funnel account collecting cash across states for quick transfer elsewhere.
--
-- Each new outflow or cash deposit anchors a look at the account's cash deposits in the
-- lookback up to it (ties by `seq`) and at its outflows made within outflow_hours after
-- one of them (a deposit in the third state may come after the money already left).
-- Gate: only accounts whose cash deposits in the part of the window this batch can look
-- back over already span min_states states and min_cash_usd are examined anchor by
-- anchor (a necessary condition, so no match is lost; most accounts stop here).
WITH gate AS (
    SELECT dst_account AS subject
    FROM window_tx
    WHERE channel = 'cash_deposit' AND location IS NOT NULL AND dst_account IS NOT NULL
    GROUP BY dst_account
    HAVING count(DISTINCT split_part(location, '-', 1) || '-' || split_part(location, '-', 2)) >= {{min_states}}
       AND sum(amount_usd) >= {{min_cash_usd}}
),
moves AS (
    -- outflows, and cash deposits (the state that completes the pattern may come last)
    SELECT src_account AS subject, src_kind AS kind, ts, seq FROM new_tx WHERE src_account IS NOT NULL
    UNION ALL
    SELECT dst_account AS subject, dst_kind AS kind, ts, seq FROM new_tx
    WHERE channel = 'cash_deposit' AND dst_account IS NOT NULL
),
anchors AS (
    SELECT n.subject, n.ts AS anchor_ts, n.seq AS anchor_seq,
           coalesce(a.region, 'unknown') AS home_region
    FROM moves n
    JOIN gate g ON n.subject = g.subject
    LEFT JOIN accounts a ON n.subject = a.account_id
    WHERE NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(n.kind, ''))
),
cash AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.home_region, w.tx_id, w.ts, w.seq, w.amount_usd,
           split_part(w.location, '-', 1) || '-' || split_part(w.location, '-', 2) AS state
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE w.channel = 'cash_deposit' AND w.location IS NOT NULL
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
first_cash AS (
    SELECT subject, anchor_ts, anchor_seq, min(ts) AS since, max(ts) AS last_cash_ts
    FROM cash GROUP BY subject, anchor_ts, anchor_seq
),
cash_subjects AS (
    SELECT DISTINCT subject FROM first_cash
),
out_flows AS (
    -- each outflow of an anchored subject in the window, with the time of its newest cash
    -- deposit at or before it (once per subject, not once per anchor and cash deposit)
    SELECT subject, tx_id, ts, seq, amount_usd, last_cash_ts
    FROM (SELECT x.subject, x.tx_id, x.ts, x.seq, x.amount_usd, x.is_cash,
                 max(CASE WHEN x.is_cash THEN x.ts END) OVER (PARTITION BY x.subject ORDER BY x.ts
                     RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_cash_ts
          FROM (SELECT w.src_account AS subject, w.tx_id, w.ts, w.seq, w.amount_usd, false AS is_cash
                FROM window_tx w JOIN cash_subjects s ON w.src_account = s.subject
                WHERE w.dst_account IS NULL OR w.dst_account <> w.src_account
                UNION ALL
                SELECT w.dst_account AS subject, w.tx_id, w.ts, w.seq, w.amount_usd, true AS is_cash
                FROM window_tx w JOIN cash_subjects s ON w.dst_account = s.subject
                WHERE w.channel = 'cash_deposit' AND w.location IS NOT NULL) x) y
    WHERE NOT is_cash
),
outs AS (
    -- an outflow up to the anchor within outflow_hours after one of the anchor's cash
    -- deposits: before the anchor's time, the newest cash at or before it is such a
    -- deposit exactly when it is inside the anchor's lookback and at most outflow_hours
    -- before it; at the anchor's own time, when the anchor's newest cash deposit is
    SELECT f.subject, f.anchor_ts, f.anchor_seq, o.tx_id, o.ts, o.seq, o.amount_usd
    FROM out_flows o
    JOIN first_cash f ON o.subject = f.subject
    WHERE o.ts > f.anchor_ts - INTERVAL '{{lookback_days}} days' AND o.ts <= f.anchor_ts
      AND ((o.ts < f.anchor_ts AND o.last_cash_ts > f.anchor_ts - INTERVAL '{{lookback_days}} days'
            AND o.ts <= o.last_cash_ts + INTERVAL '{{outflow_hours}} hours')
        OR (o.ts = f.anchor_ts AND o.seq <= f.anchor_seq
            AND f.anchor_ts <= f.last_cash_ts + INTERVAL '{{outflow_hours}} hours'))
),
cash_totals AS (
    SELECT subject, anchor_ts, anchor_seq, home_region,
           sum(amount_usd) AS cash_usd, count(DISTINCT state) AS states,
           array_to_string(array_sort(array_agg(DISTINCT state)), ', ') AS state_list,
           min(ts) AS first_ts, max(ts) AS last_cash_ts
    FROM cash GROUP BY subject, anchor_ts, anchor_seq, home_region
),
ids AS (
    SELECT subject, anchor_ts, anchor_seq, array_agg(tx_id ORDER BY ts, seq) AS tx_ids
    FROM (SELECT subject, anchor_ts, anchor_seq, tx_id, ts, seq FROM cash
          UNION ALL
          SELECT subject, anchor_ts, anchor_seq, tx_id, ts, seq FROM outs) legs
    GROUP BY subject, anchor_ts, anchor_seq
),
out_totals AS (
    SELECT subject, anchor_ts, anchor_seq, sum(amount_usd) AS out_usd, max(ts) AS last_out_ts
    FROM outs GROUP BY subject, anchor_ts, anchor_seq
)
SELECT c.subject, c.anchor_ts, c.anchor_seq,
       i.tx_ids,
       c.first_ts, greatest(c.last_cash_ts, o.last_out_ts) AS last_ts,
       c.cash_usd + o.out_usd AS amount_usd,
       c.cash_usd, o.out_usd, c.states, c.state_list, c.home_region,
       round(CAST(o.out_usd AS DOUBLE) / CAST(c.cash_usd AS DOUBLE), 3) AS out_share
FROM cash_totals c
JOIN out_totals o ON c.subject = o.subject AND c.anchor_ts = o.anchor_ts AND c.anchor_seq = o.anchor_seq
JOIN ids i ON c.subject = i.subject AND c.anchor_ts = i.anchor_ts AND c.anchor_seq = i.anchor_seq
WHERE c.states >= {{min_states}}
  AND c.cash_usd >= {{min_cash_usd}}
  AND o.out_usd >= c.cash_usd * {{outflow_share}}
