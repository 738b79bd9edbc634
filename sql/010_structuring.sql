-- rule: 010_structuring
-- version: 1
-- typology: T1
-- severity: high
-- episode_gap: 72h
-- lookback: {{lookback_hours}}h
-- score: 0.7
-- description: Two or more cash deposits just under the CTR threshold into one account within a few days
-- param: ctr_threshold_usd = 10000
-- param: band_floor_usd = 8000
-- param: min_deposits = 2
-- param: lookback_hours = 72
-- narrative: Account {subject} received {deposits} cash deposits of between USD {band_floor_usd} and USD {ctr_threshold_usd} each, USD {amount_usd} in all, from {first_ts} to {last_ts}: deposits kept just under the Currency Transaction Report threshold, consistent with structuring.
--
-- For every new cash deposit in the band, the deposits in the band into the same account
-- in the lookback up to it (itself included, ties in time by arrival order `seq`): one
-- match per anchoring deposit, so the result never depends on how rows were batched.
WITH anchors AS (
    SELECT dst_account AS subject, ts AS anchor_ts, seq AS anchor_seq
    FROM new_tx
    WHERE channel = 'cash_deposit'
      AND dst_account IS NOT NULL
      AND amount_usd >= {{band_floor_usd}} AND amount_usd < {{ctr_threshold_usd}}
),
deposits AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, w.tx_id, w.ts, w.seq, w.amount_usd
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE w.channel = 'cash_deposit'
      AND w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_hours}} hours'
)
SELECT subject,
       array_agg(tx_id ORDER BY ts, seq) AS tx_ids,
       min(ts) AS first_ts,
       max(ts) AS last_ts,
       sum(amount_usd) AS amount_usd,
       count(*) AS deposits
FROM deposits
GROUP BY subject, anchor_ts, anchor_seq
HAVING count(*) >= {{min_deposits}}
