-- rule: 011_structuring_daily
-- version: 1
-- typology: T1
-- severity: high
-- episode_gap: 14d
-- score: 0.7
-- description: Daily cash deposits into one account totalling just under the CTR threshold on several days within two weeks
-- param: ctr_threshold_usd = 10000
-- param: band_floor_usd = 9000
-- param: min_days = 3
-- param: lookback_days = 14
-- narrative: Account {subject} received daily cash totals of between USD {band_floor_usd} and USD {ctr_threshold_usd} on {band_days} days ({days_list}), USD {amount_usd} in all, from {first_ts} to {last_ts}: each day's cash kept just under the Currency Transaction Report threshold, consistent with structuring.
--
-- Each new cash deposit anchors a look at the account's daily cash totals over the
-- lookback up to it (the anchor's own day counted up to the anchor, ties by `seq`).
-- Anchors with at least one day in the band are returned; `matched` says whether
-- enough days are. A day whose total later rises above the band clears an open
-- episode that counted it.
WITH anchors AS (
    SELECT dst_account AS subject, ts AS anchor_ts, seq AS anchor_seq
    FROM new_tx
    WHERE channel = 'cash_deposit' AND dst_account IS NOT NULL
),
deposits AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, w.tx_id, w.ts, w.seq, w.amount_usd,
           date_trunc('day', w.ts) AS day
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE w.channel = 'cash_deposit'
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts >= date_trunc('day', a.anchor_ts) - INTERVAL '{{lookback_days}} days' + INTERVAL '1 day'
),
days AS (
    SELECT subject, anchor_ts, anchor_seq, day,
           sum(amount_usd) AS total,
           array_agg(tx_id ORDER BY ts, seq) AS ids,
           min(ts) AS first_ts, max(ts) AS last_ts
    FROM deposits
    GROUP BY subject, anchor_ts, anchor_seq, day
)
SELECT subject, anchor_ts, anchor_seq,
       flatten(array_agg(ids ORDER BY day)) AS tx_ids,
       min(first_ts) AS first_ts,
       max(last_ts) AS last_ts,
       sum(total) AS amount_usd,
       count(*) AS band_days,
       array_to_string(array_agg(CAST(CAST(day AS DATE) AS VARCHAR) ORDER BY day), ', ') AS days_list,
       count(*) >= {{min_days}} AS matched
FROM days
WHERE total >= {{band_floor_usd}} AND total < {{ctr_threshold_usd}}
GROUP BY subject, anchor_ts, anchor_seq
