-- rule: 080_fan_in
-- version: 6
-- typology: T8
-- severity: medium
-- episode_gap: {{hold_days}}d
-- lookback: {{history_days}}d
-- score: 0.55
-- needs: kyc (kind)
-- description: Money gathered from more individuals than the account's segment allows (4 for people, 5 for businesses) within a week, from payers who had not been paying it on a cadence (rent, dues and regular customers recur; a collection from fresh people does not)
-- param: lookback_days = 7
-- param: min_counterparties = 4
-- param: min_counterparties_business = 5
-- param: min_amount_usd = 250
-- param: min_spread_usd = 2000
-- param: channels = 'p2p,ach,wire,internal,check'
-- param: hub_countries = 'US'
-- param: counterparty_kinds = 'personal'
-- param: exempt_kinds = 'msb,exchange'
-- param: history_days = 35
-- param: min_cadence_days = 5
-- param: recurrence_amount_ratio = 3
-- param: hold_days = 35
-- param: burst_factor = 2
-- param: own_sigmas = 3
-- param: min_fan_share = 0.25
-- param: income_cover = 1
-- param: min_peers = 10
-- param: peer_quantile = 0.9
-- param: max_legs = 64
-- narrative: Account {subject} ({segment} account) received USD {amount_usd} in {transfers} transfers from {counterparties} different individuals ({counterparty_list}) between {first_ts} and {last_ts}, at or above its segment's threshold of {threshold} counterparties within {lookback_days} days: money gathered from many people into one account, a fan-in typical of collection and money-mule accounts.
--
-- Calibration (T8 is "> 3 counterparties, calibrate per segment"); the mirror image of
-- 081_fan_out. Behaviour decides, never a memo or an industry label:
-- - Counterparties are individuals (KYC kind in counterparty_kinds, or not in the
--   accounts table): businesses paying a business is trade, and a person's bills and
--   rent go to businesses.
-- - Thresholds per segment of the receiving account: min_counterparties (the domain's
--   "more than 3") for people and unknown accounts, min_counterparties_business for
--   businesses, which deal with more parties by nature.
-- - Money-services businesses and exchanges (exempt_kinds, a KYC fact a bank holds)
--   are paid by the public by design and are not judged. Only accounts in hub_countries are
--   judged (domestic P2P in China runs at several transfers a week per person and needs
--   its own calibration); accounts missing from KYC are judged.
-- - Recurrence: a transfer from a payer who already paid the hub at least min_cadence_days
--   before (within history_days, the amount within a factor recurrence_amount_ratio of
--   the earlier one) is a recurring payment -- rent from tenants, dues, regular
--   customers, a family's allowance -- and does not count towards a fan. A landlord's first rent day in a ledger
--   has no history yet: its fan is held (episode_gap = hold_days, longer than a
--   monthly cadence) and the next round clears it -- when the hub receives at
--   least its segment's threshold of recurring transfers within lookback_days, each such
--   transfer returns a clearing row (`matched` false) whose evidence is the earlier
--   payment it repeats, so an open episode holding that payment is dropped unalerted.
--   A collection from fresh people that is not repeated is alerted when the hold has passed.
--   Cost of the hold: a fan-in is alerted hold_days after its last transfer.
-- - Baselines: a fan is judged against what is ordinary for the hub. It is typical, and
--   returns a clearing row instead of a match, when its counterparties are at most
--   burst_factor times
--   - the hub's own rate of fresh counterparties before the lookback (over the history,
--     once at least lookback_days of it are seen): a business that has always been paid by
--     many new people (a shop, a landlord with turnover) is not bursting;
--     nor is one whose week holds no more than chance gives at that rate (own_sigmas
--     standard deviations of a Poisson count: a shop paid by 5 new people a week sees
--     10 now and then); or
--   - its peer group in the lookback_days before the anchor's day (complete days, so
--     batching does not matter): burst_factor times the peers' median, or at most the
--     peers' peer_quantile (0.9: as wide as the widest tenth of its peers); the peers
--     are the accounts of the same KYC kind and industry when at least min_peers of
--     them are active, else those of the same kind (industries come in many
--     vocabularies; a bank's employers all run payroll). A peer group is a baseline, not an exemption:
--     a hub collecting from several times as many people as its peers is still judged.
--   A held episode shares its evidence with the typical anchors that follow it and is
--   cleared by them; a sudden fan from a quiet account is not typical of anything.
-- - Materiality: a fan that brings less than min_fan_share of everything the hub took in
--   over the fan's span, first leg to anchor (every channel: card takings, invoices, transfers) is a sideline of
--   a busy account -- a shop some customers pay by transfer -- and typical; a collection
--   account lives on its fan.
-- - Within its means: a person whose week of money from others totals no more than
--   income_cover times the monthly income their KYC declares is living an ordinary life
--   of shared bills and paid-back dinners; a collection account gathers far beyond what
--   its holder earns.
-- - min_amount_usd: smaller transfers (splitting a dinner, a gift) do not count.
-- - min_spread_usd: what the counterparties other than the largest one paid in all.
--   A fan is many people each moving real money; everyday P2P (friends paying back a
--   few hundred dollars each) stays under it, and so does one large payment plus small change.
-- Each new counted transfer anchors a match: the counted transfers into the same hub
-- in the lookback (anchor - lookback_days, anchor], ties in time by `seq`.
--
-- How it stays cheap (`accounts` is not read: the KYC attributes of both parties are
-- columns of the rows):
-- 1. candidates: the hubs an individual paid at least min_amount_usd in this batch,
--    outside the exempt segments (the batch alone);
-- 2. legs: the hubs' transfers from individuals over the history read (the candidates
--    are the hash table, the window only probes it);
-- 3. gate: per hub, at least as many transfers as its segment's threshold and at least
--    min_spread_usd besides the largest single transfer (necessary for any anchor and
--    for any clearing row); most hubs stop here;
-- 4. recurrence: each gated leg against the payer's previous transfer to the hub
--    (lag over (hub, payer) in time order);
-- 5. per anchor, over the hub's fresh (non-recurring) legs in (ts, seq) order: the legs
--    up to the anchor, minus those lookback_days or more older than it, at most the
--    anchor and the max_legs legs before it, totalled per counterparty. The cap bounds
--    the work and memory to (new legs x max_legs) however many legs a hub has: a hub
--    flooded with transfers is judged on its most recent ones at each anchor, and an
--    episode still gathers every anchor's evidence
--    (parallel lists, no structs: DataFusion 55 may group a struct field access by the
--    whole struct);
-- 6. the hub's segment (its KYC kind, on the batch's rows) picks its threshold. Without
--    an accounts table that gives kinds (AMLworld's and AMLSim's layouts) the thresholds
--    cannot be calibrated per segment and the rule steps aside (`needs: kyc`), saying so
--    in summary.json: on such exports it raised 501 alerts at 3% precision (gen seed 101,
--    AMLworld layout), every payroll, shop and landlord an unknown account.
WITH candidates AS (
    SELECT dst_account AS hub,
           min(ts) AS first_new_ts,
           coalesce(max(dst_kind), 'unknown') AS segment,
           max(dst_kind) AS kind, max(dst_industry) AS industry,
           CASE WHEN max(dst_kind) = 'business' THEN {{min_counterparties_business}} ELSE {{min_counterparties}} END AS threshold
    FROM new_tx
    WHERE amount_usd >= {{min_amount_usd}}
      AND src_account IS NOT NULL AND dst_account IS NOT NULL AND src_account <> dst_account
      AND array_has(string_to_array('{{channels}}', ','), channel)
      AND (src_kind IS NULL OR array_has(string_to_array('{{counterparty_kinds}}', ','), src_kind))
      AND (dst_country IS NULL OR array_has(string_to_array('{{hub_countries}}', ','), dst_country))
      AND NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(dst_kind, ''))
    GROUP BY dst_account
),
legs AS (
    SELECT c.hub, c.segment, c.kind, c.industry, c.threshold, c.first_new_ts, w.src_account AS cp, w.tx_id, w.ts, w.seq, w.amount_usd, w.channel
    FROM candidates c
    JOIN window_tx w ON w.dst_account = c.hub AND w.src_account <> c.hub
    WHERE w.amount_usd >= {{min_amount_usd}} AND w.src_account IS NOT NULL
      AND (w.src_kind IS NULL OR array_has(string_to_array('{{counterparty_kinds}}', ','), w.src_kind))
),
gate AS (
    SELECT hub FROM legs
    GROUP BY hub, threshold
    HAVING count(*) >= threshold AND sum(amount_usd) - max(amount_usd) >= {{min_spread_usd}}
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
    HAVING count(*) >= threshold AND sum(cp_usd) - max(cp_usd) >= {{min_spread_usd}}
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
      AND w.amount_usd >= {{min_amount_usd}} AND w.src_account IS NOT NULL AND w.dst_account IS NOT NULL
      AND w.src_account <> w.dst_account
      AND array_has(string_to_array('{{channels}}', ','), w.channel)
      AND (w.src_kind IS NULL OR array_has(string_to_array('{{counterparty_kinds}}', ','), w.src_kind))
      AND (w.dst_country IS NULL OR array_has(string_to_array('{{hub_countries}}', ','), w.dst_country))
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
credits AS (
    -- every credit of the fans' hubs (every channel: card takings too) with running
    -- totals in (ts, seq) order: up to and including the row, and before its time
    SELECT w.dst_account AS hub, w.ts, w.seq,
           sum(w.amount_usd) OVER (PARTITION BY w.dst_account ORDER BY w.ts, w.seq
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto_usd,
           coalesce(sum(w.amount_usd) OVER (PARTITION BY w.dst_account ORDER BY w.ts
                                            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 0)
             - coalesce(sum(w.amount_usd) OVER (PARTITION BY w.dst_account, w.ts), 0) AS before_usd
    FROM window_tx w
    JOIN (SELECT DISTINCT hub FROM fans) h ON w.dst_account = h.hub
),
inflow AS (
    -- everything the hub took in over the fan's own span (its first leg to the anchor):
    -- the running total at the anchor less the total before the first leg's time, so a
    -- hub's many anchors cost its credits once, not once each
    SELECT f.hub, f.anchor_seq, a.upto_usd - b.before_usd AS inflow_usd
    FROM fans f
    JOIN sliced s ON s.hub = f.hub AND s.seq = f.anchor_seq
    JOIN credits a ON a.hub = f.hub AND a.seq = f.anchor_seq
    JOIN (SELECT DISTINCT hub, ts, before_usd FROM credits) b
      ON b.hub = f.hub AND b.ts = array_element(s.times, s.first_i)
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
       j.amount_usd, j.transfers, j.counterparties, j.counterparty_list, j.largest_counterparty_usd,
       CAST(round(j.own_rate, 1) AS VARCHAR) AS own_weekly_rate, CAST(j.peer_median AS VARCHAR) AS peer_median,
       CAST(j.peer_high AS VARCHAR) AS peer_high,
       CAST(round(CAST(j.amount_usd AS DOUBLE) / CAST(i.inflow_usd AS DOUBLE), 3) AS VARCHAR) AS fan_share_of_inflow,
       CAST(a.monthly_income_usd AS VARCHAR) AS declared_monthly_income_usd,
       NOT (coalesce(j.counterparties <= {{burst_factor}} * j.own_rate, false)
            OR coalesce(j.segment = 'personal' AND j.amount_usd <= {{income_cover}} * a.monthly_income_usd, false)
            OR coalesce(CAST(j.amount_usd AS DOUBLE) < {{min_fan_share}} * CAST(i.inflow_usd AS DOUBLE), false)
            OR coalesce(j.counterparties <= j.own_rate + {{own_sigmas}} * sqrt(j.own_rate), false)
            OR coalesce(j.counterparties <= {{burst_factor}} * j.peer_median, false)
            OR coalesce(j.counterparties <= j.peer_high, false)) AS matched
FROM judged j JOIN sliced s ON s.hub = j.hub AND s.seq = j.anchor_seq
LEFT JOIN inflow i ON i.hub = j.hub AND i.anchor_seq = j.anchor_seq
LEFT JOIN accounts a ON a.account_id = j.hub
UNION ALL
-- clearing rows: the hub is paid by a recurring set (at least its threshold within the
-- lookback); each recurring transfer clears an open episode holding the payment it repeats
SELECT hub AS subject, ts AS anchor_ts, seq AS anchor_seq, segment, threshold,
       make_array(prev_id) AS tx_ids,
       ts AS first_ts,
       ts AS last_ts,
       amount_usd, n_recurring AS transfers, n_recurring AS counterparties, '' AS counterparty_list,
       CAST(amount_usd AS DECIMAL(38, 2)) AS largest_counterparty_usd,
       '' AS own_weekly_rate, '' AS peer_median, '' AS peer_high, '' AS fan_share_of_inflow,
       '' AS declared_monthly_income_usd,
       false AS matched
FROM recurring
WHERE ts >= first_new_ts AND n_recurring >= threshold
