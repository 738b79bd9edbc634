-- rule: 020_smurfing
-- version: 4
-- typology: T2
-- severity: high
-- episode_gap: {{hold_days}}d
-- lookback: {{history_days}}d
-- score: 0.7
-- needs: kyc (kind, country)
-- description: Four or more different people each paying under the CTR threshold into one account within a week
-- param: min_senders = 4
-- param: lookback_days = 7
-- param: ctr_threshold_usd = 10000
-- param: min_amount_usd = 1000
-- param: channels = 'p2p,ach,wire,internal,check'
-- param: subject_countries = 'US'
-- param: exempt_kinds = 'msb,exchange'
-- param: sender_kinds = 'personal'
-- param: history_days = 35
-- param: min_cadence_days = 5
-- param: recurrence_amount_ratio = 3
-- param: hold_days = 35
-- param: burst_factor = 2
-- param: own_sigmas = 3
-- param: min_peers = 10
-- param: peer_quantile = 0.9
-- param: max_legs = 64
-- narrative: Account {subject} received {transfers} transfers from {senders} different individuals ({sender_list}) between {first_ts} and {last_ts}, each of at least USD {min_amount_usd} and under the USD {ctr_threshold_usd} Currency Transaction Report threshold, USD {amount_usd} in all within {lookback_days} days: many people each paying in below the reporting threshold into one account, consistent with smurfing.
--
-- What counts: transfers on `channels` (card payments are purchases; cash deposits carry
-- no depositor identity and are T1's matter) of at least min_amount_usd (small P2P among
-- friends is not smurfing) and under the threshold, from an individual: a sender whose
-- KYC kind is in sender_kinds, or who is not in the accounts table (another bank's
-- customer). A business paying an account is trade, not a smurf.
-- Who is judged: accounts in subject_countries (the CTR threshold is a US one; accounts
-- missing from KYC are judged too), outside exempt_kinds (money-services businesses and
-- exchanges, paid by the public by design: a KYC fact a bank holds).
-- Behaviour, not labels, decides what is ordinary -- the same baselines as 080_fan_in
-- (see there): a sender who paid the account before on a cadence (rent, dues, fees) is
-- recurring and does not count, and a first round is held hold_days and cleared by the
-- next; a collection no wider than burst_factor times the account's own rate of fresh
-- senders (or than chance gives at that rate: own_sigmas standard deviations of a
-- Poisson count), or than its peers' (the KYC kind and industry, else the kind; complete days
-- before the anchor's day), is typical of it and clears a held episode.
-- Each new transfer that counts anchors a match: the counted transfers into the same
-- account in the lookback (anchor - lookback_days, anchor], ties in time by `seq`;
-- senders are counted over at most the anchor and the max_legs transfers before it.
WITH candidates AS (
    SELECT dst_account AS hub,
           min(ts) AS first_new_ts,
           coalesce(max(dst_kind), 'unknown') AS segment,
           max(dst_kind) AS kind, max(dst_industry) AS industry,
           CASE WHEN max(dst_kind) = 'business' THEN {{min_senders}} ELSE {{min_senders}} END AS threshold
    FROM new_tx
    WHERE amount_usd >= {{min_amount_usd}} AND amount_usd < {{ctr_threshold_usd}}
      AND src_account IS NOT NULL AND dst_account IS NOT NULL AND src_account <> dst_account
      AND array_has(string_to_array('{{channels}}', ','), channel)
      AND (src_kind IS NULL OR array_has(string_to_array('{{sender_kinds}}', ','), src_kind))
      AND (dst_country IS NULL OR array_has(string_to_array('{{subject_countries}}', ','), dst_country))
      AND NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(dst_kind, ''))
    GROUP BY dst_account
),
legs AS (
    SELECT c.hub, c.segment, c.kind, c.industry, c.threshold, c.first_new_ts, w.src_account AS cp, w.tx_id, w.ts, w.seq, w.amount_usd, w.channel
    FROM candidates c
    JOIN window_tx w ON w.dst_account = c.hub AND w.src_account <> c.hub
    WHERE w.amount_usd >= {{min_amount_usd}} AND amount_usd < {{ctr_threshold_usd}} AND w.src_account IS NOT NULL
      AND (w.src_kind IS NULL OR array_has(string_to_array('{{sender_kinds}}', ','), w.src_kind))
),
gate AS (
    SELECT hub FROM legs
    GROUP BY hub, threshold
    HAVING count(*) >= threshold
),
paired AS (
    SELECT l.hub, l.segment, l.kind, l.industry, l.threshold, l.first_new_ts, l.cp, l.tx_id, l.ts, l.seq, l.amount_usd,
           lag(l.ts) OVER pair AS prev_ts,
           lag(l.amount_usd) OVER pair AS prev_usd,
           lag(l.tx_id) OVER pair AS prev_id
    FROM gate g JOIN legs l ON l.hub = g.hub
    WHERE array_has(string_to_array('{{channels}}', ','), l.channel)
    WINDOW pair AS (PARTITION BY l.hub, l.cp ORDER BY l.ts, l.seq)
),
flagged AS (
    SELECT hub, segment, kind, industry, threshold, first_new_ts, cp, tx_id, ts, seq, amount_usd, prev_id,
           coalesce(prev_ts <= ts - INTERVAL '{{min_cadence_days}} days'
                    AND prev_usd * {{recurrence_amount_ratio}} >= amount_usd
                    AND amount_usd * {{recurrence_amount_ratio}} >= prev_usd, false) AS recurring
    FROM paired
),
gated AS (
    SELECT * FROM flagged WHERE NOT recurring
),
numbered AS (
    SELECT hub, segment, kind, industry, threshold, first_new_ts, cp, tx_id, ts, seq, amount_usd,
           count(*) OVER (PARTITION BY hub ORDER BY ts
                          RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '{{lookback_days}} days' PRECEDING) AS n_older,
           -- the hub's own baseline: fresh legs in the history before the lookback, and
           -- how many days of history they cover (from its first fresh leg seen)
           count(*) OVER (PARTITION BY hub ORDER BY ts
                          RANGE BETWEEN INTERVAL '{{history_days}} days' PRECEDING AND INTERVAL '{{lookback_days}} days' PRECEDING) AS n_before,
           (to_unixtime(ts) - greatest(to_unixtime(min(ts) OVER (PARTITION BY hub)),
                                       to_unixtime(ts) - {{history_days}} * 86400)) / 86400.0 - {{lookback_days}} AS before_days,
           CAST(row_number() OVER (PARTITION BY hub ORDER BY ts, seq) AS BIGINT) AS n_upto
    FROM gated
),
first_anchor AS (
    SELECT hub, min(n_upto) AS first_n FROM numbered WHERE ts >= first_new_ts GROUP BY hub
),
frames AS (
    SELECT n.hub, n.segment, n.kind, n.industry, n.threshold, n.first_new_ts, n.ts, n.seq, n.n_older, n.n_upto,
           n.n_before, n.before_days,
           array_agg(n.tx_id) OVER recent AS ids,
           array_agg(n.cp) OVER recent AS cps,
           array_agg(n.amount_usd) OVER recent AS amounts,
           array_agg(n.ts) OVER recent AS times
    FROM numbered n JOIN first_anchor f ON n.hub = f.hub
    WHERE n.n_upto >= f.first_n - {{max_legs}}
    WINDOW recent AS (PARTITION BY n.hub ORDER BY n.n_upto ROWS BETWEEN {{max_legs}} PRECEDING AND CURRENT ROW)
),
sliced AS (
    -- the frame holds the anchor and up to max_legs legs before it: the lookback's legs
    -- start at array position (n_older + 1) - (n_upto - cardinality), or at 1
    SELECT hub, segment, kind, industry, threshold, first_new_ts, ts, seq, ids, cps, amounts, times,
           n_before, before_days,
           CAST(cardinality(ids) AS BIGINT) AS last_i,
           CASE WHEN n_older + 1 - n_upto + CAST(cardinality(ids) AS BIGINT) > 1
                THEN n_older + 1 - n_upto + CAST(cardinality(ids) AS BIGINT) ELSE 1 END AS first_i
    FROM frames
),
anchored AS (
    -- one row per (anchor, leg): the evidence lists join back per anchor at the end,
    -- so they are not repeated on every unnested row
    SELECT hub, segment, threshold, ts AS anchor_ts, seq AS anchor_seq,
           unnest(array_slice(cps, first_i, last_i)) AS cp,
           unnest(array_slice(amounts, first_i, last_i)) AS amount_usd
    FROM sliced
    WHERE ts >= first_new_ts
),
per_counterparty AS (
    SELECT hub, segment, threshold, anchor_ts, anchor_seq, cp,
           sum(amount_usd) AS cp_usd, count(*) AS transfers
    FROM anchored
    GROUP BY hub, segment, threshold, anchor_ts, anchor_seq, cp
),
fans AS (
    SELECT hub, anchor_ts, anchor_seq, segment, threshold,
           sum(cp_usd) AS amount_usd,
           sum(transfers) AS transfers,
           count(*) AS counterparties,
           array_to_string(array_sort(array_agg(cp)), ', ') AS counterparty_list,
           CAST(max(cp_usd) AS DECIMAL(38, 2)) AS largest_counterparty_usd
    FROM per_counterparty
    GROUP BY hub, segment, threshold, anchor_ts, anchor_seq
    HAVING count(*) >= threshold
),
anchor_days AS (
    SELECT DISTINCT s.kind, s.industry, date_trunc('day', f.anchor_ts) AS day
    FROM fans f JOIN sliced s ON s.hub = f.hub AND s.seq = f.anchor_seq
),
peer_legs AS (
    -- the peer groups' counted transfers over the history, per account and day
    SELECT w.dst_kind AS kind, w.dst_industry AS industry, w.dst_account AS account,
           date_trunc('day', w.ts) AS day, count(*) AS n
    FROM window_tx w
    JOIN (SELECT DISTINCT kind FROM anchor_days) g ON (w.dst_kind IS NOT DISTINCT FROM g.kind)
    CROSS JOIN (SELECT min(day) - INTERVAL '{{lookback_days}} days' AS since FROM anchor_days) b
    WHERE w.ts >= b.since
      AND w.amount_usd >= {{min_amount_usd}} AND amount_usd < {{ctr_threshold_usd}} AND w.src_account IS NOT NULL AND w.dst_account IS NOT NULL
      AND w.src_account <> w.dst_account
      AND array_has(string_to_array('{{channels}}', ','), w.channel)
      AND (w.src_kind IS NULL OR array_has(string_to_array('{{sender_kinds}}', ','), w.src_kind))
      AND (w.dst_country IS NULL OR array_has(string_to_array('{{subject_countries}}', ','), w.dst_country))
    GROUP BY w.dst_kind, w.dst_industry, w.dst_account, date_trunc('day', w.ts)
),
peer_weeks AS (
    -- each active account of the anchors' kinds: its transfers in the lookback_days
    -- before the anchor's day
    SELECT a.kind, a.day, p.industry, p.account, sum(p.n) AS n
    FROM (SELECT DISTINCT kind, day FROM anchor_days) a
    JOIN peer_legs p ON (p.kind IS NOT DISTINCT FROM a.kind)
    WHERE p.day < a.day AND p.day >= a.day - INTERVAL '{{lookback_days}} days'
    GROUP BY a.kind, a.day, p.industry, p.account
),
peers_industry AS (
    SELECT kind, industry, day, count(*) AS active_peers, median(n) AS peer_median,
           -- exact quantile: the value at rank ceil(peer_quantile x peers)
           array_element(array_sort(array_agg(n)), CAST(ceil({{peer_quantile}} * count(*)) AS BIGINT)) AS peer_high
    FROM peer_weeks
    GROUP BY kind, industry, day
),
peers_kind AS (
    SELECT kind, day, count(*) AS active_peers, median(n) AS peer_median,
           array_element(array_sort(array_agg(n)), CAST(ceil({{peer_quantile}} * count(*)) AS BIGINT)) AS peer_high
    FROM peer_weeks
    GROUP BY kind, day
),
judged AS (
    SELECT f.*, s.n_before, s.before_days,
           CASE WHEN s.before_days >= {{lookback_days}}
                THEN s.n_before * {{lookback_days}} / s.before_days END AS own_rate,
           -- the industry's peers when enough of them are active, else the kind's
           CASE WHEN p.active_peers >= {{min_peers}} THEN p.peer_median
                WHEN k.active_peers >= {{min_peers}} THEN k.peer_median END AS peer_median,
           CASE WHEN p.active_peers >= {{min_peers}} THEN p.peer_high
                WHEN k.active_peers >= {{min_peers}} THEN k.peer_high END AS peer_high
    FROM fans f
    JOIN sliced s ON s.hub = f.hub AND s.seq = f.anchor_seq
    LEFT JOIN peers_industry p ON (p.kind IS NOT DISTINCT FROM s.kind) AND (p.industry IS NOT DISTINCT FROM s.industry)
                              AND p.day = date_trunc('day', f.anchor_ts)
    LEFT JOIN peers_kind k ON (k.kind IS NOT DISTINCT FROM s.kind) AND k.day = date_trunc('day', f.anchor_ts)
),
recurring AS (
    SELECT hub, segment, threshold, first_new_ts, tx_id, ts, seq, amount_usd, prev_id,
           count(*) OVER (PARTITION BY hub ORDER BY ts
                          RANGE BETWEEN INTERVAL '{{lookback_days}} days' PRECEDING AND CURRENT ROW) AS n_recurring
    FROM flagged WHERE recurring
)
SELECT j.hub AS subject, j.anchor_ts, j.anchor_seq, j.segment, j.threshold,
       array_slice(s.ids, s.first_i, s.last_i) AS tx_ids,
       array_element(s.times, s.first_i) AS first_ts,
       j.anchor_ts AS last_ts,
       j.amount_usd, j.transfers, j.counterparties AS senders, j.counterparty_list AS sender_list, j.largest_counterparty_usd,
       CAST(round(j.own_rate, 1) AS VARCHAR) AS own_weekly_rate, CAST(j.peer_median AS VARCHAR) AS peer_median,
       CAST(j.peer_high AS VARCHAR) AS peer_high,
       NOT (coalesce(j.counterparties <= {{burst_factor}} * j.own_rate, false)
            OR coalesce(j.counterparties <= j.own_rate + {{own_sigmas}} * sqrt(j.own_rate), false)
            OR coalesce(j.counterparties <= {{burst_factor}} * j.peer_median, false)
            OR coalesce(j.counterparties <= j.peer_high, false)) AS matched
FROM judged j JOIN sliced s ON s.hub = j.hub AND s.seq = j.anchor_seq
UNION ALL
-- clearing rows: the hub is paid by a recurring set (at least its threshold within the
-- lookback); each recurring transfer clears an open episode holding the payment it repeats
SELECT hub AS subject, ts AS anchor_ts, seq AS anchor_seq, segment, threshold,
       make_array(prev_id) AS tx_ids,
       ts AS first_ts,
       ts AS last_ts,
       amount_usd, n_recurring AS transfers, n_recurring AS senders, '' AS sender_list,
       CAST(amount_usd AS DECIMAL(38, 2)) AS largest_counterparty_usd,
       '' AS own_weekly_rate, '' AS peer_median, '' AS peer_high,
       false AS matched
FROM recurring
WHERE ts >= first_new_ts AND n_recurring >= threshold
