-- rule: 011_structuring_daily
-- version: 7
-- typology: T1
-- severity: high
-- episode_gap: 14d
-- lookback: {{lookback_days}}d
-- score: 0.7
-- description: Daily cash deposits into one account totalling just under the CTR threshold on several days within two weeks
-- param: ctr_threshold_usd = 10000
-- param: band_floor_usd = 9000
-- param: min_days = 3
-- param: lookback_days = 14
-- param: neighbour_factor = 2
-- param: min_day_share = 0.5
-- narrative: Account {subject} received daily cash totals of between USD {band_floor_usd} and USD {ctr_threshold_usd} on {band_days} of its {cash_days} days with cash ({days_list}), USD {amount_usd} in all, from {first_ts} to {last_ts}: each day's cash kept just under the Currency Transaction Report threshold, consistent with structuring.
--
-- A new cash deposit anchors a look at the account's daily cash totals over the lookback
-- up to it (the anchor's own day counted up to the anchor, ties by `seq`) when it can
-- change the verdict: its day's running total is now in the band, or it has just lifted
-- a day that was in the band above it. Anchors with at least one day in the band are
-- returned; `matched` says whether enough days are. A day lifted above the band clears
-- an open episode that counted it. Other deposits cannot change the verdict, so they
-- are not anchors (and a window that merely slid on clears nothing).
--
-- Bunching, not chance: a cash business's nightly takings fall in the band now and then
-- as they fall anywhere else. The days are compared with the days whose totals fall in
-- the days just below it ([2 x floor - CTR, floor): USD 8,000-9,000 by default) and the
-- days at or over the threshold: the pattern holds only when more than neighbour_factor
-- (2) times as many days sit in the band as in both together (a distribution whose peak
-- happens to sit near the threshold puts nearly as many days beside the band as in it). A structurer keeps every day under the threshold; a busy cash
-- business crosses it (and files its CTRs) as often as it lands just under. The neighbour days count in the details.
-- A day whose running total enters a neighbouring band also anchors, so a later day
-- re-judges the shape and clears a held episode that no longer bunches.
-- Most of its cash days, not a few of many: the days in the band are at least
-- min_day_share (half) of the account's days with cash in the lookback. A structurer's
-- cash days are the structuring; a restaurant depositing every night has a few nights
-- in the band among many elsewhere, however few land beside it in two weeks.
WITH touched AS (
    SELECT DISTINCT dst_account AS subject, date_trunc('day', ts) AS day
    FROM new_tx
    WHERE channel = 'cash_deposit' AND dst_account IS NOT NULL
),
running AS (
    -- the touched days' deposits with each day's running total, in time order
    SELECT w.dst_account AS subject, t.day, w.tx_id, w.ts, w.seq, w.amount_usd,
           sum(w.amount_usd) OVER (PARTITION BY w.dst_account, t.day ORDER BY w.ts, w.seq
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
    FROM window_tx w
    JOIN touched t ON w.dst_account = t.subject AND date_trunc('day', w.ts) = t.day
    WHERE w.channel = 'cash_deposit'
),
anchors AS (
    SELECT r.subject, r.day, r.ts AS anchor_ts, r.seq AS anchor_seq
    FROM running r
    WHERE r.seq IN (SELECT seq FROM new_tx WHERE channel = 'cash_deposit')
      AND ((r.running >= 2 * {{band_floor_usd}} - {{ctr_threshold_usd}} AND r.running < 2 * {{ctr_threshold_usd}} - {{band_floor_usd}})
           OR (r.running >= {{ctr_threshold_usd}}
               AND r.running - r.amount_usd >= {{band_floor_usd}} AND r.running - r.amount_usd < {{ctr_threshold_usd}}))
),
earlier_days AS (
    -- complete days before each anchor's day, within the lookback
    SELECT a.subject, a.anchor_ts, a.anchor_seq, date_trunc('day', w.ts) AS day,
           sum(w.amount_usd) AS total, array_agg(w.tx_id ORDER BY w.ts, w.seq) AS ids,
           min(w.ts) AS first_ts, max(w.ts) AS last_ts
    FROM window_tx w
    JOIN anchors a ON a.subject = w.dst_account
    WHERE w.channel = 'cash_deposit'
      AND w.ts < a.day
      AND w.ts >= a.day - INTERVAL '{{lookback_days}} days' + INTERVAL '1 day'
    GROUP BY a.subject, a.anchor_ts, a.anchor_seq, date_trunc('day', w.ts)
),
own_day AS (
    -- each anchor's own day up to the anchor
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.day,
           sum(r.amount_usd) AS total, array_agg(r.tx_id ORDER BY r.ts, r.seq) AS ids,
           min(r.ts) AS first_ts, max(r.ts) AS last_ts
    FROM anchors a
    JOIN running r ON r.subject = a.subject AND r.day = a.day
    WHERE r.ts < a.anchor_ts OR (r.ts = a.anchor_ts AND r.seq <= a.anchor_seq)
    GROUP BY a.subject, a.anchor_ts, a.anchor_seq, a.day
),
days AS (
    SELECT * FROM earlier_days
    UNION ALL
    SELECT * FROM own_day
),
judged AS (
    SELECT *,
           total >= {{band_floor_usd}} AND total < {{ctr_threshold_usd}} AS in_band,
           (total >= 2 * {{band_floor_usd}} - {{ctr_threshold_usd}} AND total < {{band_floor_usd}})
           OR total >= {{ctr_threshold_usd}} AS neighbour
    FROM days
)
SELECT subject, anchor_ts, anchor_seq,
       flatten(array_agg(ids ORDER BY day) FILTER (WHERE in_band)) AS tx_ids,
       min(first_ts) FILTER (WHERE in_band) AS first_ts,
       max(last_ts) FILTER (WHERE in_band) AS last_ts,
       sum(total) FILTER (WHERE in_band) AS amount_usd,
       count(*) FILTER (WHERE in_band) AS band_days,
       count(*) FILTER (WHERE neighbour) AS neighbour_days,
       count(*) AS cash_days,
       array_to_string(array_agg(CAST(CAST(day AS DATE) AS VARCHAR) ORDER BY day) FILTER (WHERE in_band), ', ') AS days_list,
       count(*) FILTER (WHERE in_band) >= {{min_days}}
       AND count(*) FILTER (WHERE in_band) > {{neighbour_factor}} * count(*) FILTER (WHERE neighbour)
       AND count(*) FILTER (WHERE in_band) >= {{min_day_share}} * count(*) AS matched
FROM judged
GROUP BY subject, anchor_ts, anchor_seq
HAVING count(*) FILTER (WHERE in_band) >= 1
