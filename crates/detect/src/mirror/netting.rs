//! Netted books: a party whose US cash over 1-7 days is balanced within
//! `netting-tolerance` by its CNY inflows or its MXN outflows, with no single pair of legs
//! matching; judged a day after the window's last day, so one-to-one matches are taken
//! first and not alerted twice.
//!
//! Owns: `judge_netting`, the netting window (`netting_window`) and the netted alert
//! (rule `mirror_netted`).
//! Must not: take a deposit or leg already matched one to one, or net a single leg a side
//! (a pair of legs is the swap matcher's, judged by its bands and window).

use std::sync::Arc;

use super::alert::{day_text, jurisdictions, link_words, links_json, pct2, round_score, t6_alert, tx_json};
use super::legs::rate_of;
use super::placements::{Tx, stacked};
use super::{KEY_TERM, MirrorDetector, NETTED_RULE_ID};
use crate::party::Link;
use mirrorflow_core::alert::Alert;
use mirrorflow_core::alert::build::{deviation_pct, usd_text};
use mirrorflow_core::detect::DetectCtx;

/// A party's netting window that balanced: its days and the balanced sides.
struct Books<'a> {
    party: &'a Arc<str>,
    start: i64,
    end: i64,
    us: Vec<Tx>,
    cn: Vec<Tx>,
    mx: Vec<Tx>,
}

/// What the netted alert says of its books.
struct Facts<'a> {
    /// US cash, CNY in and MXN out (USD micro-dollars).
    u: i128,
    c: i128,
    x: i128,
    /// The party's accounts in the books, and with them the counterparties.
    accounts: Vec<&'a str>,
    all: Vec<&'a str>,
    links: Vec<Link>,
    stack: Vec<&'static str>,
    prior: usize,
    score: f64,
}

fn total(v: &[Tx]) -> i128 {
    v.iter().map(|t| t.usd).sum::<i128>()
}

impl MirrorDetector {
    /// Netting windows of every party that end on day `d`.
    pub(super) fn judge_netting(&mut self, d: i64, ctx: &DetectCtx, out: &mut Vec<Alert>) {
        let mut parties: Vec<Arc<str>> = self
            .days
            .iter()
            .filter(|(_, m)| m.range(d - i64::from(self.cfg.netting_days.1) + 1..=d).any(|(_, s)| !s.us.is_empty()))
            .filter(|(_, m)| m.contains_key(&d))
            .map(|(p, _)| p.clone())
            .collect();
        parties.sort();
        for party in parties {
            let Some((start, us, cn, mx)) = self.netting_window(&party, d) else { continue };
            self.netted_through.insert(party.clone(), d);
            for t in us.iter().chain(&cn).chain(&mx) {
                self.matched.insert(t.seq);
            }
            self.stats.netted += 1;
            mirrorflow_core::metrics::metrics().mirror_matches.with_label_values(&["netted"]).inc();
            let books = Books { party: &party, start, end: d, us, cn, mx };
            let alert = self.netted_alert(&books, ctx);
            self.history.entry(party.clone()).or_default().push(alert.alert_id.clone());
            out.push(alert);
        }
    }

    /// The shortest window of `party`'s days ending on `d` (after the days it was last
    /// alerted through) whose unmatched US cash a side balances: (first day, US cash, CNY
    /// in, MXN out), a side that does not balance left empty.
    #[allow(clippy::type_complexity)]
    fn netting_window(&mut self, party: &Arc<str>, d: i64) -> Option<(i64, Vec<Tx>, Vec<Tx>, Vec<Tx>)> {
        let tol = self.cfg.netting_bp;
        let through = self.netted_through.get(party).copied().unwrap_or(i64::MIN);
        let m = self.days.get(party)?;
        let unmatched =
            |v: &Vec<Tx>| -> Vec<Tx> { v.iter().filter(|t| !self.matched.contains(&t.seq)).cloned().collect() };
        for w in self.cfg.netting_days.0..=self.cfg.netting_days.1 {
            let start = d - i64::from(w) + 1;
            if start <= through {
                break;
            }
            let (mut us, mut cn, mut mx) = (Vec::new(), Vec::new(), Vec::new());
            for (_, s) in m.range(start..=d) {
                us.extend(unmatched(&s.us));
                cn.extend(unmatched(&s.cny));
                mx.extend(unmatched(&s.mxn));
            }
            let (u, c, x) = (total(&us), total(&cn), total(&mx));
            if u < self.cfg.netting_min_usd || (c == 0 && x == 0) {
                continue;
            }
            // a side balances the cash within the tolerance; a side that does not is
            // left out of the evidence (its flows may be the party's other business)
            let balanced = |side: i128| side > 0 && (side - u).abs() * 10_000 <= u * tol;
            if balanced(c) || balanced(x) {
                let cn = if balanced(c) { cn } else { Vec::new() };
                let mx = if balanced(x) { mx } else { Vec::new() };
                // netting is a book of several flows: one CNY credit and one MXN payout
                // are a pair of legs, judged by the swap matcher's bands and window
                if cn.len() < 2 && mx.len() < 2 {
                    self.stats.netting_single_legs += 1;
                    continue;
                }
                return Some((start, us, cn, mx));
            }
        }
        None
    }

    fn netted_alert(&self, b: &Books, ctx: &DetectCtx) -> Alert {
        let f = self.netted_facts(b, ctx);
        let mut evidence: Vec<&Tx> = b.us.iter().chain(&b.cn).chain(&b.mx).collect();
        evidence.sort();
        let mut a = t6_alert(NETTED_RULE_ID, &evidence, &f.all, f.score, f.u, ctx);
        a.details = self.netted_details(b, &f, ctx);
        a.narrative = self.netted_narrative(b, &f, ctx);
        a
    }

    /// The sums, accounts, links, stacked typologies and score of netted books.
    fn netted_facts<'a>(&self, b: &'a Books, ctx: &DetectCtx) -> Facts<'a> {
        let (u, c, x) = (total(&b.us), total(&b.cn), total(&b.mx));
        let mut accounts: Vec<&str> = b.us.iter().map(|t| &*t.dst).collect();
        accounts.extend(b.cn.iter().map(|t| &*t.dst));
        accounts.extend(b.mx.iter().map(|t| &*t.src));
        accounts.sort_unstable();
        accounts.dedup();
        let links = self.parties().links_between(&accounts);
        let mut all: Vec<&str> = accounts.clone();
        all.extend(b.cn.iter().map(|t| &*t.src));
        all.extend(b.mx.iter().map(|t| &*t.dst));
        let stack = stacked(&b.us, self.cfg.band, ctx);
        let prior = self.history.get(b.party).map_or(0, Vec::len);
        let mut score = 0.55 + 0.05 * stack.len() as f64;
        if c > 0 && x > 0 {
            score += 0.15;
        }
        if links.iter().any(|l| l.reason == "customer_id") {
            score += 0.05;
        }
        if prior > 0 {
            score += 0.05;
        }
        let score = round_score(score);
        Facts { u, c, x, accounts, all, links, stack, prior, score }
    }

    fn netted_narrative(&self, b: &Books, f: &Facts, ctx: &DetectCtx) -> String {
        let days = b.end - b.start + 1;
        let u = f.u;
        let side = |name: &str, v: i128, n: usize| {
            if n == 0 {
                String::new()
            } else {
                format!("; {name} USD {} in {n} transfer(s) ({:+.1}%)", usd_text(v), deviation_pct(v, u))
            }
        };
        format!(
            "Suspected netted mirror transfers by a Chinese money-laundering network ({KEY_TERM}). Who: party {} \
             (accounts {}){}. What: over {days} day(s) from {} to {}, USD {} of cash placed in its US accounts in {} \
             deposit(s) is balanced by its foreign flows{}{}, within {:.0}%, though no single pair of legs matches. \
             Where: {}. Why: a broker's daily US cash and its CNY and MXN flows that net to the same value are the \
             books of a mirror swap settled in bulk; the accounts are one party because {}{}. How: value moves \
             between the United States, China and Mexico by offsetting balances, with no cross-border transfer.",
            b.party,
            f.accounts.join(", "),
            if f.prior > 0 { format!(", seen in {} earlier alert(s)", f.prior) } else { String::new() },
            day_text(b.start),
            day_text(b.end),
            usd_text(u),
            b.us.len(),
            side("CNY credits into its Chinese accounts worth", f.c, b.cn.len()),
            side("MXN payouts from its Mexican accounts worth", f.x, b.mx.len()),
            self.cfg.netting_bp as f64 / 100.0,
            jurisdictions(&f.all, ctx).join(", "),
            if f.links.is_empty() { "they are one account".to_string() } else { link_words(&f.links) },
            if f.stack.is_empty() { String::new() } else { format!("; the deposits also show {}", f.stack.join(", ")) },
        )
    }

    fn netted_details(&self, b: &Books, f: &Facts, ctx: &DetectCtx) -> serde_json::Value {
        let (u, c, x) = (f.u, f.c, f.x);
        let with_rate = |t: &Tx| {
            let mut j = tx_json(t);
            j["fx_rate_usd_per_unit"] = rate_of(ctx, t).into();
            j
        };
        serde_json::json!({
            "match": "netted",
            "party": &**b.party,
            "days": [day_text(b.start), day_text(b.end)],
            "us_cash_usd": usd_text(u),
            "cny_in_usd": usd_text(c),
            "mxn_out_usd": usd_text(x),
            "cny_vs_us_pct": if c > 0 { Some(pct2(deviation_pct(c, u))) } else { None },
            "mxn_vs_us_pct": if x > 0 { Some(pct2(deviation_pct(x, u))) } else { None },
            "us_cash": b.us.iter().map(tx_json).collect::<Vec<_>>(),
            "cny_legs": b.cn.iter().map(with_rate).collect::<Vec<_>>(),
            "mxn_legs": b.mx.iter().map(with_rate).collect::<Vec<_>>(),
            "party_links": links_json(&f.links),
            "stacked_typologies": f.stack,
            "earlier_alerts_of_party": self.history.get(b.party).cloned().unwrap_or_default(),
            "params": {
                "netting_tolerance_pct": self.cfg.netting_bp as f64 / 100.0,
                "days": [self.cfg.netting_days.0, self.cfg.netting_days.1],
            },
        })
    }
}
