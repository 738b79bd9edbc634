-- rule: 030_funnel_account
-- version: 2
-- typology: T3
-- severity: high
-- episode_gap: {{gap_days}}d
-- lookback: {{lookback_days}}d
-- score: 0.7
-- description: Cash deposited into one account at branches in several states, most of it leaving within two days
-- param: min_states = 3
-- param: lookback_days = 30
-- param: outflow_share = 0.8
-- param: outflow_hours = 48
-- param: min_cash_usd = 3000
-- param: exempt_kinds = 'msb,exchange'
-- param: gap_days = 7
-- narrative: Account {subject} (home {home_region}) took USD {cash_usd} of cash deposits in {states} states ({state_list}) between {first_ts} and {last_ts}, and USD {out_usd} ({out_share} of it) left within {outflow_hours} hours of a deposit: the pattern of a funnel account collecting cash across states for quick transfer elsewhere.
--
-- Each new outflow or cash deposit anchors a look at the account's cash deposits in the
-- lookback up to it (ties by `seq`) and at its outflows made within outflow_hours after
-- one of them (a deposit in the third state may come after the money already left).
-- Gate: only accounts whose cash deposits in the part of the window this batch can look
-- back over already span min_states states and min_cash_usd are examined anchor by
-- anchor (a necessary condition, so no match is lost; most accounts stop here).
-- Cost follows the account's rows, not anchors times rows, so a busy account (a business
-- taking cash in several states every day) costs its rows:
-- - an anchor's outflows are a contiguous run of the account's outflows that came within
--   outflow_hours of a deposit (the newest deposit before an outflow only moves forward in
--   time), so their total is the difference of two running totals, each read as of the
--   anchor (`as_of`) instead of a join of every anchor with every outflow;
-- - only anchors that match list evidence, and one that follows an earlier match of the
--   same account within the episode gap (gap_days, the episode_gap above) lists only what
--   that match could not see: its rows from the earlier anchor's time on, and the newest
--   deposit before it, which both share. Everything older in its lookback is evidence of
--   the earlier match already, so the episode, its evidence and the alert are the same as
--   if every match listed its whole lookback.
WITH deposits AS (
    SELECT dst_account AS subject, tx_id, ts, seq, amount_usd,
           split_part(location, '-', 1) || '-' || split_part(location, '-', 2) AS state
    FROM window_tx
    WHERE channel = 'cash_deposit' AND location IS NOT NULL AND dst_account IS NOT NULL
),
gate AS (
    SELECT subject
    FROM deposits
    GROUP BY subject
    HAVING count(DISTINCT state) >= {{min_states}} AND sum(amount_usd) >= {{min_cash_usd}}
),
moves AS (
    -- outflows, and cash deposits (the state that completes the pattern may come last)
    SELECT src_account AS subject, src_kind AS kind, ts, seq FROM new_tx WHERE src_account IS NOT NULL
    UNION ALL
    SELECT dst_account AS subject, dst_kind AS kind, ts, seq FROM new_tx
    WHERE channel = 'cash_deposit' AND dst_account IS NOT NULL
),
anchors AS (
    SELECT DISTINCT n.subject, n.ts AS anchor_ts, n.seq AS anchor_seq,
           coalesce(a.region, 'unknown') AS home_region
    FROM moves n
    JOIN gate g ON n.subject = g.subject
    LEFT JOIN accounts a ON n.subject = a.account_id
    WHERE NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(n.kind, ''))
),
cash AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.home_region, d.tx_id, d.ts, d.seq, d.amount_usd, d.state
    FROM deposits d
    JOIN anchors a ON d.subject = a.subject
    WHERE (d.ts < a.anchor_ts OR (d.ts = a.anchor_ts AND d.seq <= a.anchor_seq))
      AND d.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
cash_totals AS (
    SELECT subject, anchor_ts, anchor_seq, home_region,
           sum(amount_usd) AS cash_usd, count(DISTINCT state) AS states,
           array_to_string(array_sort(array_agg(DISTINCT state)), ', ') AS state_list,
           min(ts) AS first_ts, max(ts) AS last_cash_ts
    FROM cash GROUP BY subject, anchor_ts, anchor_seq, home_region
),
cash_subjects AS (
    SELECT DISTINCT subject FROM cash_totals
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
                SELECT d.subject, d.tx_id, d.ts, d.seq, d.amount_usd, true AS is_cash
                FROM deposits d JOIN cash_subjects s ON d.subject = s.subject) x) y
    WHERE NOT is_cash
),
quick AS (
    -- the outflows that left within outflow_hours of the newest deposit before them
    SELECT subject, ts, seq, amount_usd, last_cash_ts
    FROM out_flows
    WHERE last_cash_ts IS NOT NULL AND ts <= last_cash_ts + INTERVAL '{{outflow_hours}} hours'
),
as_of AS (
    -- per anchor, two running totals of the quick outflows read as of it: those strictly
    -- before its time (`upto`: at a tie in time the anchor comes first), and those whose
    -- newest deposit is at or before the start of its lookback (`since`: all of them
    -- before the anchor's time, since its own lookback holds a deposit); the anchor's
    -- quick outflows are the first less the second
    SELECT subject, anchor_ts, anchor_seq, up_n - since_n AS n, up_total - since_total AS total, newest
    FROM (SELECT subject, anchor_ts, anchor_seq, is_anchor,
                 sum(1 - is_anchor) OVER upto AS up_n,
                 sum(amount_usd) OVER upto AS up_total,
                 max(CASE WHEN is_anchor = 0 THEN ts END) OVER upto AS newest,
                 sum(1 - is_anchor) OVER since AS since_n,
                 sum(amount_usd) OVER since AS since_total
          FROM (SELECT subject, anchor_ts AS ts, 0 AS up_ord, anchor_ts - INTERVAL '{{lookback_days}} days' AS k,
                       1 AS since_ord, anchor_seq AS seq, anchor_ts, anchor_seq, 1 AS is_anchor,
                       CAST(0 AS DECIMAL(38, 6)) AS amount_usd
                FROM cash_totals
                UNION ALL
                SELECT subject, ts, 1 AS up_ord, last_cash_ts AS k, 0 AS since_ord, seq, ts AS anchor_ts,
                       seq AS anchor_seq, 0 AS is_anchor, amount_usd
                FROM quick) u
          WINDOW upto AS (PARTITION BY subject ORDER BY ts, up_ord, seq
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
                 since AS (PARTITION BY subject ORDER BY k, since_ord, seq
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) r
    WHERE is_anchor = 1
),
same_time AS (
    -- outflows at the anchor's own time, up to it, when the anchor is within
    -- outflow_hours of its newest deposit
    SELECT c.subject, c.anchor_ts, c.anchor_seq, count(*) AS n, sum(o.amount_usd) AS total
    FROM cash_totals c
    JOIN out_flows o ON o.subject = c.subject AND o.ts = c.anchor_ts AND o.seq <= c.anchor_seq
    WHERE c.anchor_ts <= c.last_cash_ts + INTERVAL '{{outflow_hours}} hours'
    GROUP BY c.subject, c.anchor_ts, c.anchor_seq
),
judged AS (
    SELECT c.subject, c.anchor_ts, c.anchor_seq, c.home_region, c.cash_usd, c.states, c.state_list,
           c.first_ts, c.last_cash_ts,
           q.total + coalesce(e.total, CAST(0 AS DECIMAL(38, 6))) AS out_usd,
           CASE WHEN e.n > 0 THEN c.anchor_ts WHEN q.n > 0 THEN q.newest END AS last_out_ts
    FROM cash_totals c
    JOIN as_of q ON q.subject = c.subject AND q.anchor_ts = c.anchor_ts AND q.anchor_seq = c.anchor_seq
    LEFT JOIN same_time e ON e.subject = c.subject AND e.anchor_ts = c.anchor_ts AND e.anchor_seq = c.anchor_seq
    WHERE c.states >= {{min_states}} AND c.cash_usd >= {{min_cash_usd}}
      AND q.n + coalesce(e.n, 0) > 0
),
matched AS (
    SELECT *, lag(anchor_ts) OVER w AS prev_ts, lag(last_ts) OVER w AS prev_last_ts
    FROM (SELECT *, greatest(last_cash_ts, last_out_ts) AS last_ts
          FROM judged WHERE out_usd >= cash_usd * {{outflow_share}}) j
    WINDOW w AS (PARTITION BY subject ORDER BY anchor_ts, anchor_seq)
),
shared AS (
    -- the newest deposit in a match's lookback before the previous match's time (evidence
    -- of both), where the previous match is within the gap
    SELECT m.subject, m.anchor_ts, m.anchor_seq, max(c.ts) AS shared_ts
    FROM matched m
    JOIN cash c ON c.subject = m.subject AND c.anchor_ts = m.anchor_ts AND c.anchor_seq = m.anchor_seq
    WHERE m.prev_ts IS NOT NULL AND m.anchor_ts <= m.prev_last_ts + INTERVAL '{{gap_days}} days'
      AND c.ts < m.prev_ts
    GROUP BY m.subject, m.anchor_ts, m.anchor_seq
),
listed AS (
    -- from when each match lists its evidence (NULL: its whole lookback)
    SELECT m.*, CASE WHEN s.shared_ts IS NOT NULL THEN m.prev_ts END AS list_from, s.shared_ts
    FROM matched m
    LEFT JOIN shared s ON s.subject = m.subject AND s.anchor_ts = m.anchor_ts AND s.anchor_seq = m.anchor_seq
),
legs AS (
    SELECT l.subject, l.anchor_ts, l.anchor_seq, c.tx_id, c.ts, c.seq
    FROM listed l
    JOIN cash c ON c.subject = l.subject AND c.anchor_ts = l.anchor_ts AND c.anchor_seq = l.anchor_seq
    WHERE l.list_from IS NULL OR c.ts >= l.list_from OR c.ts = l.shared_ts
    UNION ALL
    SELECT l.subject, l.anchor_ts, l.anchor_seq, o.tx_id, o.ts, o.seq
    FROM listed l
    JOIN out_flows o ON o.subject = l.subject
    WHERE (l.list_from IS NULL OR o.ts >= l.list_from)
      AND o.ts > l.anchor_ts - INTERVAL '{{lookback_days}} days' AND o.ts <= l.anchor_ts
      AND ((o.ts < l.anchor_ts AND o.last_cash_ts > l.anchor_ts - INTERVAL '{{lookback_days}} days'
            AND o.ts <= o.last_cash_ts + INTERVAL '{{outflow_hours}} hours')
        OR (o.ts = l.anchor_ts AND o.seq <= l.anchor_seq
            AND l.anchor_ts <= l.last_cash_ts + INTERVAL '{{outflow_hours}} hours'))
),
ids AS (
    SELECT subject, anchor_ts, anchor_seq, array_agg(tx_id ORDER BY ts, seq) AS tx_ids
    FROM legs GROUP BY subject, anchor_ts, anchor_seq
)
SELECT l.subject, l.anchor_ts, l.anchor_seq,
       i.tx_ids,
       l.first_ts, l.last_ts,
       l.cash_usd + l.out_usd AS amount_usd,
       l.cash_usd, l.out_usd, l.states, l.state_list, l.home_region,
       round(CAST(l.out_usd AS DOUBLE) / CAST(l.cash_usd AS DOUBLE), 3) AS out_share
FROM listed l
JOIN ids i ON l.subject = i.subject AND l.anchor_ts = i.anchor_ts AND l.anchor_seq = i.anchor_seq
