-- rule: 010_structuring
-- version: 2
-- typology: T1
-- severity: high
-- episode_gap: 72h
-- lookback: {{history_days}}d
-- score: 0.7
-- description: Two or more cash deposits just under the CTR threshold into one account within a few days
-- param: ctr_threshold_usd = 10000
-- param: band_floor_usd = 8000
-- param: min_deposits = 2
-- param: lookback_hours = 72
-- param: history_days = 30
-- narrative: Account {subject} received {deposits} cash deposits of between USD {band_floor_usd} and USD {ctr_threshold_usd} each, USD {amount_usd} in all, from {first_ts} to {last_ts}: deposits kept just under the Currency Transaction Report threshold, consistent with structuring.
--
-- For every new cash deposit in the band, the deposits in the band into the same account
-- in the lookback up to it (itself included, ties in time by arrival order `seq`): one
-- match per anchoring deposit, so the result never depends on how rows were batched.
--
-- Bunching, not chance: a cash business's nightly takings fall between 8,000 and 10,000
-- now and then, as they fall anywhere else. Over the account's cash deposits in the
-- history_days up to the anchor, the deposits in the band are compared with those in
-- the bands of the same width either side of it ([2 x floor - CTR, floor) and
-- [CTR, 2 x CTR - floor): USD 6,000-8,000 and 10,000-12,000 by default). The pattern
-- holds only when more deposits sit in the band than in both neighbours together: a
-- structurer keeps under the threshold and seldom lands just above it or well below
-- the band; a restaurant's takings thin out smoothly across 10,000. Both counts go to
-- the details.
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
),
shape AS (
    -- the account's cash deposits over the history, up to the anchor
    SELECT a.subject, a.anchor_ts, a.anchor_seq,
           count(*) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band_deposits_history,
           count(*) FILTER (WHERE (w.amount_usd >= 2 * {{band_floor_usd}} - {{ctr_threshold_usd}} AND w.amount_usd < {{band_floor_usd}})
                             OR (w.amount_usd >= {{ctr_threshold_usd}} AND w.amount_usd < 2 * {{ctr_threshold_usd}} - {{band_floor_usd}})) AS neighbour_deposits_history
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE w.channel = 'cash_deposit'
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{history_days}} days'
    GROUP BY a.subject, a.anchor_ts, a.anchor_seq
),
matches AS (
    SELECT subject, anchor_ts, anchor_seq,
           array_agg(tx_id ORDER BY ts, seq) AS tx_ids,
           min(ts) AS first_ts,
           max(ts) AS last_ts,
           sum(amount_usd) AS amount_usd,
           count(*) AS deposits
    FROM deposits
    GROUP BY subject, anchor_ts, anchor_seq
    HAVING count(*) >= {{min_deposits}}
)
SELECT m.subject, m.tx_ids, m.first_ts, m.last_ts, m.amount_usd, m.deposits,
       s.band_deposits_history, s.neighbour_deposits_history
FROM matches m
JOIN shape s ON s.subject = m.subject AND s.anchor_ts = m.anchor_ts AND s.anchor_seq = m.anchor_seq
WHERE s.band_deposits_history > s.neighbour_deposits_history
