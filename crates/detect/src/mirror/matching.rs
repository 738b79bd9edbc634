//! The one-to-one match: a placement judged against the legs within `leg-window` of every
//! deposit and within the FX bands of its cash (linked legs first, then an exchange's
//! payout after an on-ramp, then a CNY and an MXN leg together on suspicious cash), and
//! the combined match of unlinked nominees' structured placements.
//!
//! Owns: `best_leg`, `judge`, `misfit`, `fits_another_better`, `judge_combined`, `claim`,
//! `matched_swap`.
//! Must not: write an alert's text (that is `alert`'s) or take a leg twice: a matched leg
//! is marked used and leaves the value index.

use std::sync::Arc;

use super::MirrorDetector;
use super::alert::{Swap, SwapLeg};
use super::legs::{Leg, LegKind};
use super::placements::{Placement, Tx, band_range, stacked, structured};
use mirrorflow_core::alert::Alert;
use mirrorflow_core::detect::DetectCtx;

/// Structured placements a combined match looks at, at most (the earliest first).
const MAX_COMBINED_CANDIDATES: usize = 64;

/// How a candidate leg ranks (the least first): unlinked, then by value and time distance
/// (time first when unlinked), then sequence.
type Rank = (bool, i128, i128, u64);

/// A placement a combined match may take: (first deposit, party, open (else spare)).
type Candidate = (i64, Arc<str>, bool);

impl MirrorDetector {
    /// The best unused leg of `kind` for a placement worth `usd` between `lo` and `hi`
    /// (µs), within `band` (bp); linked to `accounts` first.
    fn best_leg(
        &self,
        kind: LegKind,
        usd: i128,
        band: (i128, i128),
        lo: i64,
        hi: i64,
        accounts: &[&str],
    ) -> Option<(u64, bool)> {
        let (min, max) = band_range(usd, band);
        let parties = self.parties();
        let mut best: Option<(Rank, u64, bool)> = None;
        for (&(_, v, seq), _) in self.by_value.range((kind, min, 0)..=(kind, max, u64::MAX)) {
            let Some(l) = self.legs.get(&seq) else { continue };
            if l.used || l.tx.ts < lo || l.tx.ts > hi {
                continue;
            }
            let linked = accounts.iter().any(|a| parties.same(a, &l.broker));
            // a broker whose party holds US accounts of its own settles with them: its legs
            // match other parties' cash only through a link
            if !linked && parties.of(&l.broker).is_some_and(|b| self.cross_border.contains(&b)) {
                continue;
            }
            let mid = (lo + hi) / 2;
            // linked legs: closest in value; with nothing but amount and time, closest in
            // time (a mirror leg follows the cash within hours; unrelated flows in the value
            // band are spread over the whole window)
            let (dv, dt) = ((v - usd).abs(), i128::from((l.tx.ts - mid).abs()));
            let key = if linked { (false, dv, dt, seq) } else { (true, dt, dv, seq) };
            if best.as_ref().is_none_or(|b| key < b.0) {
                best = Some((key, seq, linked));
            }
        }
        best.map(|b| (b.1, b.2))
    }

    pub(super) fn judge(&mut self, p: Placement, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        self.stats.judged += 1;
        if p.total < self.cfg.min_usd {
            return;
        }
        self.stats.judged_at_floor += 1;
        let first = p.deposits.first().map_or(0, |d| d.ts);
        let last = p.deposits.last().map_or(0, |d| d.ts);
        let w = self.cfg.leg_window_us;
        let (lo, hi) = (last - w, first + w);
        let accounts: Vec<&str> = {
            let mut v: Vec<&str> = p.deposits.iter().map(|d| &*d.dst).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let cny = self.best_leg(LegKind::Cny, p.total, self.cfg.cny_band_bp, lo, hi, &accounts);
        let mxn = self.best_leg(LegKind::Mxn, p.total, self.cfg.mxn_band_bp, lo, hi, &accounts);
        let ramps: Vec<Tx> = self
            .on_ramps
            .get(&p.party)
            .map(|v| v.iter().filter(|t| t.ts >= first && t.ts <= last + self.cfg.on_ramp_window_us).cloned().collect())
            .unwrap_or_default();
        // crypto settlement: the exchange pays out after the cash reached an exchange
        let exch = match ramps.iter().map(|t| t.ts).min() {
            None => None,
            Some(ramp) => {
                self.best_leg(LegKind::MxnExchange, p.total, self.cfg.mxn_band_bp, lo.max(ramp), hi, &accounts)
            }
        };
        let linked_any = cny.is_some_and(|c| c.1) || mxn.is_some_and(|m| m.1);
        let mut legs: Vec<u64> = Vec::new();
        let how;
        if linked_any {
            legs.extend(cny.filter(|c| c.1).map(|c| c.0));
            legs.extend(mxn.filter(|m| m.1).map(|m| m.0));
            how = "linked";
        } else if let Some(e) = exch {
            // the cash traced to an exchange, and the exchange paying out its value: a
            // flow of the same money, stronger than amount and time alone
            legs.push(e.0);
            how = "crypto";
        } else if let (Some(c), Some(m)) = (cny, mxn)
            && !stacked(&p.deposits, self.cfg.band, ctx).is_empty()
            && !self.fits_another_better(&p, c.0, m.0, ctx)
        {
            // nothing but amount and time: both legs, and the cash itself suspicious
            // (structured, funnelled, or placed by a nominee profile)
            legs.extend([c.0, m.0]);
            how = "amount_and_time";
        } else {
            self.judge_combined(p, ctx, out);
            return;
        }
        let ramps = if how == "crypto" { ramps } else { Vec::new() };
        self.matched_swap(p, legs, ramps, how, ctx, out);
    }

    /// How far a CNY leg `c` and an MXN leg `m` sit from the middle of their bands against
    /// `total` (bp, summed): the closer, the better the pair fits that cash.
    fn misfit(&self, total: i128, c: &Leg, m: &Leg) -> i128 {
        let off = |l: &Leg, band: (i128, i128)| {
            let bp = (l.tx.usd - total) * 10_000 / total.max(1);
            (bp - (band.0 + band.1) / 2).abs()
        };
        off(c, self.cfg.cny_band_bp) + off(m, self.cfg.mxn_band_bp)
    }

    /// Whether the legs that amount and time alone give placement `p` fit another open
    /// placement of suspicious cash better (both in its bands and within the leg window
    /// of its deposits, closer to the middle of the bands): each leg matches one
    /// placement, the closest in value, not the one judged first. `p` then leaves them.
    fn fits_another_better(&self, p: &Placement, c: u64, m: u64, ctx: &DetectCtx) -> bool {
        let (Some(cl), Some(ml)) = (self.legs.get(&c), self.legs.get(&m)) else { return false };
        let mine = self.misfit(p.total, cl, ml);
        let w = self.cfg.leg_window_us;
        let in_band = |total: i128, l: &Leg, band: (i128, i128)| {
            let (lo, hi) = band_range(total, band);
            (lo..=hi).contains(&l.tx.usd)
        };
        self.open.values().any(|q| {
            let (Some(first), Some(last)) = (q.deposits.first(), q.deposits.last()) else { return false };
            q.party != p.party
                && q.total >= self.cfg.min_usd
                && [cl, ml].iter().all(|l| l.tx.ts >= last.ts - w && l.tx.ts <= first.ts + w)
                && in_band(q.total, cl, self.cfg.cny_band_bp)
                && in_band(q.total, ml, self.cfg.mxn_band_bp)
                && self.misfit(q.total, cl, ml) < mine
                && !stacked(&q.deposits, self.cfg.band, ctx).is_empty()
        })
    }

    /// A structured placement that matched nothing alone, tried together with one or two
    /// other structured placements of unlinked accounts (open, or judged unmatched within
    /// the last windows) whose deposits all fall within one leg window: nominees of one
    /// broker that nothing in the data links. With nothing but amount and time, both a CNY
    /// and an MXN leg must match the combined cash.
    /// A structured placement that matched nothing alone, tried together with one or two
    /// other structured placements of unlinked accounts (open, or judged unmatched within
    /// the last windows) whose deposits all fall within one leg window: nominees of one
    /// broker that nothing in the data links. With nothing but amount and time, both a CNY
    /// and an MXN leg must match the combined cash.
    fn judge_combined(&mut self, p: Placement, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let w = self.cfg.leg_window_us;
        let p_first = p.deposits.first().map_or(0, |d| d.ts);
        // nominees' cash: structured, into accounts whose cash is mostly structured (a cash
        // business's nights in the band are not a nominee's placement)
        let due = p_first + w;
        if !self.nominee_placement(&p, due) {
            return;
        }
        self.spare.retain(|q| q.deposits.last().is_some_and(|d| d.ts >= p_first - w));
        let cands = self.combined_candidates(&p, due);
        let Some((pick, c, m)) = self.combined_legs(&p, &cands) else {
            self.spare.push_back(p);
            return;
        };
        let combined = self.take_combined(p, &cands, &pick);
        self.matched_swap(combined, vec![c, m], Vec::new(), "amount_and_time", ctx, out);
    }

    /// Structured cash into accounts whose cash over the history up to `due` is mostly
    /// structured (`network::nominee_shaped`).
    fn nominee_placement(&self, q: &Placement, due: i64) -> bool {
        structured(&q.deposits, self.cfg.band) && q.deposits.iter().all(|d| self.nominee_shaped(&d.dst, due))
    }

    /// The other nominees' placements a combined match may take, spare then open, in a
    /// stable order (first deposit, party), at most `MAX_COMBINED_CANDIDATES`.
    fn combined_candidates(&self, p: &Placement, due: i64) -> Vec<Candidate> {
        let mut cands: Vec<Candidate> = self
            .spare
            .iter()
            .filter(|q| self.nominee_placement(q, due))
            .map(|q| (q.deposits[0].ts, q.party.clone(), false))
            .chain(
                self.open
                    .values()
                    .filter(|q| !q.deposits.is_empty() && self.nominee_placement(q, due))
                    .map(|q| (q.deposits[0].ts, q.party.clone(), true)),
            )
            .filter(|c| c.1 != p.party)
            .collect();
        cands.sort();
        cands.truncate(MAX_COMBINED_CANDIDATES);
        cands
    }

    /// The first pick of one or two candidates whose cash with `p`'s falls within one leg
    /// window and is matched by both a CNY and an MXN leg (amount and time alone): the
    /// pick (indices into `cands`) and the two legs.
    fn combined_legs(&self, p: &Placement, cands: &[Candidate]) -> Option<(Vec<usize>, u64, u64)> {
        let w = self.cfg.leg_window_us;
        let get = |c: &Candidate| -> Option<(Vec<Tx>, i128)> {
            let q = if c.2 { self.open.get(&c.1) } else { self.spare.iter().find(|q| q.party == c.1) }?;
            Some((q.deposits.clone(), q.total))
        };
        let n = cands.len();
        let picks = (0..n).map(|i| vec![i]).chain((0..n).flat_map(|i| ((i + 1)..n).map(move |j| vec![i, j])));
        for pick in picks {
            let mut deps: Vec<Tx> = p.deposits.clone();
            let mut total = p.total;
            for &k in &pick {
                if let Some((d, t)) = get(&cands[k]) {
                    deps.extend(d);
                    total += t;
                }
            }
            let lo_t = deps.iter().map(|d| d.ts).min().unwrap_or(0);
            let hi_t = deps.iter().map(|d| d.ts).max().unwrap_or(0);
            if hi_t - lo_t > w {
                continue;
            }
            let (lo, hi) = (hi_t - w, lo_t + w);
            let none: [&str; 0] = [];
            let cny = self.best_leg(LegKind::Cny, total, self.cfg.cny_band_bp, lo, hi, &none);
            let mxn = self.best_leg(LegKind::Mxn, total, self.cfg.mxn_band_bp, lo, hi, &none);
            if let (Some(c), Some(m)) = (cny, mxn) {
                return Some((pick, c.0, m.0));
            }
        }
        None
    }

    /// Takes the picked candidates out of the open and spare placements and makes one
    /// placement of them and `p` (party "a + b", deposits in order).
    fn take_combined(&mut self, p: Placement, cands: &[Candidate], pick: &[usize]) -> Placement {
        let mut parts = vec![p];
        for &k in pick {
            let (ts0, party, open) = &cands[k];
            let q = if *open {
                self.open.remove(party)
            } else {
                let at = self.spare.iter().position(|q| q.party == *party && q.deposits[0].ts == *ts0);
                at.and_then(|i| self.spare.remove(i))
            };
            parts.extend(q);
        }
        let mut names: Vec<&str> = parts.iter().map(|q| &*q.party).collect();
        names.sort_unstable();
        let mut deposits: Vec<Tx> = parts.iter().flat_map(|q| q.deposits.iter().cloned()).collect();
        deposits.sort();
        Placement { party: Arc::from(names.join(" + ")), total: parts.iter().map(|q| q.total).sum(), deposits }
    }

    /// Marks a match's legs used (no later match takes them) and its deposits and legs
    /// matched, and counts the match by how it was found.
    pub(super) fn claim<'a>(&mut self, legs: impl IntoIterator<Item = &'a u64>, deposits: &[Tx], how: &str) {
        mirrorflow_core::metrics::metrics().mirror_matches.with_label_values(&[how]).inc();
        for id in legs {
            if let Some(l) = self.legs.get_mut(id) {
                l.used = true;
                self.by_value.remove(&(l.kind, l.tx.usd, l.tx.seq));
                self.matched.insert(l.tx.seq);
            }
        }
        for d in deposits {
            self.matched.insert(d.seq);
        }
    }

    /// Marks a match's legs and deposits used and alerts it.
    fn matched_swap(
        &mut self,
        p: Placement,
        legs: Vec<u64>,
        ramps: Vec<Tx>,
        how: &str,
        ctx: &DetectCtx,
        out: &mut Vec<Alert>,
    ) {
        self.claim(&legs, &p.deposits, how);
        let legs: Vec<SwapLeg> =
            legs.iter().filter_map(|id| self.legs.get(id)).map(|l| (l.kind, l.tx.clone(), l.broker.clone())).collect();
        self.stats.swaps += 1;
        let alert = self.swap_alert(&Swap { p: &p, legs: &legs, ramps: &ramps, how }, ctx);
        self.history.entry(p.party.clone()).or_default().push(alert.alert_id.clone());
        out.push(alert);
    }
}
