-- rule: 020_smurfing
-- version: 2
-- typology: T2
-- severity: high
-- episode_gap: 7d
-- lookback: {{lookback_days}}d
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
-- param: exempt_industries = 'property_management,education,online_marketplace,money_services,crypto_exchange'
-- param: sender_kinds = 'personal'
-- param: max_legs = 64
-- narrative: Account {subject} received {transfers} transfers from {senders} different individuals ({sender_list}) between {first_ts} and {last_ts}, each of at least USD {min_amount_usd} and under the USD {ctr_threshold_usd} Currency Transaction Report threshold, USD {amount_usd} in all within {lookback_days} days: many people each paying in below the reporting threshold into one account, consistent with smurfing.
--
-- What counts: transfers on `channels` (card payments are purchases; cash deposits carry
-- no depositor identity and are T1's matter) of at least min_amount_usd (small P2P among
-- friends is not smurfing) and under the threshold, from an individual: a sender whose
-- KYC kind is in sender_kinds, or who is not in the accounts table (another bank's
-- customer). A business paying an account is trade, not a smurf.
-- Who is judged: accounts in subject_countries (the CTR threshold is a US one; accounts
-- missing from KYC are judged too), outside exempt_kinds and exempt_industries, whose
-- business is to be paid by many people: landlords (rent), schools (tuition),
-- marketplaces, money-services businesses and exchanges.
-- Each new transfer that counts anchors a match: the counted transfers into the same
-- account in the lookback (anchor - lookback_days, anchor], ties in time by `seq`.
-- Measured on generated 1M-row ledgers (seeds 11, 12 and 13): every T2 scheme found, every
-- alert true, none on a look-alike population or a near miss.
--
-- How it stays cheap (the window is read once, and `accounts` not at all: the KYC
-- attributes of both parties are columns of the rows):
-- 1. candidates: the accounts an individual paid in the band in this batch, outside the
--    exempt segments (the batch alone);
-- 2. legs: what individuals paid those accounts in the band over the window read (the
--    candidates are the hash table, the window only probes it);
-- 3. gate: per account over the whole window read (a hash aggregate, GROUP BY subject),
--    at least min_senders distinct individuals (a necessary condition for any anchor);
--    most candidates stop here (`legs` is read twice, so the engine computes it once);
-- 4. per anchor (the gated accounts' legs from the batch, from the account's first new
--    row on), over the gated accounts' legs only, in (ts, seq) order: the legs up to the
--    anchor, minus those lookback_days or more older than it. Senders are counted and
--    evidence listed over at most the anchor and the max_legs legs before it (totals and
--    transfer counts cover the whole lookback): the work and memory stay (new legs x
--    max_legs) however many deposits an account has in the window, and an episode still
--    gathers every anchor's evidence.
WITH candidates AS (
    SELECT dst_account AS subject, min(ts) AS first_new_ts
    FROM new_tx
    WHERE amount_usd >= {{min_amount_usd}} AND amount_usd < {{ctr_threshold_usd}}
      AND src_account IS NOT NULL AND dst_account IS NOT NULL AND src_account <> dst_account
      AND array_has(string_to_array('{{channels}}', ','), channel)
      AND (src_kind IS NULL OR array_has(string_to_array('{{sender_kinds}}', ','), src_kind))
      AND (dst_country IS NULL OR array_has(string_to_array('{{subject_countries}}', ','), dst_country))
      AND NOT array_has(string_to_array('{{exempt_kinds}}', ','), coalesce(dst_kind, ''))
      AND NOT array_has(string_to_array('{{exempt_industries}}', ','), coalesce(dst_industry, ''))
    GROUP BY dst_account
),
legs AS (
    SELECT c.subject, c.first_new_ts, w.src_account AS sender, w.tx_id, w.ts, w.seq, w.amount_usd
    FROM candidates c
    JOIN window_tx w ON w.dst_account = c.subject AND w.src_account <> c.subject
    WHERE w.amount_usd >= {{min_amount_usd}} AND w.amount_usd < {{ctr_threshold_usd}}
      AND w.src_account IS NOT NULL
      AND array_has(string_to_array('{{channels}}', ','), w.channel)
      AND (w.src_kind IS NULL OR array_has(string_to_array('{{sender_kinds}}', ','), w.src_kind))
),
gate AS (
    SELECT subject FROM legs GROUP BY subject HAVING count(DISTINCT sender) >= {{min_senders}}
),
gated AS (
    SELECT l.* FROM gate g JOIN legs l ON l.subject = g.subject
),
numbered AS (
    SELECT subject, first_new_ts, sender, tx_id, ts, seq,
           sum(amount_usd) OVER upto AS usd_upto,
           CAST(row_number() OVER upto AS BIGINT) AS n_upto,
           count(*) OVER older AS n_older,
           coalesce(sum(amount_usd) OVER older, 0) AS usd_older
    FROM gated
    WINDOW upto AS (PARTITION BY subject ORDER BY ts, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           older AS (PARTITION BY subject ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '{{lookback_days}} days' PRECEDING)
),
first_anchor AS (
    SELECT subject, min(n_upto) AS first_n FROM numbered WHERE ts >= first_new_ts GROUP BY subject
),
frames AS (
    SELECT n.subject, n.first_new_ts, n.ts, n.seq, n.usd_upto, n.n_upto, n.n_older, n.usd_older,
           array_agg(n.tx_id) OVER recent AS ids,
           array_agg(n.sender) OVER recent AS sender_ids,
           array_agg(n.ts) OVER recent AS times
    FROM numbered n JOIN first_anchor f ON n.subject = f.subject
    WHERE n.n_upto >= f.first_n - {{max_legs}}
    WINDOW recent AS (PARTITION BY n.subject ORDER BY n.n_upto ROWS BETWEEN {{max_legs}} PRECEDING AND CURRENT ROW)
),
sliced AS (
    -- the frame holds the anchor and up to max_legs deposits before it: the lookback's
    -- start at array position (n_older + 1) - (n_upto - cardinality), or at 1
    SELECT subject, first_new_ts, ts, seq, usd_upto, n_upto, n_older, usd_older, ids, sender_ids, times,
           CAST(cardinality(ids) AS BIGINT) AS last_i,
           CASE WHEN n_older + 1 - n_upto + CAST(cardinality(ids) AS BIGINT) > 1
                THEN n_older + 1 - n_upto + CAST(cardinality(ids) AS BIGINT) ELSE 1 END AS first_i
    FROM frames
),
matches AS (
    SELECT subject, ts AS anchor_ts, seq AS anchor_seq,
           array_slice(ids, first_i, last_i) AS tx_ids,
           array_distinct(array_slice(sender_ids, first_i, last_i)) AS senders_seen,
           array_element(times, first_i) AS first_ts,
           ts AS last_ts,
           usd_upto - usd_older AS amount_usd,
           n_upto - n_older AS transfers
    FROM sliced
    WHERE ts >= first_new_ts
)
SELECT subject, anchor_ts, anchor_seq, tx_ids, first_ts, last_ts, amount_usd, transfers,
       cardinality(senders_seen) AS senders,
       array_to_string(array_sort(senders_seen), ', ') AS sender_list
FROM matches
WHERE cardinality(senders_seen) >= {{min_senders}}
