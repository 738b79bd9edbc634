//! Scoring alerts against labelled schemes (`mirrorflow eval`).
//!
//! Owns: reading the labels (`labels.csv` from `mirrorflow gen`:
//! `tx_id,scheme_id,typology[,variant]`, or IBM AMLSim's alert-transaction file:
//! `alert_id,alert_type,is_sar,tran_id,...`, or AMLSim's own `transactions.csv` with its
//! `alert_id` column (typology `unknown`); told apart by the header; `.gz` accepted),
//! `alerts.jsonl` (one alert per line; only `alert_id`, `typology`, `subjects` and `tx_ids`
//! are read) and, optionally, `populations.csv` (`account_id,population`); the scoring
//! definitions below; and the report, as a table or JSON.
//! Must not: read transactions or run detection; it compares two lists of ids.
//!
//! Definitions (also printed under the table):
//! - A scheme is the set of transactions labelled with one `scheme_id` (AMLSim:
//!   `alert_id`; rows with `is_sar` false or `alert_id` -1 skipped). Its typology is
//!   `typology` (AMLSim: `alert_type`).
//! - A scheme is *detected* when one alert's `tx_ids` cover at least half of the scheme's
//!   labelled transactions, whatever the alert's typology; *detected as itself* when that
//!   alert also carries the scheme's typology (AMLSim pattern names are mapped: fan_in /
//!   fan_out -> T8, cycle -> T7, scatter_gather / gather_scatter -> T9, bipartite / stack
//!   -> T10).
//! - Scheme recall of a typology = detected schemes / schemes.
//! - An alert is *true* when it detects at least one scheme, or when at least half of its
//!   (distinct) `tx_ids` are labelled. Alert precision = true alerts / alerts, overall and
//!   by the alert's typology.
//! - Transaction level: precision, recall and F1 of the union of all alerts' `tx_ids`
//!   against the union of all labelled transactions.
//! - With populations: for each population other than `scheme`, the alerts whose
//!   `subjects` include at least one of its accounts, and how many of those are not true
//!   (the look-alike and near-miss check).
//! - Mirror swaps (labels with a `leg` column): a swap is *linked* when one T6 alert holds
//!   its US cash and a CN or MX leg, and *whole* when one T6 alert holds all its US cash
//!   and all its CN / MX legs. Each swap that is not linked is listed with the number of
//!   T6 alerts holding some of its cash and some of its legs: `split` (both, in different
//!   alerts), `cash only`, `legs only` or `not alerted`, which tells a detector that cut
//!   an event apart from one that never saw it.
//! - A ratio with a zero denominator is reported as `-` (`null` in JSON).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use mirrorflow_core::error::{Error, Result};

/// What to score.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub labels: PathBuf,
    pub alerts: PathBuf,
    pub populations: Option<PathBuf>,
}

/// Scores of one scheme typology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypologyScore {
    pub typology: String,
    pub schemes: u64,
    /// Detected by any alert.
    pub detected: u64,
    pub recall: Option<f64>,
    /// Detected by an alert of the same typology.
    pub detected_as_itself: u64,
    pub recall_as_itself: Option<f64>,
    /// Ids of the schemes no alert detected, in label-file order.
    pub missed: Vec<String>,
}

/// Scores of one (typology, variant), for labels that carry a variant (mirror swaps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantScore {
    pub typology: String,
    pub variant: String,
    pub schemes: u64,
    pub detected: u64,
    pub recall: Option<f64>,
}

/// Precision of the alerts of one typology (the alert's own `typology`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertScore {
    pub typology: String,
    pub alerts: u64,
    pub true_alerts: u64,
    pub precision: Option<f64>,
}

/// Transaction-level scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxScore {
    pub labelled: u64,
    pub alerted: u64,
    pub true_positives: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// Alerts touching one (non-scheme) population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationScore {
    pub population: String,
    pub accounts: u64,
    /// Alerts with at least one subject in the population.
    pub alerts: u64,
    /// Of those, alerts that are not true.
    pub false_alerts: u64,
}

/// The evaluation: scheme recall, alert precision, transaction-level scores, and the
/// look-alike check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// `mirrorflow` or `amlsim`.
    pub labels_format: String,
    pub schemes: u64,
    pub detected: u64,
    pub recall: Option<f64>,
    pub alerts: u64,
    pub true_alerts: u64,
    pub precision: Option<f64>,
    pub by_typology: Vec<TypologyScore>,
    pub by_variant: Vec<VariantScore>,
    pub by_alert_typology: Vec<AlertScore>,
    pub transactions: TxScore,
    /// Present when a populations file was given.
    pub populations: Option<Vec<PopulationScore>>,
    /// Mirror swaps whose US cash and a CN or MX leg are in one T6 alert (present when
    /// the labels carry a `leg` column with mirror legs).
    pub mirror_linkage: Option<Vec<LinkageScore>>,
    /// The mirror swaps that are not linked, each with where its cash and legs went (in
    /// label-file order; present with `mirror_linkage`).
    pub unlinked_swaps: Option<Vec<UnlinkedSwap>>,
}

/// A mirror swap no T6 alert links: how many T6 alerts hold some of its US cash and how
/// many some of its CN / MX legs, and what that says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnlinkedSwap {
    pub scheme_id: String,
    pub variant: String,
    /// Its labelled US cash deposits and CN / MX legs.
    pub us_cash: u64,
    pub legs: u64,
    /// T6 alerts holding at least one of its cash deposits / legs.
    pub cash_alerts: u64,
    pub leg_alerts: u64,
    /// `split` (cash and legs in different T6 alerts), `cash only`, `legs only`, or
    /// `not alerted` (no T6 alert holds any of it).
    pub why: String,
}

/// Mirror swaps (T6 schemes) of one variant, or `all`: how many have their US cash and a
/// CN or MX leg in one T6 alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkageScore {
    pub variant: String,
    pub swaps: u64,
    pub linked: u64,
    pub share: Option<f64>,
    /// Swaps whose US cash and CN / MX legs are all in one T6 alert (the whole event in
    /// one place for the analyst, not only a link).
    pub whole: u64,
    pub whole_share: Option<f64>,
}

/// The definitions, as printed under the table.
pub const DEFINITIONS: &str = "\
definitions:
  detected        one alert's tx_ids cover at least half of the scheme's labelled transactions
                  (as itself: that alert also has the scheme's typology)
  recall          detected schemes / schemes
  true alert      detects at least one scheme, or at least half of its tx_ids are labelled
  precision       true alerts / alerts
  transactions    union of alert tx_ids vs union of labelled tx_ids
  populations     alerts whose subjects include an account of the population (false = not true)
  linked          a mirror swap whose US cash and a CN or MX leg are in one T6 alert
                  (labels' `leg` column: us_cash, cn, mx)
  whole           a mirror swap whose US cash and CN / MX legs are all in one T6 alert
  not linked      split: its cash and its legs are in different T6 alerts; cash only /
                  legs only: no T6 alert holds the other; not alerted: no T6 alert holds
                  any of them
  -               no denominator (nothing to score)";

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Scores `opts.alerts` against `opts.labels`.
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport> {
    let labels = read_labels(&opts.labels)?;
    let alerts = read_alerts(&opts.alerts)?;
    let populations = match &opts.populations {
        Some(p) => Some(read_populations(p)?),
        None => None,
    };
    Ok(score(&labels, &alerts, populations.as_ref()))
}

// ---------------------------------------------------------------------------------------
// Inputs.

/// Which label file dialect was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelsFormat {
    Mirrorflow,
    AmlSim,
}

struct Scheme {
    id: String,
    typology: String,
    variant: String,
    /// Distinct labelled transactions (indices into `Labels::tx_ids`).
    txs: Vec<u32>,
    /// Mirror swaps: the US cash (`leg` = us_cash) and the CN / MX legs.
    us_cash: Vec<u32>,
    foreign: Vec<u32>,
}

impl Scheme {
    /// A mirror swap: labelled US cash and CN / MX legs.
    fn is_swap(&self) -> bool {
        !self.us_cash.is_empty() && !self.foreign.is_empty()
    }
}

struct Labels {
    format: LabelsFormat,
    schemes: Vec<Scheme>,
    /// Labelled tx id -> index.
    tx_index: HashMap<String, u32>,
    /// Per labelled tx, the schemes it is in.
    tx_schemes: Vec<Vec<u32>>,
}

/// The fields of an alert that scoring needs.
#[derive(Debug, Deserialize)]
struct AlertIn {
    #[serde(default)]
    typology: String,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    tx_ids: Vec<String>,
}

fn open_lines(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let inner: Box<dyn Read> = if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
    Ok(Box::new(BufReader::with_capacity(1 << 16, inner)))
}

/// Calls `f(line_number, line)` for every line (1-based, `\r` and a leading BOM removed).
fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let mut reader = open_lines(path)?;
    let mut buf = String::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader.read_line(&mut buf).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let mut line = buf.trim_end_matches(['\n', '\r']);
        if n == 1 {
            line = line.trim_start_matches('\u{feff}');
        }
        f(n, line)?;
    }
}

/// Splits one CSV line with RFC 4180 quoting (a quoted field may hold commas and `""`).
pub fn split_csv(line: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("has an unterminated quoted field");
    }
    out.push(cur);
    Ok(out)
}

fn line_error(path: &Path, line: usize, what: impl std::fmt::Display) -> Error {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    Error::input(path, format!("line {line} of `{name}` {what}"))
}

/// Reads a CSV file: `f(line, fields, is_header)` for the header, then for each non-blank
/// row, each row checked to have as many fields as the header.
fn read_csv(path: &Path, mut f: impl FnMut(usize, &[String], bool) -> Result<()>) -> Result<()> {
    let mut width = None;
    for_each_line(path, |n, line| {
        if width.is_some() && line.trim().is_empty() {
            return Ok(());
        }
        let fields = split_csv(line).map_err(|e| line_error(path, n, e))?;
        match width {
            None => {
                width = Some(fields.len());
                f(n, &fields, true)
            }
            Some(w) if fields.len() != w => {
                Err(line_error(path, n, format!("has {} fields, the header has {w}", fields.len())))
            }
            Some(_) => f(n, &fields, false),
        }
    })?;
    if width.is_none() {
        return Err(Error::input(path, "the file is empty (no header line)"));
    }
    Ok(())
}

fn column(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h.trim() == name)
}

fn read_labels(path: &Path) -> Result<Labels> {
    let mut format = LabelsFormat::Mirrorflow;
    // tx, scheme, typology (absent in AMLSim's transactions.csv), variant, is_sar
    let mut cols: (usize, usize, Option<usize>, Option<usize>, Option<usize>) = (0, 0, None, None, None);
    let mut leg_col: Option<usize> = None;
    let mut schemes: Vec<Scheme> = Vec::new();
    let mut scheme_index: HashMap<String, u32> = HashMap::new();
    let mut tx_index: HashMap<String, u32> = HashMap::new();
    let mut tx_schemes: Vec<Vec<u32>> = Vec::new();
    read_csv(path, |n, f, header| {
        if header {
            return if let (Some(tx), Some(s), Some(t)) =
                (column(f, "tx_id"), column(f, "scheme_id"), column(f, "typology"))
            {
                cols = (tx, s, Some(t), column(f, "variant"), None);
                leg_col = column(f, "leg");
                Ok(())
            } else if let (Some(tx), Some(s)) = (column(f, "tran_id"), column(f, "alert_id")) {
                format = LabelsFormat::AmlSim;
                cols = (tx, s, column(f, "alert_type"), None, column(f, "is_sar"));
                Ok(())
            } else {
                Err(Error::input(
                    path,
                    "the header has neither `tx_id,scheme_id,typology` (mirrorflow labels) \
                     nor `alert_id,tran_id` (AMLSim alert transactions or transactions)",
                ))
            };
        }
        let (tx, scheme, typology, variant, is_sar) = cols;
        if let Some(c) = is_sar {
            match f[c].trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "yes" => {}
                "false" | "0" | "f" | "no" => return Ok(()),
                other => return Err(line_error(path, n, format!("has is_sar `{other}`, expected true or false"))),
            }
        }
        let tx_id = f[tx].trim();
        let scheme_id = f[scheme].trim();
        if format == LabelsFormat::AmlSim && scheme_id == "-1" {
            return Ok(()); // AMLSim's transactions.csv: not in any alert
        }
        if tx_id.is_empty() || scheme_id.is_empty() {
            return Err(line_error(path, n, "has an empty transaction or scheme id"));
        }
        let s = *scheme_index.entry(scheme_id.to_string()).or_insert_with(|| {
            schemes.push(Scheme {
                id: scheme_id.to_string(),
                typology: typology.map(|c| f[c].trim().to_string()).unwrap_or_else(|| "unknown".into()),
                variant: variant.map(|c| f[c].trim().to_string()).unwrap_or_default(),
                txs: Vec::new(),
                us_cash: Vec::new(),
                foreign: Vec::new(),
            });
            schemes.len() as u32 - 1
        });
        let t = *tx_index.entry(tx_id.to_string()).or_insert_with(|| {
            tx_schemes.push(Vec::new());
            tx_schemes.len() as u32 - 1
        });
        if !tx_schemes[t as usize].contains(&s) {
            tx_schemes[t as usize].push(s);
            schemes[s as usize].txs.push(t);
            match leg_col.map(|c| f[c].trim()) {
                Some("us_cash") => schemes[s as usize].us_cash.push(t),
                Some("cn" | "mx") => schemes[s as usize].foreign.push(t),
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(Labels { format, schemes, tx_index, tx_schemes })
}

fn read_alerts(path: &Path) -> Result<Vec<AlertIn>> {
    let mut alerts = Vec::new();
    for_each_line(path, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let a: AlertIn =
            serde_json::from_str(line).map_err(|e| line_error(path, n, format!("is not an alert: {e}")))?;
        alerts.push(a);
        Ok(())
    })?;
    Ok(alerts)
}

/// Account id -> population.
fn read_populations(path: &Path) -> Result<HashMap<String, String>> {
    let mut cols = (0, 0);
    let mut map = HashMap::new();
    read_csv(path, |n, f, header| {
        if header {
            return match (column(f, "account_id"), column(f, "population")) {
                (Some(a), Some(p)) => {
                    cols = (a, p);
                    Ok(())
                }
                _ => Err(Error::input(path, "the header lacks `account_id` and `population`")),
            };
        }
        let id = f[cols.0].trim();
        if id.is_empty() {
            return Err(line_error(path, n, "has an empty account_id"));
        }
        map.insert(id.to_string(), f[cols.1].trim().to_string());
        Ok(())
    })?;
    Ok(map)
}

// ---------------------------------------------------------------------------------------
// Scoring.

/// Our typology code for an AMLSim pattern name (others are kept as they are).
fn canonical_typology(t: &str) -> &str {
    match t.to_ascii_lowercase().as_str() {
        "fan_in" | "fan_out" | "fan-in" | "fan-out" => "T8",
        "cycle" => "T7",
        "scatter_gather" | "gather_scatter" | "scatter-gather" | "gather-scatter" => "T9",
        "bipartite" | "stack" => "T10",
        _ => t,
    }
}

/// Sorts typology names as T1, T2, ..., T13, then the rest alphabetically.
fn typology_key(t: &str) -> (u32, String) {
    match t.strip_prefix('T').and_then(|n| n.parse::<u32>().ok()) {
        Some(n) => (n, String::new()),
        None => (u32::MAX, t.to_string()),
    }
}

/// Where one mirror scheme's cash and legs went in the T6 alerts.
#[derive(Default, Clone, Copy)]
struct SwapTouch {
    /// One T6 alert holds both its US cash and a foreign leg.
    linked: bool,
    /// T6 alerts holding some of its US cash / some of its legs.
    cash_alerts: u64,
    leg_alerts: u64,
    /// One T6 alert holds all its US cash and all its legs.
    whole: bool,
}

/// Which schemes the alerts detected and which alerts are true (see the module docs).
struct Matched<'a> {
    /// Per scheme: one alert holds at least half of its labelled transactions.
    detected: Vec<bool>,
    /// ... in an alert of the scheme's own typology.
    detected_self: Vec<bool>,
    /// Per alert: it detects a scheme, or at least half its transactions are labelled.
    alert_true: Vec<bool>,
    /// Per mirror scheme: where its cash and legs went in the T6 alerts.
    touch: Vec<SwapTouch>,
    /// Every transaction in some alert.
    alerted: HashSet<&'a str>,
}

fn score(labels: &Labels, alerts: &[AlertIn], populations: Option<&HashMap<String, String>>) -> EvalReport {
    let n_schemes = labels.schemes.len();
    let m = match_alerts(labels, alerts);
    let (by_typology, by_variant) = by_scheme(labels, &m);
    let populations = populations.map(|pops| population_scores(pops, alerts, &m.alert_true));
    let n_detected = m.detected.iter().filter(|&&d| d).count() as u64;
    let n_true = m.alert_true.iter().filter(|&&t| t).count() as u64;
    EvalReport {
        labels_format: match labels.format {
            LabelsFormat::Mirrorflow => "mirrorflow",
            LabelsFormat::AmlSim => "amlsim",
        }
        .to_string(),
        schemes: n_schemes as u64,
        detected: n_detected,
        recall: ratio(n_detected, n_schemes as u64),
        alerts: alerts.len() as u64,
        true_alerts: n_true,
        precision: ratio(n_true, alerts.len() as u64),
        by_typology,
        by_variant,
        by_alert_typology: by_alert_typology(alerts, &m.alert_true),
        transactions: tx_score(labels, &m.alerted),
        populations,
        mirror_linkage: mirror_linkage(labels, &m.touch),
        unlinked_swaps: unlinked_swaps(labels, &m.touch),
    }
}

/// Matches every alert to the schemes whose labelled transactions it holds.
fn match_alerts<'a>(labels: &Labels, alerts: &'a [AlertIn]) -> Matched<'a> {
    let n_schemes = labels.schemes.len();
    let mut detected = vec![false; n_schemes];
    let mut detected_self = vec![false; n_schemes];
    let mut alert_true = vec![false; alerts.len()];
    let mut touch = vec![SwapTouch::default(); n_schemes];
    let mut alerted: HashSet<&str> = HashSet::new();
    for (ai, a) in alerts.iter().enumerate() {
        let ids: BTreeSet<&str> = a.tx_ids.iter().map(String::as_str).collect();
        let mut hits: HashMap<u32, u32> = HashMap::new();
        let mut labelled = 0usize;
        let mut in_alert: HashSet<u32> = HashSet::new();
        for id in &ids {
            alerted.insert(id);
            if let Some(&t) = labels.tx_index.get(*id) {
                labelled += 1;
                in_alert.insert(t);
                for &s in &labels.tx_schemes[t as usize] {
                    *hits.entry(s).or_default() += 1;
                }
            }
        }
        let alert_typ = canonical_typology(a.typology.trim());
        let mut counts = false;
        for (&s, &h) in &hits {
            let scheme = &labels.schemes[s as usize];
            if h as usize * 2 >= scheme.txs.len() {
                counts = true;
                detected[s as usize] = true;
                if canonical_typology(&scheme.typology) == alert_typ {
                    detected_self[s as usize] = true;
                }
            }
        }
        alert_true[ai] = counts || (!ids.is_empty() && labelled * 2 >= ids.len());
        if alert_typ == "T6" {
            let held = |v: &[u32]| v.iter().filter(|t| in_alert.contains(t)).count();
            for &s in hits.keys() {
                let scheme = &labels.schemes[s as usize];
                let (cash, legs) = (held(&scheme.us_cash), held(&scheme.foreign));
                let t = &mut touch[s as usize];
                t.cash_alerts += u64::from(cash > 0);
                t.leg_alerts += u64::from(legs > 0);
                if cash > 0 && legs > 0 {
                    t.linked = true;
                    t.whole |= cash == scheme.us_cash.len() && legs == scheme.foreign.len();
                }
            }
        }
    }
    Matched { detected, detected_self, alert_true, touch, alerted }
}

/// Mirror linkage, by variant and in all (`all` last); `None` without mirror schemes.
fn mirror_linkage(labels: &Labels, touch: &[SwapTouch]) -> Option<Vec<LinkageScore>> {
    let mut link_var: BTreeMap<String, LinkageScore> = BTreeMap::new();
    for (i, s) in labels.schemes.iter().enumerate() {
        if !s.is_swap() {
            continue;
        }
        for v in [s.variant.as_str(), "all"] {
            let e = link_var.entry(v.to_string()).or_insert_with(|| LinkageScore {
                variant: v.to_string(),
                swaps: 0,
                linked: 0,
                share: None,
                whole: 0,
                whole_share: None,
            });
            e.swaps += 1;
            e.linked += touch[i].linked as u64;
            e.whole += touch[i].whole as u64;
        }
    }
    (!link_var.is_empty()).then(|| {
        let mut v: Vec<LinkageScore> = link_var
            .into_values()
            .map(|mut l| {
                l.share = ratio(l.linked, l.swaps);
                l.whole_share = ratio(l.whole, l.swaps);
                l
            })
            .collect();
        // `all` last
        v.sort_by_key(|l| l.variant == "all");
        v
    })
}

/// The mirror swaps no T6 alert links, and where their cash and legs went; `None`
/// without mirror schemes.
fn unlinked_swaps(labels: &Labels, touch: &[SwapTouch]) -> Option<Vec<UnlinkedSwap>> {
    let mut any = false;
    let mut out = Vec::new();
    for (i, s) in labels.schemes.iter().enumerate() {
        if !s.is_swap() {
            continue;
        }
        any = true;
        let t = touch[i];
        if t.linked {
            continue;
        }
        let why = match (t.cash_alerts > 0, t.leg_alerts > 0) {
            (true, true) => "split",
            (true, false) => "cash only",
            (false, true) => "legs only",
            (false, false) => "not alerted",
        };
        out.push(UnlinkedSwap {
            scheme_id: s.id.clone(),
            variant: s.variant.clone(),
            us_cash: s.us_cash.len() as u64,
            legs: s.foreign.len() as u64,
            cash_alerts: t.cash_alerts,
            leg_alerts: t.leg_alerts,
            why: why.to_string(),
        });
    }
    any.then_some(out)
}

/// Recall by scheme typology and by variant.
fn by_scheme(labels: &Labels, m: &Matched) -> (Vec<TypologyScore>, Vec<VariantScore>) {
    let (detected, detected_self) = (&m.detected, &m.detected_self);
    let mut by_typ: BTreeMap<(u32, String), TypologyScore> = BTreeMap::new();
    let mut by_var: BTreeMap<((u32, String), String), VariantScore> = BTreeMap::new();
    for (i, s) in labels.schemes.iter().enumerate() {
        let e = by_typ.entry(typology_key(&s.typology)).or_insert_with(|| TypologyScore {
            typology: s.typology.clone(),
            schemes: 0,
            detected: 0,
            recall: None,
            detected_as_itself: 0,
            recall_as_itself: None,
            missed: Vec::new(),
        });
        e.schemes += 1;
        e.detected += detected[i] as u64;
        if !detected[i] {
            e.missed.push(s.id.clone());
        }
        e.detected_as_itself += detected_self[i] as u64;
        if !s.variant.is_empty() {
            let v = by_var.entry((typology_key(&s.typology), s.variant.clone())).or_insert_with(|| VariantScore {
                typology: s.typology.clone(),
                variant: s.variant.clone(),
                schemes: 0,
                detected: 0,
                recall: None,
            });
            v.schemes += 1;
            v.detected += detected[i] as u64;
        }
    }
    let by_typology: Vec<TypologyScore> = by_typ
        .into_values()
        .map(|mut t| {
            t.recall = ratio(t.detected, t.schemes);
            t.recall_as_itself = ratio(t.detected_as_itself, t.schemes);
            t
        })
        .collect();
    let by_variant: Vec<VariantScore> = by_var
        .into_values()
        .map(|mut v| {
            v.recall = ratio(v.detected, v.schemes);
            v
        })
        .collect();

    (by_typology, by_variant)
}

/// Precision by the alerts' typology.
fn by_alert_typology(alerts: &[AlertIn], alert_true: &[bool]) -> Vec<AlertScore> {
    let mut by_alert: BTreeMap<(u32, String), AlertScore> = BTreeMap::new();
    for (a, &ok) in alerts.iter().zip(alert_true) {
        let t = a.typology.trim();
        let e = by_alert.entry(typology_key(t)).or_insert_with(|| AlertScore {
            typology: t.to_string(),
            alerts: 0,
            true_alerts: 0,
            precision: None,
        });
        e.alerts += 1;
        e.true_alerts += ok as u64;
    }
    by_alert
        .into_values()
        .map(|mut a| {
            a.precision = ratio(a.true_alerts, a.alerts);
            a
        })
        .collect()
}

/// Transactions: labelled ones in some alert, against all alerted and all labelled.
fn tx_score(labels: &Labels, alerted: &HashSet<&str>) -> TxScore {
    let labelled = labels.tx_index.len() as u64;
    let tp = alerted.iter().filter(|id| labels.tx_index.contains_key(**id)).count() as u64;
    let precision = ratio(tp, alerted.len() as u64);
    let recall = ratio(tp, labelled);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    TxScore { labelled, alerted: alerted.len() as u64, true_positives: tp, precision, recall, f1 }
}

/// Look-alike populations: how many of their accounts' alerts are false.
fn population_scores(pops: &HashMap<String, String>, alerts: &[AlertIn], alert_true: &[bool]) -> Vec<PopulationScore> {
    let mut out: BTreeMap<String, PopulationScore> = BTreeMap::new();
    for p in pops.values().filter(|p| p.as_str() != "scheme") {
        out.entry(p.clone())
            .or_insert_with(|| PopulationScore { population: p.clone(), accounts: 0, alerts: 0, false_alerts: 0 })
            .accounts += 1;
    }
    for (a, &ok) in alerts.iter().zip(alert_true) {
        let touched: BTreeSet<&str> = a.subjects.iter().filter_map(|s| pops.get(s)).map(String::as_str).collect();
        for p in touched {
            if let Some(e) = out.get_mut(p) {
                e.alerts += 1;
                e.false_alerts += !ok as u64;
            }
        }
    }
    out.into_values().collect()
}

// ---------------------------------------------------------------------------------------
// Output.

/// Missed scheme ids shown per typology in the table (JSON has them all).
const MISSED_SHOWN: usize = 5;

fn pct(r: Option<f64>) -> String {
    match r {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "-".to_string(),
    }
}

/// A plain-text table: a header row, then rows; the first `text` columns are left-aligned,
/// the rest (numbers) right-aligned.
fn render(out: &mut String, title: &str, text: usize, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let _ = writeln!(out, "{title}");
    let line = |out: &mut String, cells: &[String]| {
        let mut s = String::from(" ");
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i < text {
                let _ = write!(s, "{}{c:<w$}", if i == 0 { " " } else { "  " });
            } else {
                let _ = write!(s, "  {c:>w$}");
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, &header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        line(out, r);
    }
    out.push('\n');
}

impl EvalReport {
    /// The report as text tables, with the definitions underneath.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "labels: {} format\n", self.labels_format);
        let mut rows: Vec<Vec<String>> = self
            .by_typology
            .iter()
            .map(|t| {
                vec![
                    t.typology.clone(),
                    t.schemes.to_string(),
                    t.detected.to_string(),
                    pct(t.recall),
                    t.detected_as_itself.to_string(),
                    pct(t.recall_as_itself),
                ]
            })
            .collect();
        let itself: u64 = self.by_typology.iter().map(|t| t.detected_as_itself).sum();
        rows.push(vec![
            "all".into(),
            self.schemes.to_string(),
            self.detected.to_string(),
            pct(self.recall),
            itself.to_string(),
            pct(ratio(itself, self.schemes)),
        ]);
        render(
            &mut out,
            "schemes by typology",
            1,
            &["typology", "schemes", "detected", "recall", "as itself", "recall as itself"],
            &rows,
        );
        let missed: Vec<Vec<String>> = self
            .by_typology
            .iter()
            .filter(|t| !t.missed.is_empty())
            .map(|t| {
                let mut ids = t.missed.iter().take(MISSED_SHOWN).cloned().collect::<Vec<_>>().join(" ");
                if t.missed.len() > MISSED_SHOWN {
                    let _ = write!(ids, " (+{} more)", t.missed.len() - MISSED_SHOWN);
                }
                vec![t.typology.clone(), ids]
            })
            .collect();
        if !missed.is_empty() {
            render(&mut out, "missed schemes", 2, &["typology", "scheme ids"], &missed);
        }
        if !self.by_variant.is_empty() {
            let rows: Vec<Vec<String>> = self
                .by_variant
                .iter()
                .map(|v| {
                    vec![
                        v.typology.clone(),
                        v.variant.clone(),
                        v.schemes.to_string(),
                        v.detected.to_string(),
                        pct(v.recall),
                    ]
                })
                .collect();
            render(&mut out, "schemes by variant", 2, &["typology", "variant", "schemes", "detected", "recall"], &rows);
        }
        let mut rows: Vec<Vec<String>> = self
            .by_alert_typology
            .iter()
            .map(|a| vec![a.typology.clone(), a.alerts.to_string(), a.true_alerts.to_string(), pct(a.precision)])
            .collect();
        rows.push(vec!["all".into(), self.alerts.to_string(), self.true_alerts.to_string(), pct(self.precision)]);
        render(&mut out, "alerts by typology", 1, &["typology", "alerts", "true", "precision"], &rows);
        if let Some(link) = &self.mirror_linkage {
            let rows: Vec<Vec<String>> = link
                .iter()
                .map(|l| {
                    vec![
                        l.variant.clone(),
                        l.swaps.to_string(),
                        l.linked.to_string(),
                        pct(l.share),
                        l.whole.to_string(),
                        pct(l.whole_share),
                    ]
                })
                .collect();
            render(
                &mut out,
                "mirror swaps linked (US cash and a CN or MX leg in one T6 alert; whole: all of them in one)",
                1,
                &["variant", "swaps", "linked", "share", "whole", "share"],
                &rows,
            );
        }
        if let Some(unlinked) = self.unlinked_swaps.as_ref().filter(|u| !u.is_empty()) {
            let rows: Vec<Vec<String>> = unlinked
                .iter()
                .map(|u| {
                    vec![
                        u.scheme_id.clone(),
                        u.variant.clone(),
                        u.why.clone(),
                        u.us_cash.to_string(),
                        u.legs.to_string(),
                        u.cash_alerts.to_string(),
                        u.leg_alerts.to_string(),
                    ]
                })
                .collect();
            render(
                &mut out,
                "mirror swaps not linked (T6 alerts holding some of the cash / of the legs)",
                3,
                &["scheme", "variant", "why", "cash txs", "legs", "cash alerts", "leg alerts"],
                &rows,
            );
        }
        let t = &self.transactions;
        render(
            &mut out,
            "transactions",
            0,
            &["labelled", "alerted", "true positives", "precision", "recall", "F1"],
            &[vec![
                t.labelled.to_string(),
                t.alerted.to_string(),
                t.true_positives.to_string(),
                pct(t.precision),
                pct(t.recall),
                t.f1.map(|f| format!("{:.3}", f)).unwrap_or_else(|| "-".into()),
            ]],
        );
        if let Some(pops) = &self.populations {
            let rows: Vec<Vec<String>> = pops
                .iter()
                .map(|p| {
                    vec![p.population.clone(), p.accounts.to_string(), p.alerts.to_string(), p.false_alerts.to_string()]
                })
                .collect();
            render(
                &mut out,
                "alerts touching non-scheme populations",
                1,
                &["population", "accounts", "alerts", "false alerts"],
                &rows,
            );
        }
        out.push_str(DEFINITIONS);
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn alert(typology: &str, subjects: &[&str], txs: &[&str]) -> String {
        serde_json::json!({
            "alert_id": format!("a-{}", txs.join("-")),
            "rule_id": "r", "rule_version": "1", "typology": typology, "severity": "high", "score": 0.9,
            "subjects": subjects, "tx_ids": txs, "first_ts": "2026-01-01T00:00:00Z",
            "last_ts": "2026-01-01T00:00:00Z", "amount_usd": "1", "jurisdictions": ["US"],
            "details": {}, "narrative": "n", "status": "open"
        })
        .to_string()
    }

    const LABELS: &str = "tx_id,scheme_id,typology,variant
t1,S1,T1,
t2,S1,T1,
t3,S1,T1,
t4,S1,T1,
t3,S2,T6,netted
t5,S2,T6,netted
t6,S2,T6,netted
t7,S2,T6,netted
t8,S2,T6,netted
t9,S2,T6,netted
t10,S3,T7,
t11,S3,T7,
";

    fn run(labels: &str, alerts: &[String], pops: Option<&str>) -> Result<EvalReport> {
        let dir = tempfile::tempdir().unwrap();
        let l = write(dir.path(), "labels.csv", labels);
        let a = write(dir.path(), "alerts.jsonl", &(alerts.join("\n") + "\n"));
        let p = pops.map(|p| write(dir.path(), "populations.csv", p));
        evaluate(&EvalOptions { labels: l, alerts: a, populations: p })
    }

    #[test]
    fn scores_schemes_alerts_and_transactions() {
        let alerts = vec![
            // half of S1 (2 of 4): detected, as itself
            alert("T1", &["A"], &["t1", "t2"]),
            // 2 of S2's 6 and one unlabelled: S2 not detected, but 2 of 3 labelled: true
            alert("T6", &["B"], &["t5", "t6", "x1"]),
            // nothing labelled: false
            alert("T6", &["C"], &["x2", "x3"]),
            // all of S3, under another typology: detected, not as itself
            alert("T4", &["D"], &["t10", "t11", "x4"]),
        ];
        let r = run(LABELS, &alerts, None).unwrap();
        assert_eq!(r.labels_format, "mirrorflow");
        assert_eq!((r.schemes, r.detected), (3, 2));
        assert_eq!((r.alerts, r.true_alerts), (4, 3));
        assert_eq!(r.precision, Some(0.75));
        let t1 = &r.by_typology[0];
        assert_eq!((t1.typology.as_str(), t1.schemes, t1.detected, t1.detected_as_itself), ("T1", 1, 1, 1));
        let t6 = &r.by_typology[1];
        assert_eq!((t6.typology.as_str(), t6.detected, t6.recall), ("T6", 0, Some(0.0)));
        assert_eq!(t6.missed, vec!["S2".to_string()]);
        let t7 = &r.by_typology[2];
        assert_eq!((t7.detected, t7.detected_as_itself), (1, 0));
        assert_eq!(r.by_variant.len(), 1);
        assert_eq!((r.by_variant[0].variant.as_str(), r.by_variant[0].schemes), ("netted", 1));
        let t6a = r.by_alert_typology.iter().find(|a| a.typology == "T6").unwrap();
        assert_eq!((t6a.alerts, t6a.true_alerts, t6a.precision), (2, 1, Some(0.5)));
        // 11 labelled; alerted t1 t2 t5 t6 t10 t11 x1..x4 = 10, 6 true
        let t = &r.transactions;
        assert_eq!((t.labelled, t.alerted, t.true_positives), (11, 10, 6));
        let (p, rc) = (0.6, 6.0 / 11.0);
        assert!((t.f1.unwrap() - 2.0 * p * rc / (p + rc)).abs() < 1e-12);
        let table = r.to_table();
        assert!(table.contains("schemes by typology") && table.contains("netted") && table.contains("definitions:"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["by_typology"][0]["recall"], 1.0);
    }

    #[test]
    fn no_alerts_and_no_schemes_do_not_divide_by_zero() {
        let r = run(LABELS, &[], None).unwrap();
        assert_eq!((r.alerts, r.precision, r.recall), (0, None, Some(0.0)));
        assert_eq!(r.transactions.precision, None);
        assert_eq!(r.transactions.f1, None);
        let r = run("tx_id,scheme_id,typology\n", &[alert("T1", &[], &["x"])], None).unwrap();
        assert_eq!((r.schemes, r.recall, r.precision), (0, None, Some(0.0)));
        assert_eq!(r.transactions.recall, None);
        assert!(r.to_table().contains(" -"));
        assert_eq!(serde_json::to_value(&r).unwrap()["recall"], serde_json::Value::Null);
    }

    #[test]
    fn reads_amlsim_labels() {
        let labels = "alert_id,alert_type,is_sar,tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp
124,cycle,True,770,377,5894,TRANSFER,924.02,2017-01-01T00:00:00Z
124,cycle,True,771,5894,377,TRANSFER,900.00,2017-01-02T00:00:00Z
67,fan_out,True,1070,424,2602,TRANSFER,134.84,2017-01-02T00:00:00Z
67,fan_out,True,1071,424,2603,TRANSFER,134.84,2017-01-02T00:00:00Z
67,fan_out,True,1072,424,2604,TRANSFER,134.84,2017-01-02T00:00:00Z
9,fan_in,False,1500,1,2,TRANSFER,1.00,2017-01-02T00:00:00Z
";
        let r = run(labels, &[alert("T7", &["377"], &["770", "771"]), alert("T8", &["424"], &["1070"])], None).unwrap();
        assert_eq!(r.labels_format, "amlsim");
        assert_eq!(r.schemes, 2, "is_sar false rows are skipped");
        let cycle = r.by_typology.iter().find(|t| t.typology == "cycle").unwrap();
        assert_eq!((cycle.detected, cycle.detected_as_itself), (1, 1));
        let fan = r.by_typology.iter().find(|t| t.typology == "fan_out").unwrap();
        assert_eq!(fan.detected, 0, "1 of 3 is less than half");
        assert_eq!(r.true_alerts, 2, "the fan alert is all labelled");
        // AMLSim's transactions.csv: alert_id -1 is no scheme, no alert_type
        let txs = "tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id
1,4276,10640,TRANSFER,381.54,2017-01-01T00:00:00Z,False,-1
770,377,5894,TRANSFER,924.02,2017-01-01T00:00:00Z,True,124
771,5894,377,TRANSFER,900.00,2017-01-02T00:00:00Z,True,124
";
        let r = run(txs, &[alert("T7", &[], &["770"])], None).unwrap();
        assert_eq!((r.labels_format.as_str(), r.schemes, r.detected), ("amlsim", 1, 1));
        assert_eq!(r.by_typology[0].typology, "unknown");
    }

    #[test]
    fn counts_alerts_on_look_alike_populations() {
        let pops = "account_id,population\nA,scheme\nB,msb_remittance\nC,msb_remittance\nD,near_miss\nE,ordinary\n";
        let alerts = vec![
            alert("T1", &["A", "B"], &["t1", "t2"]),
            alert("T8", &["B", "C", "Cust1"], &["x1"]),
            alert("T1", &["D"], &["x2"]),
        ];
        let r = run(LABELS, &alerts, Some(pops)).unwrap();
        let p = r.populations.unwrap();
        let get = |n: &str| p.iter().find(|x| x.population == n).unwrap().clone();
        assert_eq!(
            get("msb_remittance"),
            PopulationScore { population: "msb_remittance".into(), accounts: 2, alerts: 2, false_alerts: 1 }
        );
        assert_eq!((get("near_miss").alerts, get("near_miss").false_alerts), (1, 1));
        assert_eq!(get("ordinary").alerts, 0);
        assert!(p.iter().all(|x| x.population != "scheme"));
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let e = run(LABELS, &[alert("T1", &[], &["t1"]), "{not json".to_string()], None).unwrap_err().to_string();
        assert!(e.contains("line 2 of `alerts.jsonl`"), "{e}");
        let e = run("a,b,c\n1,2,3\n", &[], None).unwrap_err().to_string();
        assert!(e.contains("labels.csv") && e.contains("header"), "{e}");
        let e = run("tx_id,scheme_id,typology\nt1,S1\n", &[], None).unwrap_err().to_string();
        assert!(e.contains("line 2 of `labels.csv`") && e.contains("2 fields"), "{e}");
        let e = run("tx_id,scheme_id,typology\n\"t1,S1,T1\n", &[], None).unwrap_err().to_string();
        assert!(e.contains("unterminated"), "{e}");
        let e = run("", &[], None).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = run(LABELS, &[], Some("id,pop\n")).unwrap_err().to_string();
        assert!(e.contains("populations.csv"), "{e}");
        let missing = EvalOptions {
            labels: "/nonexistent/labels.csv".into(),
            alerts: "/nonexistent/a.jsonl".into(),
            populations: None,
        };
        assert!(evaluate(&missing).unwrap_err().to_string().contains("labels.csv"));
    }

    #[test]
    fn says_which_swaps_are_whole_in_one_alert_and_where_the_unlinked_ones_went() {
        let labels = "tx_id,scheme_id,typology,variant,leg
c1,W,T6,network,us_cash
c2,W,T6,network,us_cash
l1,W,T6,network,cn
l2,W,T6,network,mx
b1,W,T6,network,beneficiary
c3,P,T6,none,us_cash
l3,P,T6,none,cn
l4,P,T6,none,mx
c4,S,T6,network,us_cash
l5,S,T6,network,cn
c5,C,T6,network,us_cash
l6,C,T6,network,mx
c6,N,T6,phone,us_cash
l7,N,T6,phone,cn
";
        let alerts = vec![
            // W whole (its beneficiary payment is no mirror leg); P linked by one leg only
            alert("T6", &["A"], &["c1", "c2", "l1", "l2", "c3", "l3"]),
            // S split: cash in one T6 alert, its leg in another; C's cash alone
            alert("T6", &["B"], &["c4", "c5"]),
            alert("T6", &["C"], &["l5"]),
            // N's cash only in a structuring alert: no T6 alert holds it
            alert("T1", &["D"], &["c6"]),
        ];
        let r = run(labels, &alerts, None).unwrap();
        let link = r.mirror_linkage.as_ref().unwrap();
        let all = link.iter().find(|l| l.variant == "all").unwrap();
        assert_eq!((all.swaps, all.linked, all.whole), (5, 2, 1));
        assert_eq!(all.whole_share, Some(0.2));
        let net = link.iter().find(|l| l.variant == "network").unwrap();
        assert_eq!((net.swaps, net.linked, net.whole), (3, 1, 1));
        let why: Vec<(&str, &str, u64, u64)> = r
            .unlinked_swaps
            .as_ref()
            .unwrap()
            .iter()
            .map(|u| (u.scheme_id.as_str(), u.why.as_str(), u.cash_alerts, u.leg_alerts))
            .collect();
        assert_eq!(why, [("S", "split", 1, 1), ("C", "cash only", 1, 0), ("N", "not alerted", 0, 0)]);
        let table = r.to_table();
        assert!(table.contains("mirror swaps not linked") && table.contains("cash only"), "{table}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["unlinked_swaps"][0]["why"], "split");
        // no mirror legs in the labels: neither section
        let r = run(LABELS, &[], None).unwrap();
        assert!(r.mirror_linkage.is_none() && r.unlinked_swaps.is_none());
    }

    #[test]
    fn reads_gzipped_labels_and_quoted_fields() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
        gz.write_all(b"\xef\xbb\xbftx_id,scheme_id,typology,variant\r\n\"t,1\",S1,T1,\r\nt2,S1,T1,\r\n").unwrap();
        gz.finish().unwrap();
        let a = write(dir.path(), "alerts.jsonl", &alert("T1", &[], &["t,1"]));
        let r = evaluate(&EvalOptions { labels: p, alerts: a, populations: None }).unwrap();
        assert_eq!((r.schemes, r.detected), (1, 1));
    }
}
