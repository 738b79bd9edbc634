-- rule: 050_profile_mismatch
-- version: 5
-- typology: T5
-- severity: medium
-- episode_gap: 30d
-- lookback: {{lookback_days}}d
-- score: 0.6
-- needs: kyc (kind, opened_at)
-- description: A new personal account receiving far more than its declared profile allows (several months of declared income, or more than a student plausibly receives), net of tuition paid on
-- param: max_account_age_days = 180
-- param: lookback_days = 30
-- param: income_multiple = 3
-- param: student_monthly_usd = 20000
-- param: min_inflow_usd = 5000
-- param: public_payee_min_payers = 10
-- param: own_funds_payer_kinds = 'exchange'
-- param: income_payer_kinds = 'business'
-- param: min_cadence_days = 5
-- param: regular_amount_ratio = 1.5
-- narrative: Account {subject} ({occupation}, opened {opened_at}, declared monthly income USD {declared_income_usd}) received USD {amount_usd} in {payments} payments from {first_ts} to {last_ts} ({net_inflow_usd} net of tuition paid on): {mismatch}. Nationality is not a factor.
--
-- own_funds_payer_kinds: money paid out by the customer's own account at an exchange is
-- the proceeds of assets the customer already held, not a receipt from others: it does
-- not count as inflow here (crypto off-ramps are T11's matter). Cash deposits do count.
--
-- Explained inflows, judged by behaviour (no memo or label): transfers from another
-- account of the same customer (customer_id) move the customer's own money; and regular
-- income -- a business (KYC kind in income_payer_kinds) that paid the account at least
-- twice, min_cadence_days or more apart, amounts within regular_amount_ratio of each
-- other (a salary, a pension) --
-- is the kind of income a profile describes, even when the declared figure is stale.
-- Neither counts as inflow. Money that arrives once from many payers still does.
--
-- Inflows in the lookback up to each new row of the account (ties by arrival order
-- `seq`), minus what the account paid on in the same period to a business the public
-- pays (public_payee_min_payers different payers before the anchor's day: a school
-- taking tuition, a landlord; judged by behaviour, not an industry label), against the KYC
-- profile. Rows where the profile fits again (`matched` false: tuition was paid on)
-- clear an episode that has not been alerted yet.
WITH moves AS (
    SELECT dst_account AS account, ts, seq FROM new_tx WHERE dst_account IS NOT NULL
    UNION ALL
    SELECT src_account AS account, ts, seq FROM new_tx WHERE src_account IS NOT NULL
),
-- Gate: the account's gross inflow over the part of the window this batch can look back
-- over must already exceed the profile (net of tuition it can only be less): a
-- necessary condition, so most accounts are not examined anchor by anchor.
gross AS (
    SELECT dst_account, sum(amount_usd) AS inflow
    FROM window_tx
    WHERE dst_kind = 'personal' AND (src_account IS NULL OR src_account <> dst_account)
      AND NOT array_has(string_to_array('{{own_funds_payer_kinds}}', ','), coalesce(src_kind, ''))
    GROUP BY dst_account
    HAVING sum(amount_usd) >= {{min_inflow_usd}}
),
gate AS (
    SELECT g.dst_account AS subject
    FROM gross g JOIN accounts a ON g.dst_account = a.account_id
    WHERE (a.monthly_income_usd IS NOT NULL AND g.inflow > {{income_multiple}} * a.monthly_income_usd)
       OR (a.occupation = 'student' AND g.inflow > {{student_monthly_usd}})
),
anchors AS (
    SELECT n.account AS subject, n.ts AS anchor_ts, n.seq AS anchor_seq, a.customer_id,
           a.monthly_income_usd AS income, coalesce(a.occupation, 'occupation not declared') AS occupation, a.opened_at
    FROM moves n
    JOIN gate g ON n.account = g.subject
    JOIN accounts a ON n.account = a.account_id
    WHERE a.kind = 'personal' AND a.opened_at IS NOT NULL
      AND CAST(n.ts AS DATE) < a.opened_at + INTERVAL '{{max_account_age_days}} days'
),
payee_days AS (
    -- the business payees of the anchors' outflows, per anchor day
    SELECT DISTINCT w.dst_account AS payee, date_trunc('day', a.anchor_ts) AS day
    FROM window_tx w JOIN anchors a ON w.src_account = a.subject
    WHERE w.dst_account IS NOT NULL AND (w.dst_kind IS NULL OR w.dst_kind = 'business')
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
public_payees AS (
    -- payees at least public_payee_min_payers accounts paid before the anchor's day
    -- (complete days): a school, a landlord, a shop
    SELECT p.payee, p.day
    FROM payee_days p
    JOIN window_tx w ON w.dst_account = p.payee
    WHERE w.ts < p.day AND w.src_account IS NOT NULL
    GROUP BY p.payee, p.day
    HAVING count(DISTINCT w.src_account) >= {{public_payee_min_payers}}
),
inbound AS (
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.income, a.occupation, a.opened_at,
           w.src_account AS payer, w.src_kind AS payer_kind, w.tx_id, w.ts, w.seq, w.amount_usd,
           coalesce(p.customer_id = a.customer_id, false) AS own
    FROM window_tx w
    JOIN anchors a ON w.dst_account = a.subject
    LEFT JOIN accounts p ON p.account_id = w.src_account
    WHERE (w.src_account IS NULL OR w.src_account <> w.dst_account)
      AND NOT array_has(string_to_array('{{own_funds_payer_kinds}}', ','), coalesce(w.src_kind, ''))
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
regular AS (
    -- payers whose payments up to the anchor recur: at least min_cadence_days apart,
    -- amounts within regular_amount_ratio
    SELECT subject, anchor_ts, anchor_seq, payer
    FROM inbound
    WHERE payer IS NOT NULL AND array_has(string_to_array('{{income_payer_kinds}}', ','), payer_kind)
    GROUP BY subject, anchor_ts, anchor_seq, payer
    HAVING count(*) >= 2
       AND max(ts) >= min(ts) + INTERVAL '{{min_cadence_days}} days'
       AND max(amount_usd) <= {{regular_amount_ratio}} * min(amount_usd)
),
flows AS (
    -- inflows and outflows as two equi-joins (an OR join would compare every pair)
    SELECT i.subject, i.anchor_ts, i.anchor_seq, i.income, i.occupation, i.opened_at,
           i.tx_id, i.ts, i.seq, i.amount_usd, true AS inbound, false AS to_school,
           i.own OR r.payer IS NOT NULL AS explained
    FROM inbound i
    LEFT JOIN regular r ON r.subject = i.subject AND r.anchor_ts = i.anchor_ts AND r.anchor_seq = i.anchor_seq
                       AND r.payer = i.payer
    UNION ALL
    SELECT a.subject, a.anchor_ts, a.anchor_seq, a.income, a.occupation, a.opened_at,
           w.tx_id, w.ts, w.seq, w.amount_usd, false AS inbound,
           pp.payee IS NOT NULL AS to_school,
           false AS explained
    FROM window_tx w
    JOIN anchors a ON w.src_account = a.subject
    LEFT JOIN public_payees pp ON pp.payee = w.dst_account AND pp.day = date_trunc('day', a.anchor_ts)
    WHERE (w.dst_account IS NULL OR w.src_account <> w.dst_account)
      AND (w.ts < a.anchor_ts OR (w.ts = a.anchor_ts AND w.seq <= a.anchor_seq))
      AND w.ts > a.anchor_ts - INTERVAL '{{lookback_days}} days'
),
totals AS (
    SELECT subject, anchor_ts, anchor_seq, income, occupation, opened_at,
           array_agg(tx_id ORDER BY ts, seq) FILTER (WHERE inbound AND NOT explained) AS counted_ids,
           array_agg(tx_id ORDER BY ts, seq) FILTER (WHERE inbound) AS inbound_ids,
           min(CASE WHEN inbound THEN ts END) AS first_ts,
           max(CASE WHEN inbound THEN ts END) AS last_ts,
           sum(CASE WHEN inbound AND NOT explained THEN amount_usd ELSE 0 END) AS inflow,
           sum(CASE WHEN inbound THEN amount_usd ELSE 0 END) AS gross,
           sum(CASE WHEN inbound AND explained THEN amount_usd ELSE 0 END) AS explained_usd,
           sum(CASE WHEN NOT inbound AND to_school THEN amount_usd ELSE 0 END) AS tuition_out,
           sum(CASE WHEN inbound AND NOT explained THEN 1 ELSE 0 END) AS payments
    FROM flows
    GROUP BY subject, anchor_ts, anchor_seq, income, occupation, opened_at
)
-- the evidence is the counted inflows; a clearing row (nothing left counted) carries
-- every inflow, so it shares evidence with the episode it clears
SELECT subject, anchor_ts, anchor_seq,
       CASE WHEN payments > 0 THEN counted_ids ELSE inbound_ids END AS tx_ids,
       first_ts, last_ts, inflow AS amount_usd, payments, occupation,
       CAST(opened_at AS VARCHAR) AS opened_at,
       coalesce(CAST(income AS VARCHAR), 'not declared') AS declared_income_usd,
       inflow - tuition_out AS net_inflow_usd,
       explained_usd AS regular_or_own_usd,
       CASE WHEN income IS NOT NULL AND inflow - tuition_out > {{income_multiple}} * income
                THEN 'more than {{income_multiple}} times the declared monthly income within {{lookback_days}} days'
            ELSE 'more than USD {{student_monthly_usd}} within {{lookback_days}} days into a student account' END AS mismatch,
       inflow - tuition_out >= {{min_inflow_usd}}
         AND ((income IS NOT NULL AND inflow - tuition_out > {{income_multiple}} * income)
              OR (occupation = 'student' AND inflow - tuition_out > {{student_monthly_usd}})) AS matched
FROM totals
-- Only anchors whose gross inflow exceeds the profile: those where tuition paid on,
-- regular income or the customer's own money explains the difference come back with
-- `matched` false and clear an open episode; a window that merely slid past old
-- inflows clears nothing.
WHERE gross >= {{min_inflow_usd}}
  AND ((income IS NOT NULL AND gross > {{income_multiple}} * income)
       OR (occupation = 'student' AND gross > {{student_monthly_usd}}))
