-- rule: 010_structuring
-- version: 6
-- typology: T1
-- severity: high
-- episode_gap: {{hold_days}}d
-- lookback: {{history_days}}d
-- score: 0.7
-- description: Two or more cash deposits just under the CTR threshold into one account within a few days
-- param: ctr_threshold_usd = 10000
-- param: band_floor_usd = 8000
-- param: min_deposits = 2
-- param: lookback_hours = 72
-- param: history_days = 30
-- param: hold_days = 14
-- param: min_peer_deposits = 200
-- param: peer_sigmas = 3
-- param: neighbour_factor = 2
-- narrative: Account {subject} received {deposits} cash deposits of between USD {band_floor_usd} and USD {ctr_threshold_usd} each, USD {amount_usd} in all, from {first_ts} to {last_ts}: deposits kept just under the Currency Transaction Report threshold, consistent with structuring.
--
-- For every new cash deposit in the band, the deposits in the band into the same account
-- in the lookback up to it (itself included, ties in time by arrival order `seq`): one
-- match per anchoring deposit, so the result never depends on how rows were batched.
--
-- Bunching, not chance, against the peer group first: the accounts of the same KYC kind
-- (businesses, people; null where there is no KYC) put a share p of their cash deposits
-- in the band over the history_days before the anchor's day (complete days). With at
-- least min_peer_deposits deposits behind p, an account whose n deposits in the history
-- hold k in the band bunches only when k >= n p + peer_sigmas sqrt(n p (1 - p)) + 0.5
-- (a binomial tail, with half a deposit for continuity): a restaurant
-- whose big nights land in the band as often as its peers' do is ordinary, a nominee
-- whose every deposit is in the band is not. The neighbour bands below must agree (and
-- decide alone with fewer peer deposits): a big restaurant's band nights come with as
-- many nights beside the band.
-- Bunching against the account's own spread (without enough peer deposits): a cash
-- business's nightly takings fall between 8,000 and 10,000 now and then, as they fall
-- anywhere else. Over the account's cash deposits in the
-- history_days up to the anchor, the deposits in the band are compared with those in
-- the band of the same width below it ([2 x floor - CTR, floor): USD 6,000-8,000 by
-- default) and every deposit at or over the CTR threshold. The pattern holds only when
-- more than neighbour_factor (2) times as many deposits sit in the band as in both
-- neighbours together (a restaurant whose takings peak near 9,000 puts nearly as many
-- beside the band as in it): a structurer keeps
-- under the threshold and seldom lands above it or well below the band; a restaurant's
-- takings thin out smoothly across 10,000, and an account that deposits 15,000 one night
-- and files the report is not avoiding it. Both counts go to
-- the details. A ledger's first days show no history: an episode is held hold_days
-- before it is alerted, and every later cash deposit in the band or a neighbouring band
-- re-judges the shape; where it no longer bunches, a clearing row (`matched` false)
-- carrying the account's band deposits drops the held episode (the restaurant whose
-- first two nights happened to land in the band). A structurer's deposits never stop
-- bunching, so its episode is alerted when the hold has passed.
WITH anchors AS (
    SELECT dst_account AS subject, ts AS anchor_ts, seq AS anchor_seq, dst_kind AS kind,
           amount_usd >= {{band_floor_usd}} AND amount_usd < {{ctr_threshold_usd}} AS in_band
    FROM new_tx
    WHERE channel = 'cash_deposit'
      AND dst_account IS NOT NULL
      AND amount_usd >= 2 * {{band_floor_usd}} - {{ctr_threshold_usd}}
),
deposits AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, w.tx_id, w.ts, w.seq, w.amount_usd
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE a.in_band
      AND w.channel = 'cash_deposit'
      AND w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_hours}} hours'
),
shape AS (
    -- the account's cash deposits over the history, up to the anchor
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.kind, count(*) AS deposits_history,
           count(*) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band_deposits_history,
           count(*) FILTER (WHERE (w.amount_usd >= 2 * {{band_floor_usd}} - {{ctr_threshold_usd}} AND w.amount_usd < {{band_floor_usd}})
                             OR w.amount_usd >= {{ctr_threshold_usd}}) AS neighbour_deposits_history,
           array_agg(w.tx_id ORDER BY w.ts, w.seq) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band_ids,
           sum(w.amount_usd) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band_usd,
           min(w.ts) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band_first_ts
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    WHERE w.channel = 'cash_deposit'
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{history_days}} days'
    GROUP BY a.subject, a.anchor_ts, a.anchor_seq, a.kind
),
peer_days AS (
    SELECT DISTINCT kind, date_trunc('day', anchor_ts) AS day FROM anchors
),
cash_daily AS (
    -- the anchors' kinds' cash deposits per day over the history
    SELECT w.dst_kind AS kind, date_trunc('day', w.ts) AS day, count(*) AS deposits,
           count(*) FILTER (WHERE w.amount_usd >= {{band_floor_usd}} AND w.amount_usd < {{ctr_threshold_usd}}) AS band
    FROM window_tx w
    JOIN (SELECT DISTINCT kind FROM peer_days) k ON (w.dst_kind IS NOT DISTINCT FROM k.kind)
    WHERE w.channel = 'cash_deposit' AND w.dst_account IS NOT NULL
    GROUP BY w.dst_kind, date_trunc('day', w.ts)
),
peer_shape AS (
    SELECT p.kind, p.day, sum(c.deposits) AS peer_deposits, sum(c.band) AS peer_band
    FROM peer_days p
    JOIN cash_daily c ON (c.kind IS NOT DISTINCT FROM p.kind)
    WHERE c.day < p.day AND c.day >= p.day - INTERVAL '{{history_days}} days'
    GROUP BY p.kind, p.day
),
judged AS (
    SELECT s.*,
           CASE WHEN ps.peer_deposits >= {{min_peer_deposits}}
                THEN CAST(ps.peer_band AS DOUBLE) / CAST(ps.peer_deposits AS DOUBLE) END AS peer_band_share
    FROM shape s
    LEFT JOIN peer_shape ps ON (ps.kind IS NOT DISTINCT FROM s.kind) AND ps.day = date_trunc('day', s.anchor_ts)
),
verdict AS (
    SELECT *,
           band_deposits_history > {{neighbour_factor}} * neighbour_deposits_history
           AND coalesce(band_deposits_history >= deposits_history * peer_band_share
                                                 + {{peer_sigmas}} * sqrt(deposits_history * peer_band_share * (1 - peer_band_share))
                                                 + 0.5,
                        true) AS bunching
    FROM judged
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
SELECT m.subject, m.anchor_ts, m.anchor_seq, m.tx_ids, m.first_ts, m.last_ts, m.amount_usd, m.deposits,
       s.band_deposits_history, s.neighbour_deposits_history, s.deposits_history,
       CAST(round(s.peer_band_share, 4) AS VARCHAR) AS peer_band_share, true AS matched
FROM matches m
JOIN verdict s ON s.subject = m.subject AND s.anchor_ts = m.anchor_ts AND s.anchor_seq = m.anchor_seq
WHERE s.bunching
UNION ALL
-- clearing rows: the shape no longer bunches; the band deposits are the evidence a held
-- episode shares
SELECT subject, anchor_ts, anchor_seq, band_ids AS tx_ids, band_first_ts AS first_ts, anchor_ts AS last_ts,
       band_usd AS amount_usd, band_deposits_history AS deposits,
       band_deposits_history, neighbour_deposits_history, deposits_history,
       CAST(round(peer_band_share, 4) AS VARCHAR) AS peer_band_share, false AS matched
FROM verdict
WHERE band_deposits_history >= 1 AND NOT bunching
