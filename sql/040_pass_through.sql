-- rule: 040_pass_through
-- version: 6
-- typology: T4
-- severity: medium
-- episode_gap: {{hold_days}}d
-- lookback: {{history_days}}d
-- score: 0.55
-- needs: kyc (kind)
-- description: A few large credits that leave a personal, wallet or service-business account about as fast and as much as they came in (out within 10% of in, within 72 hours, first outflow within 48 hours), outside money-services businesses and payments to businesses the public pays (a school, a landlord)
-- param: max_hours = 72
-- param: max_dwell_hours = 48
-- param: tolerance = 0.10
-- param: min_amount_usd = 5000
-- param: max_inflows = 3
-- param: min_outflow_usd = 500
-- param: exempt_kinds = 'msb,exchange'
-- param: history_days = 35
-- param: public_payee_min_payers = 10
-- param: min_cadence_days = 5
-- param: hold_days = 35
-- param: max_outflows = 64
-- narrative: Account {subject} received USD {inflow_usd} and sent out USD {outflow_usd} ({out_in_ratio} of it) between {first_ts} and {last_ts}, the first outflow {dwell_hours} hours after the money arrived: the account served as a pass-through.
--
-- Payments to a business the public pays are spending, not passing money on: a payee
-- (KYC kind business, or not in KYC) that at least public_payee_min_payers different
-- accounts paid in the history_days before the anchor's day (complete days, so batching
-- does not matter) -- a school taking tuition, a landlord, a shop -- neither anchors nor
-- counts as an outflow. A student paying on the tuition the family sent is judged by
-- what the school is, not by its industry label; a mule's next hop is a fresh account.
-- Payments to a payee the account already paid (min_outflow_usd or more) in the
-- history_days before the money came in are its established dealings (a supplier, a
-- landlord, a card bill), not passing the money on: a mule's next hop is fresh.
-- A ledger's first weeks show no history, so a pass-through is held hold_days before it
-- is alerted: when the account pays the same payee again at least min_cadence_days
-- later, the relationship is established after all (an importer's supplier, a rent),
-- and a clearing row (`matched` false) carrying the earlier payments to that payee
-- drops the held episode they were evidence of; so does the payment at which a payee
-- becomes one the public pays (public_payee_min_payers payers counted up to it, on the
-- day it crosses): the earlier payments to it within the hold were spending -- the
-- tuition paid in a term's first days, before the school's other payers were seen.
-- Cost of the hold: a pass-through is
-- alerted hold_days after its last transfer.
-- Businesses are judged like everyone else: one whose trade is to take many receipts and
-- pay suppliers shows more than max_inflows credits, and its suppliers are businesses
-- the public pays; a business that takes one large credit and sends it straight on to
-- people and fresh counterparties is a pass-through whatever its industry is called.
-- min_outflow_usd: outflows smaller than this (card spending, small bills) neither
-- anchor nor count as passing the money on.
-- max_inflows: a pass-through moves one or a few large credits; an account gathering
-- many small receipts and paying them on (a shop, a marketplace seller) is not one.
-- Each new outflow anchors a match: the inflows in the max_hours before it and the
-- outflows since the first of those inflows, up to the anchor (ties by `seq`).
-- max_outflows: a pass-through passes a few credits on in a few payments; an account
-- making more than this many payments of min_outflow_usd or more within max_hours before
-- an outflow (a payer of wages or suppliers) is not judged at that outflow.
-- Gates, cheapest first, so a flooded account costs its rows and not their square:
-- 1. only accounts that took at least min_amount_usd in the part of the window this batch
--    can look back over are examined (a necessary condition);
-- 2. per anchor, the account's credits and qualifying payments in the max_hours up to it
--    are counted by a window over its own rows (the whole seconds at both ends: a
--    credit in the same second as the anchor counts even if it came later in `seq`);
--    only anchors with 1 to max_inflows credits and at most max_outflows payments go on
--    to the per-anchor joins, whose sizes those counts then bound;
-- 3. whether a payee is one the public pays is settled first from its payers in the last
--    max_hours - 24 hours before the day (that many there is enough), and only the
--    payees that leaves open are counted over history_days: a utility or a school paid
--    by thousands costs its last days' rows per batch, not five weeks of them.
WITH recent AS (
    -- the part of the window the flows are judged over (the history beyond it only
    -- tells which payees the public pays)
    SELECT w.* FROM window_tx w
    CROSS JOIN (SELECT min(ts) - INTERVAL '{{max_hours}} hours' AS since FROM new_tx) b
    WHERE w.ts >= b.since
),
gate AS (
    SELECT dst_account AS subject
    FROM recent
    WHERE dst_account IS NOT NULL AND (src_account IS NULL OR src_account <> dst_account)
    GROUP BY dst_account
    HAVING sum(amount_usd) >= {{min_amount_usd}}
),
outflows AS (
    -- the batch's outflows that can anchor, before the payee is judged
    SELECT n.src_account AS subject, n.dst_account AS payee, n.ts AS anchor_ts, n.seq AS anchor_seq,
           date_trunc('day', n.ts) AS day
    FROM new_tx n
    JOIN gate g ON n.src_account = g.subject
    WHERE (n.dst_account IS NULL OR n.dst_account <> n.src_account)
      AND n.amount_usd >= {{min_outflow_usd}}
      AND NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(n.src_kind, ''))
),
payee_days AS (
    -- the business payees of the anchoring subjects' outflows in the lookback, per
    -- anchor day (every subject's, so whether an earlier payment is spending never
    -- depends on what else the batch holds)
    SELECT DISTINCT w.dst_account AS payee, c.day
    FROM recent w
    JOIN (SELECT DISTINCT subject, day FROM outflows) c ON w.src_account = c.subject
    WHERE w.dst_account IS NOT NULL AND w.amount_usd >= {{min_outflow_usd}}
      AND (w.dst_kind IS NULL OR w.dst_kind = 'business')
      AND w.ts > c.day - INTERVAL '{{max_hours}} hours'
),
batch_days AS (
    -- the days this batch pays each business (or unknown) payee at least min_outflow_usd,
    -- and whether one of those payments is from another account
    SELECT dst_account AS payee, date_trunc('day', ts) AS day,
           bool_or(src_account IS NULL OR src_account <> dst_account) AS other_payer
    FROM new_tx
    WHERE dst_account IS NOT NULL AND amount_usd >= {{min_outflow_usd}}
      AND (dst_kind IS NULL OR dst_kind = 'business')
    GROUP BY dst_account, date_trunc('day', ts)
),
asked AS (
    -- the (payee, day) pairs whose payers are counted: the subjects' business payees
    -- and the batch's
    SELECT payee, day FROM payee_days
    UNION
    SELECT payee, day FROM batch_days
),
busy_days AS (
    -- a payee that public_payee_min_payers different accounts paid in the last
    -- max_hours - 24 hours before the day (rows `recent` holds) is one the public pays
    -- already: a sufficient test, so the busiest payees (a utility, a school) cost their
    -- last days' rows per batch, not history_days of them
    SELECT a.payee, a.day
    FROM asked a
    JOIN recent w ON w.dst_account = a.payee
    WHERE w.src_account IS NOT NULL AND w.ts < a.day
      AND w.ts >= a.day - INTERVAL '{{max_hours}} hours' + INTERVAL '1 day'
      AND w.ts >= a.day - INTERVAL '{{history_days}} days'
    GROUP BY a.payee, a.day
    HAVING count(DISTINCT w.src_account) >= {{public_payee_min_payers}}
),
public_days AS (
    -- the pairs asked about on which the payee is one the public pays:
    -- public_payee_min_payers different payers in the history_days before the day
    -- (complete days, so batching does not matter); only the payees busy_days did not
    -- settle are counted over the whole history
    SELECT payee, day FROM busy_days
    UNION ALL
    SELECT a.payee, a.day
    FROM asked a
    LEFT JOIN busy_days b ON b.payee = a.payee AND b.day = a.day
    JOIN window_tx w ON w.dst_account = a.payee
    WHERE b.payee IS NULL AND w.src_account IS NOT NULL
      AND w.ts < a.day AND w.ts >= a.day - INTERVAL '{{history_days}} days'
    GROUP BY a.payee, a.day
    HAVING count(DISTINCT w.src_account) >= {{public_payee_min_payers}}
),
open_days AS (
    -- the batch's payee days on which the payee was not yet one the public pays when the
    -- day began
    SELECT d.payee, d.day, d.other_payer
    FROM batch_days d
    LEFT JOIN public_days p ON p.payee = d.payee AND p.day = d.day
    WHERE p.payee IS NULL
),
batch_payees AS (
    -- only the payees paid by another account on such a day can become one the public pays
    SELECT DISTINCT payee FROM open_days WHERE other_payer
),
first_payments AS (
    -- each payer's first payment to such a payee from history_days before the day up to
    -- the day's end, in (ts, seq) order
    SELECT payee, day, ts, seq,
           row_number() OVER (PARTITION BY payee, day ORDER BY ts, seq) AS nth_payer
    FROM (SELECT b.payee, b.day, w.ts, w.seq,
                 row_number() OVER (PARTITION BY b.payee, b.day, w.src_account ORDER BY w.ts, w.seq) AS nth
          FROM open_days b
          JOIN batch_payees bp ON bp.payee = b.payee
          JOIN window_tx w ON w.dst_account = b.payee AND w.src_account IS NOT NULL
          WHERE w.ts >= b.day - INTERVAL '{{history_days}} days' AND w.ts < b.day + INTERVAL '1 day') p
    WHERE nth = 1
),
crossings AS (
    -- a payment at or after which, on its day, the payee is one the public pays (counting
    -- payers up to it), though it was not when the day began: the day's payments from
    -- the one that brings the public_payee_min_payers-th payer on
    SELECT n.dst_account AS payee, n.ts, n.seq
    FROM new_tx n
    JOIN first_payments f ON f.payee = n.dst_account AND f.day = date_trunc('day', n.ts)
         AND f.nth_payer = {{public_payee_min_payers}}
    WHERE n.amount_usd >= {{min_outflow_usd}}
      AND (n.dst_kind IS NULL OR n.dst_kind = 'business')
      AND (n.ts > f.ts OR (n.ts = f.ts AND n.seq >= f.seq))
),
anchors AS (
    SELECT o.subject, o.anchor_ts, o.anchor_seq
    FROM outflows o
    LEFT JOIN public_days p ON p.payee = o.payee AND p.day = o.day
    WHERE p.payee IS NULL
),
subjects AS (
    SELECT DISTINCT subject FROM anchors
),
marks AS (
    SELECT w.dst_account AS subject, w.ts, w.seq, 1 AS is_in
    FROM recent w JOIN subjects s ON w.dst_account = s.subject
    WHERE w.src_account IS NULL OR w.src_account <> w.dst_account
    UNION ALL
    SELECT w.src_account AS subject, w.ts, w.seq, 0 AS is_in
    FROM recent w JOIN subjects s ON w.src_account = s.subject
    WHERE (w.dst_account IS NULL OR w.dst_account <> w.src_account)
      AND w.amount_usd >= {{min_outflow_usd}}
),
counted AS (
    SELECT subject, seq, is_in,
           sum(is_in) OVER recent AS n_in,
           sum(1 - is_in) OVER recent AS n_out
    FROM marks
    WINDOW recent AS (PARTITION BY subject ORDER BY ts
                      RANGE BETWEEN INTERVAL '{{max_hours}} hours' PRECEDING AND CURRENT ROW)
),
judged AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq
    FROM anchors a JOIN counted c ON c.subject = a.subject AND c.seq = a.anchor_seq AND c.is_in = 0
    WHERE c.n_in BETWEEN 1 AND {{max_inflows}} AND c.n_out <= {{max_outflows}}
),
ins AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, w.tx_id, w.ts, w.seq, w.amount_usd
    FROM recent w JOIN judged a ON w.dst_account = a.subject
    WHERE (w.src_account IS NULL OR w.src_account <> w.dst_account)
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{max_hours}} hours'
),
first_in AS (
    SELECT subject, anchor_ts, anchor_seq, min(ts) AS first_in_ts FROM ins GROUP BY subject, anchor_ts, anchor_seq
),
established AS (
    -- payees the account already paid in the history before the money came in: an
    -- established supplier or landlord, not a fresh next hop
    SELECT DISTINCT f.subject, f.anchor_ts, f.anchor_seq, w.dst_account AS payee
    FROM window_tx w JOIN first_in f ON w.src_account = f.subject
    WHERE w.dst_account IS NOT NULL AND w.dst_account <> w.src_account
      AND w.amount_usd >= {{min_outflow_usd}}
      AND w.ts < f.first_in_ts AND w.ts >= f.anchor_ts - INTERVAL '{{history_days}} days'
),
outs AS (
    SELECT f.subject, f.anchor_ts, f.anchor_seq, w.tx_id, w.ts, w.seq, w.amount_usd
    FROM recent w JOIN first_in f ON w.src_account = f.subject
    LEFT JOIN public_days p ON p.payee = w.dst_account AND p.day = date_trunc('day', f.anchor_ts)
    LEFT JOIN established e ON e.subject = f.subject AND e.anchor_ts = f.anchor_ts AND e.anchor_seq = f.anchor_seq
                           AND e.payee = w.dst_account
    WHERE (w.dst_account IS NULL OR w.dst_account <> w.src_account)
      AND w.amount_usd >= {{min_outflow_usd}}
      AND p.payee IS NULL AND e.payee IS NULL
      AND w.ts >= f.first_in_ts
      AND (w.ts < f.anchor_ts OR (w.ts = f.anchor_ts AND w.seq <= f.anchor_seq))
),
legs AS (
    SELECT subject, anchor_ts, anchor_seq, tx_id, ts, seq, amount_usd, 1 AS inbound FROM ins
    UNION ALL
    SELECT subject, anchor_ts, anchor_seq, tx_id, ts, seq, amount_usd, 0 AS inbound FROM outs
),
totals AS (
    SELECT subject, anchor_ts, anchor_seq,
           array_agg(tx_id ORDER BY ts, seq) AS tx_ids,
           min(ts) AS first_ts, max(ts) AS last_ts,
           sum(CASE WHEN inbound = 1 THEN amount_usd ELSE 0 END) AS inflow,
           sum(CASE WHEN inbound = 0 THEN amount_usd ELSE 0 END) AS outflow,
           min(CASE WHEN inbound = 1 THEN ts END) AS first_in,
           min(CASE WHEN inbound = 0 THEN ts END) AS first_out,
           sum(inbound) AS inflows
    FROM legs
    GROUP BY subject, anchor_ts, anchor_seq
)
SELECT subject, anchor_ts, anchor_seq, tx_ids, first_ts, last_ts,
       inflow + outflow AS amount_usd,
       inflow AS inflow_usd, outflow AS outflow_usd,
       round(CAST(outflow AS DOUBLE) / CAST(inflow AS DOUBLE), 3) AS out_in_ratio,
       round(CAST(date_part('epoch', first_out - first_in) AS DOUBLE) / 3600.0, 1) AS dwell_hours,
       true AS matched
FROM totals
WHERE inflow >= {{min_amount_usd}}
  AND inflows <= {{max_inflows}}
  AND outflow >= inflow * (1 - {{tolerance}}) AND outflow <= inflow * (1 + {{tolerance}})
  AND first_out - first_in < INTERVAL '{{max_dwell_hours}} hours'
  AND last_ts - first_ts <= INTERVAL '{{max_hours}} hours'
UNION ALL
-- clearing rows: a new payment to a payee the account paid min_cadence_days or more
-- before; its evidence is those earlier payments, in no set order (a clearing row is
-- read for what it shares with a held episode, and it sorts before any match at its
-- anchor, whose legs are all younger than its evidence)
SELECT n.src_account AS subject, n.ts AS anchor_ts, n.seq AS anchor_seq,
       array_agg(w.tx_id) AS tx_ids,
       min(w.ts) AS first_ts, n.ts AS last_ts,
       sum(w.amount_usd) AS amount_usd, CAST(NULL AS DECIMAL(38, 6)) AS inflow_usd, sum(w.amount_usd) AS outflow_usd,
       CAST(NULL AS DOUBLE) AS out_in_ratio, CAST(NULL AS DOUBLE) AS dwell_hours,
       false AS matched
FROM new_tx n
JOIN window_tx w ON w.src_account = n.src_account AND w.dst_account = n.dst_account
-- only accounts that could hold an episode: a credit large enough to be part of one
-- (min_amount_usd in at most max_inflows credits) within the hold
JOIN (SELECT DISTINCT dst_account AS subject FROM window_tx
      WHERE dst_account IS NOT NULL AND amount_usd * {{max_inflows}} >= {{min_amount_usd}}) h
  ON h.subject = n.src_account
WHERE n.amount_usd >= {{min_outflow_usd}} AND w.amount_usd >= {{min_outflow_usd}}
  AND n.dst_account <> n.src_account
  AND w.ts <= n.ts - INTERVAL '{{min_cadence_days}} days'
  AND w.ts >= n.ts - INTERVAL '{{history_days}} days'
GROUP BY n.src_account, n.ts, n.seq
UNION ALL
-- clearing rows: a payee has just become one the public pays (a school whose term began
-- with the ledger): the earlier payments to it within the hold were spending, and each
-- clears the held episode it was evidence of
SELECT w.src_account AS subject, c.ts AS anchor_ts, c.seq AS anchor_seq,
       make_array(w.tx_id) AS tx_ids, w.ts AS first_ts, c.ts AS last_ts,
       w.amount_usd AS amount_usd, CAST(NULL AS DECIMAL(38, 6)) AS inflow_usd, w.amount_usd AS outflow_usd,
       CAST(NULL AS DOUBLE) AS out_in_ratio, CAST(NULL AS DOUBLE) AS dwell_hours,
       false AS matched
FROM crossings c
JOIN window_tx w ON w.dst_account = c.payee
WHERE w.src_account IS NOT NULL AND w.src_account <> w.dst_account
  AND w.amount_usd >= {{min_outflow_usd}}
  AND (w.ts < c.ts OR (w.ts = c.ts AND w.seq < c.seq))
  AND w.ts >= c.ts - INTERVAL '{{hold_days}} days'
