"""Convert an AMLGentex tx_log.parquet into a mirrorflow contract ledger.

usage: venv/bin/python convert.py EXP_DIR [EXP_DIR ...]
  reads  EXP_DIR/temporal/tx_log.parquet and EXP_DIR/config/data.yaml (base_date)
  writes EXP_DIR/ledger/{transactions.csv,fx_rates.csv,labels.csv} and EXP_DIR/stats.txt

Mapping (AMLGentex tx_log -> contract):
  tx_id        the row index in tx_log.parquet, as a string (stable across runs)
  ts           base_date + step days + a time of day from a hash of the row index
               (splitmix64, whole seconds). Within one pattern instance and one step the
               drawn times are re-dealt in row order, so a pattern's same-day hops keep the
               order the simulator executed them in (e.g. a cycle's consecutive legs).
               Rows are written sorted by (ts, row index).
  src/dst      the integer account id as a string; AMLGentex's outside "source" (-2,
               income) and "sink" (-1, spending) become an empty field
  amount       2 fraction digits; rows with amount <= 0 (or rounding to 0.00) are dropped
  currency     SEK
  channel      TRANSFER acct->acct      -> p2p
               TRANSFER source->acct    -> ach   (salary / income, src empty)
               TRANSFER acct->sink      -> card  (everyday spending, dst empty)
               CASH     acct->sink      -> cash_withdrawal (dst empty)
               CASH     source->acct    -> cash_deposit    (src empty; none seen)
               CASH     acct->acct      -> p2p   (none seen)
               INITALBALANCE            -> dropped (opening balance, not a transaction)
labels: one row per SAR transaction (isSAR == 1), scheme_id G<patternID:06d>,
typology cycle->T7, fan_in/fan_out->T8, scatter_gather/gather_scatter->T9,
bipartite/stack->T10 (random->T10 too, not configured here), variant = pattern name.
"""
import os
import sys
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import yaml

SAR_ID_TO_NAME = {1: 'fan_out', 2: 'fan_in', 3: 'cycle', 4: 'bipartite', 5: 'stack',
                  6: 'random', 7: 'scatter_gather', 8: 'gather_scatter'}
NORMAL_ID_TO_NAME = {10: 'single', 11: 'fan_out', 12: 'fan_in', 13: 'forward',
                     14: 'mutual', 15: 'periodical'}
TYPOLOGY = {'cycle': 'T7', 'fan_in': 'T8', 'fan_out': 'T8', 'scatter_gather': 'T9',
            'gather_scatter': 'T9', 'bipartite': 'T10', 'stack': 'T10', 'random': 'T10'}
SOURCE, SINK = -2, -1
USD_PER_SEK = '0.095'


def splitmix64(x: np.ndarray) -> np.ndarray:
    z = (x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def quantiles(a: np.ndarray) -> str:
    if len(a) == 0:
        return 'n/a'
    q = np.quantile(a, [0.01, 0.5, 0.9, 0.99])
    return 'p1={:.2f} p50={:.2f} p90={:.2f} p99={:.2f} max={:.2f}'.format(*q, a.max())


def convert(exp: str) -> None:
    with open(os.path.join(exp, 'config', 'data.yaml')) as f:
        conf = yaml.safe_load(f)
    base_date = str(conf['general']['base_date'])
    base = datetime.fromisoformat(base_date).replace(tzinfo=timezone.utc)
    base_s = int(base.timestamp())

    df = pd.read_parquet(os.path.join(exp, 'temporal', 'tx_log.parquet'),
                         columns=['step', 'type', 'amount', 'nameOrig', 'nameDest',
                                  'isSAR', 'patternID', 'modelType'])
    n_raw = len(df)
    df['row'] = np.arange(n_raw, dtype=np.int64)
    df['type'] = df['type'].astype(str)
    type_counts_raw = df['type'].value_counts().to_dict()

    # Drops: opening balances, non-positive amounts, amounts that round to 0.00.
    is_init = df['type'].eq('INITALBALANCE')
    cents = np.round(df['amount'].to_numpy() * 100).astype(np.int64)
    nonpos = (~is_init) & (df['amount'].to_numpy() <= 0)
    zero_after_round = (~is_init) & (~nonpos) & (cents <= 0)
    keep = (~is_init) & (~nonpos) & (~zero_after_round)
    sar_dropped = int((df['isSAR'].to_numpy() == 1)[~keep].sum())
    df = df[keep].copy()
    df['cents'] = cents[keep.to_numpy()]

    # Time of day: hash of the row index, re-dealt in row order within (pattern, step).
    tod = (splitmix64(df['row'].to_numpy()) % np.uint64(86400)).astype(np.int64)
    mt = df['modelType'].to_numpy().astype(np.int64)
    pid = df['patternID'].to_numpy().astype(np.int64)
    step = df['step'].to_numpy().astype(np.int64)
    row = df['row'].to_numpy()
    in_pattern = mt != 0
    idx = np.flatnonzero(in_pattern)
    if len(idx):
        k_mt, k_pid, k_step, k_row, k_tod = mt[idx], pid[idx], step[idx], row[idx], tod[idx]
        by_row = np.lexsort((k_row, k_step, k_pid, k_mt))
        by_tod = np.lexsort((k_tod, k_step, k_pid, k_mt))
        new = np.empty_like(k_tod)
        new[by_row] = k_tod[by_tod]
        tod[idx] = new
    secs = base_s + step * 86400 + tod
    df['secs'] = secs
    df = df.sort_values(['secs', 'row'], kind='stable')

    src = df['nameOrig'].to_numpy().astype(np.int64)
    dst = df['nameDest'].to_numpy().astype(np.int64)
    typ = df['type'].to_numpy()
    channel = np.full(len(df), 'p2p', dtype=object)
    transfer = typ == 'TRANSFER'
    cash = typ == 'CASH'
    other = ~(transfer | cash)
    if other.any():
        raise SystemExit(f'unexpected tx types: {set(typ[other])}')
    channel[transfer & (src == SOURCE)] = 'ach'
    channel[transfer & (dst == SINK)] = 'card'
    channel[cash & (dst == SINK)] = 'cash_withdrawal'
    channel[cash & (src == SOURCE)] = 'cash_deposit'
    both_outside = (src < 0) & (dst < 0)
    if both_outside.any():
        raise SystemExit(f'{both_outside.sum()} rows have no account on either side')

    src_s = np.where(src < 0, '', src.astype(str))
    dst_s = np.where(dst < 0, '', dst.astype(str))
    c = df['cents'].to_numpy()
    amount_s = np.char.add(np.char.add((c // 100).astype(str), '.'),
                           np.char.zfill((c % 100).astype(str), 2))
    ts_s = pd.to_datetime(df['secs'].to_numpy(), unit='s', utc=True).strftime('%Y-%m-%dT%H:%M:%SZ')
    tx_id = df['row'].to_numpy().astype(str)

    out_dir = os.path.join(exp, 'ledger')
    os.makedirs(out_dir, exist_ok=True)
    out = pd.DataFrame({'tx_id': tx_id, 'ts': ts_s, 'src_account': src_s, 'dst_account': dst_s,
                        'amount': amount_s, 'currency': 'SEK', 'channel': channel})
    out.to_csv(os.path.join(out_dir, 'transactions.csv'), index=False)
    with open(os.path.join(out_dir, 'fx_rates.csv'), 'w') as f:
        f.write('date,currency,usd_per_unit\n')
        f.write(f'{base_date},SEK,{USD_PER_SEK}\n')

    sar = df[df['isSAR'].to_numpy() == 1]
    variant = sar['modelType'].map(SAR_ID_TO_NAME)
    if variant.isna().any():
        raise SystemExit('SAR row with unknown modelType')
    labels = pd.DataFrame({'tx_id': sar['row'].astype(str).to_numpy(),
                           'scheme_id': ['G%06d' % p for p in sar['patternID']],
                           'typology': variant.map(TYPOLOGY).to_numpy(),
                           'variant': variant.to_numpy(), 'leg': ''})
    labels.to_csv(os.path.join(out_dir, 'labels.csv'), index=False)

    # ---- stats ----
    lines = []
    w = lines.append
    w(f'experiment: {exp}')
    w(f'source: tx_log.parquet, {n_raw} rows; types {type_counts_raw}')
    w(f'dropped: {int(is_init.sum())} INITALBALANCE, {int(nonpos.sum())} amount<=0, '
      f'{int(zero_after_round.sum())} rounding to 0.00 ({sar_dropped} of them SAR)')
    w(f'rows written: {len(out)}')
    accts = np.union1d(src[src >= 0], dst[dst >= 0])
    w(f'accounts (appearing in written rows): {len(accts)}')
    days = np.unique(step)
    w(f'days: {len(days)} (steps {days.min()}..{days.max()}; '
      f'{out.ts.iloc[0]} .. {out.ts.iloc[-1]})')
    w('channels: ' + ', '.join(f'{k}={v}' for k, v in out['channel'].value_counts().items()))
    p2p_mask = channel == 'p2p'
    w(f'account-to-account rows: {int(p2p_mask.sum())} '
      f'(normal-pattern rows by type: ' + ', '.join(
          f'{NORMAL_ID_TO_NAME[k]}={v}' for k, v in
          sorted(pd.Series(mt[(mt >= 10)]).value_counts().items())) + ')')
    w(f'SAR transactions: {len(sar)} ({len(sar) / len(out):.4%} of rows)')
    sar_accts = np.union1d(sar['nameOrig'].to_numpy(), sar['nameDest'].to_numpy())
    w(f'SAR accounts: {len(sar_accts)}')
    g = sar.assign(variant=variant.to_numpy()).groupby('patternID')
    per = pd.DataFrame({'variant': g['variant'].first(), 'n': g.size(),
                        'first': g['secs'].min(), 'last': g['secs'].max(),
                        'first_step': g['step'].min(), 'last_step': g['step'].max(),
                        'accts': g.apply(lambda x: len(np.union1d(x.nameOrig, x.nameDest)),
                                         include_groups=False)})
    per['dur_days'] = (per['last'] - per['first']) / 86400.0
    per['steps_span'] = per['last_step'] - per['first_step'] + 1
    w(f'SAR patterns: {len(per)}')
    w('patterns per type (count / median txs / median accounts / median duration days):')
    for v, sub in per.groupby('variant'):
        w(f'  {v:15s} {TYPOLOGY[v]:4s} {len(sub):3d}  txs={sub.n.median():.0f}  '
          f'accts={sub.accts.median():.0f}  dur={sub.dur_days.median():.1f}')
    w(f'median txs per SAR pattern: {per.n.median():.1f} (min {per.n.min()}, max {per.n.max()})')
    w(f'median SAR pattern duration: {per.dur_days.median():.1f} days first-to-last tx '
      f'(min {per.dur_days.min():.1f}, max {per.dur_days.max():.1f}); '
      f'median calendar days touched {per.steps_span.median():.0f}')
    w(f'SAR pattern start steps: quartiles {np.percentile(per.first_step, [0, 25, 50, 75, 100]).tolist()}')
    amt = df['cents'].to_numpy() / 100.0
    is_sar = df['isSAR'].to_numpy() == 1
    w('amounts SEK, SAR:         ' + quantiles(amt[is_sar]))
    w('amounts SEK, normal:      ' + quantiles(amt[~is_sar]))
    w('amounts SEK, normal p2p:  ' + quantiles(amt[(~is_sar) & p2p_mask]))
    w('amounts SEK, normal ach:  ' + quantiles(amt[channel == 'ach']))
    w('amounts SEK, normal card: ' + quantiles(amt[channel == 'card']))
    if (channel == 'cash_withdrawal').any():
        w('amounts SEK, cash_withdrawal: ' + quantiles(amt[channel == 'cash_withdrawal']))
    # accounts in both SAR and normal patterns
    normal_fan = mt[(mt == 11) | (mt == 12)]
    w(f'normal fan rows (fan_in+fan_out patterns): {len(normal_fan)}')
    text = '\n'.join(lines) + '\n'
    with open(os.path.join(exp, 'stats.txt'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    for e in sys.argv[1:]:
        convert(os.path.abspath(e))
