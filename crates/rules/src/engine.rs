//! The DataFusion seam: rules run per micro-batch over `new_tx` (the batch) and
//! `window_tx` (the event-time window), with `accounts` and `fx_rates` beside them.
//!
//! Owns: `SqlRules`, the `Detector` that registers the tables (the window is a `MemTable`
//! over the window's own batches: no copy), runs every enabled rule, and turns result
//! rows into alerts (stable ids, subjects, jurisdictions, details with the parameters
//! that fired, narrative). A rule is written to look only at the keys the new batch
//! touched, so the window is joined, not re-aggregated. Matches of one rule on one
//! subject that share evidence form an episode: it grows while new matches come within
//! the episode gap (24 h of event time), and is alerted once, with all its evidence, when
//! the gap has passed or the input ends. So a growing pattern is one alert, not one per
//! new row, and the alert carries everything.
//! Per-rule planning and run times are logged at debug level at the end
//! (`MIRRORFLOW_LOG=mirrorflow::rules=debug`); `MIRRORFLOW_EXPLAIN=<rule id>` prints
//! DataFusion's EXPLAIN ANALYZE of each run of one rule.
//! Must not: do I/O or keep anything but the evidence already alerted (and the open
//! episodes, which a checkpoint carries to the next run).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::steps::{Step, split};
use crate::{Rule, RuleSet};
use mirrorflow_core::alert::build::usd_text;
use mirrorflow_core::alert::{Alert, Status, alert_id};
use mirrorflow_core::detect::{DetectCtx, Detector, RawValue, load_json, save_json};
use mirrorflow_core::episode::{Episode, Episodes};
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::schema::ts_column;
use mirrorflow_core::schema::{self, acct};
use mirrorflow_core::tables::{AccountsTable, FxTable};
use mirrorflow_core::time::{day_start, format_ts};
use mirrorflow_core::window::EventWindow;

/// Most new rows the rules judge in one step by default (`rules.step-rows`; see
/// `on_batch`): bounds the memory a rule's per-anchor work takes however large the detect
/// stage's batches are.
pub const RULE_STEP_ROWS: usize = 131_072;

/// Columns every rule must return.
pub const REQUIRED_COLUMNS: [&str; 5] = ["subject", "tx_ids", "first_ts", "last_ts", "amount_usd"];

/// The SQL rules as one detector.
pub struct SqlRules {
    rules: Vec<Rule>,
    /// One session per rule (same order as `rules`), with what it keeps between runs.
    sessions: Vec<Arc<tokio::sync::Mutex<RuleSession>>>,
    /// Always `Some` until dropped (`Drop` shuts it down without blocking, so a stage
    /// that fails while being built inside the pipeline's runtime does not panic).
    runtime: Option<tokio::runtime::Runtime>,
    accounts: Arc<AccountsTable>,
    /// Per (rule, subject): the open episode and the evidence already alerted (the one
    /// episode state machine, `mirrorflow_core::episode`).
    episodes: Episodes<(usize, String)>,
    /// Event time an episode stays open after its last evidence (µs).
    episode_gap_us: i64,
    /// Per rule: how far back from the batch's first row it reads the window (µs).
    lookback_us: Vec<Option<i64>>,
    /// Per rule: time spent planning and running it (for `rule_timings`).
    timings: Vec<RuleTiming>,
    /// Rules left out for want of KYC columns: (rule id, the columns without a value).
    stepped_aside: Vec<(String, Vec<String>)>,
    /// Most new rows judged in one step.
    step_rows: usize,
}

/// What the rules carry from one run to the next (a checkpoint): open episodes and the
/// evidence already alerted, per (rule id, subject).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RulesState {
    open: Vec<(String, String, Alert)>,
    alerted: Vec<(String, String, Vec<String>)>,
}

/// Time one rule took over the run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RuleTiming {
    pub rule_id: String,
    pub runs: u64,
    pub plan_ms: f64,
    pub run_ms: f64,
    pub result_rows: u64,
    /// Per step (materialized CTEs by name, then `result`): planning plus running, ms.
    pub step_ms: Vec<(String, f64)>,
}

fn df_err(context: String) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    move |e| Error::datafusion(context, e)
}

impl Drop for SqlRules {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl SqlRules {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the rule runtime lives as long as the rules")
    }

    /// Registers the side tables and plans every rule against empty stream tables; every
    /// rule that fails to plan (or lacks a required column) is reported at once.
    pub fn try_new(set: &RuleSet, accounts: Arc<AccountsTable>, fx: &FxTable) -> Result<Self> {
        Self::with_episode_gap(set, accounts, fx, crate::DEFAULT_EPISODE_GAP_US)
    }

    /// [`SqlRules::try_new`] with the episode gap: matches of one rule on one subject that
    /// share evidence and come within `episode_gap_us` of event time of each other are
    /// one episode, alerted once with all its evidence when the gap has passed (or at
    /// the end of input).
    pub fn with_episode_gap(
        set: &RuleSet,
        accounts: Arc<AccountsTable>,
        fx: &FxTable,
        episode_gap_us: i64,
    ) -> Result<Self> {
        // Rules that need KYC columns the accounts table does not carry step aside (and say
        // so in `notes`), rather than judge nulls.
        let lacking = |r: &Rule| -> Vec<String> {
            r.needs_kyc
                .iter()
                .filter(|c| accounts.batch.column_by_name(c).is_none_or(|a| a.null_count() == a.len()))
                .cloned()
                .collect()
        };
        let stepped_aside: Vec<(String, Vec<String>)> = set
            .rules
            .iter()
            .filter_map(|r| {
                let l = lacking(r);
                (!l.is_empty()).then(|| (r.id.clone(), l))
            })
            .collect();
        let kept = RuleSet {
            rules: set.rules.iter().filter(|r| lacking(r).is_empty()).cloned().collect(),
            disabled: set.disabled.clone(),
        };
        let set = &kept;
        for (id, cols) in &stepped_aside {
            tracing::info!(rule = %id, "rule {id} steps aside: the accounts table has no {} (KYC)", cols.join(", "));
        }
        // Rules are independent: each has its own session (its own `window_tx`, sliced to
        // its lookback) and they run side by side, one per core.
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(set.rules.len().max(1));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("rules")
            .build()
            .map_err(|e| Error::Internal(format!("rule runtime: {e}")))?;
        let mut ctxs = Vec::new();
        for _ in &set.rules {
            let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
            ctx.add_optimizer_rule(crate::utc_days::rule());
            ctxs.push(ctx);
        }
        register_side_tables(&ctxs, &accounts, fx)?;
        let mut sessions = Vec::new();
        let mut timings = Vec::new();
        for (ctx, rule) in ctxs.into_iter().zip(&set.rules) {
            let steps = split(&rule.sql());
            let step_ms = steps.iter().map(|s| (s.table.as_deref().unwrap_or("result").to_string(), 0.0)).collect();
            timings.push(RuleTiming { rule_id: rule.id.clone(), step_ms, ..Default::default() });
            sessions.push(Arc::new(tokio::sync::Mutex::new(RuleSession::new(ctx, steps)?)));
        }
        let lookback_us =
            set.rules.iter().map(|r| r.lookback_duration().ok().flatten().map(|d| d.as_micros() as i64)).collect();
        let me = SqlRules {
            timings,
            lookback_us,
            rules: set.rules.clone(),
            sessions,
            runtime: Some(runtime),
            accounts,
            episodes: Episodes::default(),
            episode_gap_us,
            stepped_aside,
            step_rows: RULE_STEP_ROWS,
        };
        let mut errors = Vec::new();
        for (rule, session) in me.rules.iter().zip(&me.sessions) {
            if let Err(e) = me.rt().block_on(async { plan_check(&mut *session.lock().await, rule).await }) {
                errors.push(format!("rule `{}` ({}) failed to plan: {e}", rule.id, rule.source));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors));
        }
        Ok(me)
    }

    /// Judges at most `rows` new rows in one step (at least 1,024): a larger step re-reads
    /// the rules' look-back fewer times, and takes more memory for its anchors' work.
    /// Alerts do not depend on it.
    pub fn with_step_rows(mut self, rows: usize) -> Self {
        self.step_rows = rows.max(1024);
        self
    }

    /// Runs every rule over `batch` and `window` (whose newest event time is `now`);
    /// returns the episodes that closed, in the order they closed.
    pub fn evaluate(&mut self, batch: &RecordBatch, window: &[RecordBatch], now: i64) -> Result<Vec<Alert>> {
        let first_ts = if batch.num_rows() > 0 { ts_column(batch).value(0) } else { now };
        let mut tasks = Vec::new();
        for i in 0..self.rules.len() {
            // Only the part of the window the rule looks back over (the window's batches
            // are in event-time order), as zero-copy slices, from the start of that UTC
            // day: a rule that counts whole days (a peer group's history) then sees every
            // row of its oldest day, however the rows were batched.
            let parts = match self.lookback_us[i] {
                Some(back) => since(window, day_start(first_ts.saturating_sub(back))),
                None => window.to_vec(),
            };
            let session = self.sessions[i].clone();
            let batch = batch.clone();
            let explain = std::env::var("MIRRORFLOW_EXPLAIN")
                .is_ok_and(|v| v == self.rules[i].id)
                .then(|| self.rules[i].id.clone());
            tasks.push(self.rt().spawn(async move {
                let mut session = session.lock().await;
                session.fill("new_tx", vec![batch]).await;
                session.fill("window_tx", parts).await;
                let mut times = StepTimes::new(session.steps.len());
                let out = session.run(&mut times, explain.as_deref()).await;
                (out, times)
            }));
        }
        let results = self.rt().block_on(futures::future::join_all(tasks));
        let mut matches = Vec::new();
        for (i, joined) in results.into_iter().enumerate() {
            let id = &self.rules[i].id;
            let (batches, times) = joined.map_err(|e| Error::Internal(format!("rule `{id}`: {e}")))?;
            let batches = batches.map_err(df_err(format!("rule `{id}`")))?;
            let t = &mut self.timings[i];
            t.runs += 1;
            t.plan_ms += times.plan.as_secs_f64() * 1e3;
            t.run_ms += times.run.as_secs_f64() * 1e3;
            for ((_, sum), d) in t.step_ms.iter_mut().zip(&times.steps) {
                *sum += d.as_secs_f64() * 1e3;
            }
            t.result_rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            for b in batches {
                matches
                    .extend(to_alerts(&self.rules[i], &b, &self.accounts)?.into_iter().map(|(a, m, w)| (i, a, m, w)));
            }
        }
        // In the order the matches completed (their last evidence): episodes then grow
        // and close the same way whatever the batching.
        matches.sort_by(|(_, a, x, wa), (_, b, y, wb)| {
            (wa, &a.first_ts, &a.alert_id, x).cmp(&(wb, &b.first_ts, &b.alert_id, y))
        });
        let mut out = Vec::new();
        for (i, m, matched, (when, _)) in matches {
            let key = (i, m.subjects[0].clone());
            let gap = self.rules[i].episode_gap_us(self.episode_gap_us);
            self.episodes.offer(key, m, matched, when, gap, &mut out);
        }
        let (rules, default) = (&self.rules, self.episode_gap_us);
        self.episodes.close_due(now, |k| rules[k.0].episode_gap_us(default), &mut out);
        Ok(out)
    }

    /// Closes every open episode (end of input), in the order they last grew.
    pub fn flush(&mut self) -> Vec<Alert> {
        self.episodes.flush()
    }

    /// Time each rule took so far.
    pub fn timings(&self) -> &[RuleTiming] {
        &self.timings
    }

    /// The rules in use.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// Time one run of a rule's steps took: planning, running, and per step both.
struct StepTimes {
    plan: std::time::Duration,
    run: std::time::Duration,
    steps: Vec<std::time::Duration>,
}

impl StepTimes {
    fn new(steps: usize) -> Self {
        StepTimes { plan: Default::default(), run: Default::default(), steps: vec![Default::default(); steps] }
    }
}

/// One rule's session and what it keeps from one run to the next: its tables, registered
/// once (`new_tx`, `window_tx` and each materialized CTE's), whose rows each run replaces,
/// and each step's optimized logical plan. Parsing, planning and optimizing a step's SQL
/// cost as much as running it on a small step; the plan reads the same tables every run
/// and nothing in it depends on their rows, so it is made once. The physical plan is
/// made again each run, from the rows' real sizes (which side of a join to build).
struct RuleSession {
    ctx: SessionContext,
    steps: Vec<Step>,
    /// Per step: its optimized logical plan, once made.
    plans: Vec<Option<LogicalPlan>>,
    /// The stream tables and the materialized CTEs' tables, by name.
    tables: HashMap<String, Arc<MemTable>>,
}

impl RuleSession {
    fn new(ctx: SessionContext, steps: Vec<Step>) -> Result<Self> {
        let mut tables = HashMap::new();
        for name in ["new_tx", "window_tx"] {
            let table = Arc::new(
                MemTable::try_new(schema::enriched_schema(), vec![vec![]])
                    .map_err(df_err(format!("table `{name}`")))?,
            );
            ctx.register_table(name, table.clone()).map_err(df_err(format!("table `{name}`")))?;
            tables.insert(name.to_string(), table);
        }
        Ok(RuleSession { ctx, plans: vec![None; steps.len()], steps, tables })
    }

    /// Replaces the rows of table `name` (no copy).
    async fn fill(&self, name: &str, parts: Vec<RecordBatch>) {
        if let Some(table) = self.tables.get(name) {
            *table.batches[0].write().await = parts;
        }
    }

    /// Runs the steps: each materialized CTE is collected into its table for the steps
    /// after it; returns the last step's result.
    /// `explain` (`MIRRORFLOW_EXPLAIN=<rule id>`, for rule authors tuning a rule): DataFusion's
    /// EXPLAIN ANALYZE of each step on stderr before the step runs, so every step is run twice
    /// and its time is not counted.
    async fn run(
        &mut self,
        times: &mut StepTimes,
        explain: Option<&str>,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for k in 0..self.steps.len() {
            if let Some(id) = explain {
                explain_step(&self.ctx, id, k, &self.steps[k]).await;
            }
            let t0 = std::time::Instant::now();
            let state = self.ctx.state();
            let plan = match &self.plans[k] {
                Some(plan) => plan.clone(),
                None => {
                    let plan = state.optimize(self.ctx.sql(&self.steps[k].sql).await?.logical_plan())?;
                    self.plans[k] = Some(plan.clone());
                    plan
                }
            };
            let physical = state.query_planner().create_physical_plan(&plan, &state).await?;
            let t1 = std::time::Instant::now();
            times.plan += t1 - t0;
            let batches = datafusion::physical_plan::collect(physical.clone(), self.ctx.task_ctx()).await?;
            times.run += t1.elapsed();
            times.steps[k] += t0.elapsed();
            match &self.steps[k].table {
                Some(name) => match self.tables.get(name) {
                    Some(table) => *table.batches[0].write().await = batches,
                    None => {
                        let table = Arc::new(MemTable::try_new(physical.schema(), vec![batches])?);
                        self.ctx.register_table(name.as_str(), table.clone())?;
                        self.tables.insert(name.clone(), table);
                    }
                },
                None => out = batches,
            }
        }
        Ok(out)
    }
}

/// Registers (or replaces) the `accounts` and `fx_rates` tables in every rule's session.
fn register_side_tables(ctxs: &[SessionContext], accounts: &AccountsTable, fx: &FxTable) -> Result<()> {
    let accounts_table = Arc::new(
        MemTable::try_new(accounts.batch.schema(), vec![vec![accounts.batch.clone()]])
            .map_err(df_err("table `accounts`".into()))?,
    );
    let fx_batch = fx.to_batch();
    let fx_table = Arc::new(
        MemTable::try_new(fx_batch.schema(), vec![vec![fx_batch]]).map_err(df_err("table `fx_rates`".into()))?,
    );
    for ctx in ctxs {
        for name in ["accounts", "fx_rates"] {
            ctx.deregister_table(name).map_err(df_err(format!("table `{name}`")))?;
        }
        ctx.register_table("accounts", accounts_table.clone()).map_err(df_err("table `accounts`".into()))?;
        ctx.register_table("fx_rates", fx_table.clone()).map_err(df_err("table `fx_rates`".into()))?;
    }
    Ok(())
}

/// Prints EXPLAIN ANALYZE of step `k` of rule `id` (a materialized CTE, or the result).
async fn explain_step(ctx: &SessionContext, id: &str, k: usize, step: &Step) {
    let name = step.table.as_deref().unwrap_or("result");
    let text = async {
        let batches = ctx.sql(&format!("EXPLAIN ANALYZE {}", step.sql)).await?.collect().await?;
        arrow::util::pretty::pretty_format_batches(&batches)
            .map(|t| t.to_string())
            .map_err(datafusion::error::DataFusionError::from)
    };
    match text.await {
        Ok(t) => eprintln!("EXPLAIN ANALYZE {id} step {k} ({name})\n{t}"),
        Err(e) => eprintln!("EXPLAIN ANALYZE {id} step {k} ({name}) failed: {e}"),
    }
}

async fn plan_check(session: &mut RuleSession, rule: &Rule) -> std::result::Result<(), String> {
    // The whole query first: its errors name the rule's own SQL.
    let df = session.ctx.sql(&rule.sql()).await.map_err(|e| e.to_string())?;
    let schema = df.schema().clone();
    let missing: Vec<&str> =
        REQUIRED_COLUMNS.iter().copied().filter(|c| schema.field_with_unqualified_name(c).is_err()).collect();
    if !missing.is_empty() {
        return Err(format!("the result has no column {}", missing.join(", ")));
    }
    let mut times = StepTimes::new(session.steps.len());
    session.run(&mut times, None).await.map_err(|e| e.to_string())?;
    Ok(())
}

impl Detector for SqlRules {
    fn id(&self) -> &str {
        "rules"
    }

    /// The rules read the new tables from the next step on (a rule that stepped aside
    /// for want of a KYC column stays aside until the job restarts).
    fn side_tables_changed(&mut self, ctx: &DetectCtx) -> Result<()> {
        // The steps' plans read the tables they were made with: made again from the next step on.
        let sessions = self.sessions.clone();
        let ctxs = self.rt().block_on(async move {
            let mut ctxs = Vec::new();
            for s in &sessions {
                let mut s = s.lock().await;
                s.plans.fill(None);
                ctxs.push(s.ctx.clone());
            }
            ctxs
        });
        register_side_tables(&ctxs, &ctx.accounts, &ctx.fx)?;
        self.accounts = ctx.accounts.clone();
        Ok(())
    }

    fn on_batch(&mut self, batch: &RecordBatch, window: &EventWindow, _ctx: &DetectCtx) -> Result<Vec<Alert>> {
        let mut parts: Vec<RecordBatch> = window.batches().cloned().collect();
        let rows = batch.num_rows();
        // The window ends with this batch (pushed before the detectors run). A large batch
        // is judged in steps of at most `step_rows` new rows, each against the window up
        // to its last row, as a live run of smaller batches would be: the same alerts, and
        // a rule's working memory bounded by the step, not by the batch.
        let ends_with_batch = parts.last().is_some_and(|l| {
            l.num_rows() == rows && l.columns().iter().zip(batch.columns()).all(|(a, b)| Arc::ptr_eq(a, b))
        });
        if rows <= self.step_rows || !ends_with_batch {
            return self.evaluate(batch, &parts, window.now());
        }
        parts.pop();
        let ts = ts_column(batch);
        let mut out = Vec::new();
        let mut start = 0;
        while start < rows {
            let end = (start + self.step_rows).min(rows);
            let mut upto = parts.clone();
            upto.push(batch.slice(0, end));
            out.extend(self.evaluate(&batch.slice(start, end - start), &upto, ts.value(end - 1))?);
            start = end;
        }
        Ok(out)
    }

    fn save_state(&self, out: &mut dyn std::io::Write) -> Result<bool> {
        let id = |i: usize| self.rules[i].id.clone();
        let state = RulesState {
            open: self
                .episodes
                .held
                .iter()
                .map(|((i, s), h)| {
                    let mut a = h.alert.clone();
                    a.alert_id = alert_id(&self.rules[*i].id, &self.rules[*i].version, &a.tx_ids);
                    (id(*i), s.clone(), a)
                })
                .collect(),
            alerted: self
                .episodes
                .alerted
                .iter()
                .map(|((i, s), t)| {
                    let mut t: Vec<String> = t.iter().cloned().collect();
                    t.sort();
                    (id(*i), s.clone(), t)
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        save_json("rules'", out, &state)
    }

    fn load_state(&mut self, state: &RawValue) -> Result<()> {
        let state: RulesState = load_json("rules'", state)?;
        let index = |rule: &str| {
            self.rules.iter().position(|r| r.id == rule).ok_or_else(|| {
                Error::Config(vec![format!(
                    "checkpoint: rule `{rule}` had open episodes or alerts, but it is not enabled in this run"
                )])
            })
        };
        for (rule, subject, alert) in state.open {
            self.episodes.held.insert((index(&rule)?, subject), Episode::new(alert));
        }
        for (rule, subject, ids) in state.alerted {
            self.episodes.alerted.entry((index(&rule)?, subject)).or_default().extend(ids);
        }
        Ok(())
    }

    fn notes(&self) -> Vec<mirrorflow_core::detect::DetectorNote> {
        use mirrorflow_core::detect::DetectorNote;
        self.stepped_aside
            .iter()
            .map(|(id, cols)| {
                DetectorNote::warn(
                    id,
                    format!(
                        "rule {id} is off: it judges by KYC columns the accounts table does not carry ({}), so it steps aside rather than alert on nulls",
                        cols.join(", ")
                    ),
                )
            })
            .collect()
    }

    fn part_timings(&self) -> Vec<(String, f64)> {
        self.timings.iter().map(|t| (t.rule_id.clone(), (t.plan_ms + t.run_ms) / 1e3)).collect()
    }

    fn on_finish(&mut self, _window: &EventWindow, _ctx: &DetectCtx) -> Result<Vec<Alert>> {
        for t in &self.timings {
            tracing::debug!(
                rule = %t.rule_id,
                runs = t.runs,
                plan_ms = format!("{:.0}", t.plan_ms),
                run_ms = format!("{:.0}", t.run_ms),
                result_rows = t.result_rows,
                "rule timing"
            );
            for (step, ms) in &t.step_ms {
                tracing::debug!(rule = %t.rule_id, step = %step, ms = format!("{ms:.0}"), "rule step timing");
            }
        }
        Ok(self.flush())
    }
}

/// The rows of time-ordered `batches` at or after `from` (slices, no copy).
fn since(batches: &[RecordBatch], from: i64) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for b in batches {
        let ts = ts_column(b);
        if b.num_rows() == 0 || ts.value(b.num_rows() - 1) < from {
            continue;
        }
        let start = ts.values().partition_point(|&t| t < from);
        out.push(if start == 0 { b.clone() } else { b.slice(start, b.num_rows() - start) });
    }
    out
}

fn text_values(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    let t = cast(a, &DataType::Utf8).map_err(|e| Error::arrow("reading a rule result", e))?;
    Ok(t.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}

/// One result row: the alert it would raise, whether the pattern holds (a rule with a
/// boolean `matched` column also returns rows where it no longer does; those clear an
/// episode not yet alerted), and when it happened (anchor time and `seq`).
type Match = (Alert, bool, (i64, u64));

/// `text` with every `{name}` that names a value replaced by it, in one pass (a value is
/// never read again for placeholders); other braces are kept as written.
fn fill(text: &str, values: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| values.get(&after[..close]).map(|v| (close, v))) {
            Some((close, v)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Turns one result batch of `rule` into matches.
fn to_alerts(rule: &Rule, b: &RecordBatch, accounts: &AccountsTable) -> Result<Vec<Match>> {
    let col = |name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| Error::Config(vec![format!("rule `{}`: the result has no column `{name}`", rule.id)]))
    };
    let subjects = text_values(&col("subject")?)?;
    let tx_lists = col("tx_ids")?;
    let first = cast(&col("first_ts")?, &schema::ts_type()).map_err(|e| Error::arrow("first_ts", e))?;
    let last = cast(&col("last_ts")?, &schema::ts_type()).map_err(|e| Error::arrow("last_ts", e))?;
    let usd = cast(&col("amount_usd")?, &schema::usd_type()).map_err(|e| Error::arrow("amount_usd", e))?;
    let (first, last) =
        (first.as_primitive::<TimestampMicrosecondType>(), last.as_primitive::<TimestampMicrosecondType>());
    let usd = usd.as_primitive::<arrow::datatypes::Decimal128Type>();
    let opts = FormatOptions::default().with_null("");
    let extra: Vec<(String, ArrayRef)> = b
        .schema()
        .fields()
        .iter()
        .zip(b.columns())
        .filter(|(f, _)| {
            !REQUIRED_COLUMNS.contains(&f.name().as_str())
                && !["score", "matched", "anchor_ts", "anchor_seq"].contains(&f.name().as_str())
        })
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    let formatters: Vec<Option<ArrayFormatter>> =
        extra.iter().map(|(_, c)| ArrayFormatter::try_new(c.as_ref(), &opts).ok()).collect();
    let score_col = b.column_by_name("score").and_then(|c| cast(c, &DataType::Float64).ok());
    let matched_col = b.column_by_name("matched").and_then(|c| cast(c, &DataType::Boolean).ok());
    // When the match happened: the anchoring row's (ts, seq) if the rule returns them,
    // else its last evidence. Episodes grow, close and clear in this order.
    let anchor_ts = b.column_by_name("anchor_ts").and_then(|c| cast(c, &schema::ts_type()).ok());
    let anchor_seq = b.column_by_name("anchor_seq").and_then(|c| cast(c, &DataType::UInt64).ok());
    let account_field = |id: &str, column: &str| accounts.field(id, column);
    let account_country = |id: &str| account_field(id, acct::COUNTRY);
    let mut out = Vec::new();
    for (r, subject) in subjects.into_iter().enumerate() {
        let Some(subject) = subject else { continue };
        let list = match tx_lists.data_type() {
            DataType::List(_) => tx_lists.as_list::<i32>().value(r),
            DataType::LargeList(_) => tx_lists.as_list::<i64>().value(r),
            other => {
                return Err(Error::Config(vec![format!("rule `{}`: `tx_ids` is {other}, expected a list", rule.id)]));
            }
        };
        let tx_ids: Vec<String> = text_values(&list)?.into_iter().flatten().collect();
        if tx_ids.is_empty() {
            continue;
        }
        let (first_ts, last_ts) = (format_ts(first.value(r)), format_ts(last.value(r)));
        let matched = matched_col.as_ref().is_none_or(|m| {
            let m = m.as_boolean();
            !m.is_null(r) && m.value(r)
        });
        let when = (
            anchor_ts.as_ref().map(|a| a.as_primitive::<TimestampMicrosecondType>().value(r)).unwrap_or(last.value(r)),
            anchor_seq.as_ref().map(|a| a.as_primitive::<arrow::datatypes::UInt64Type>().value(r)).unwrap_or(u64::MAX),
        );
        let mut alert = Alert {
            alert_id: alert_id(&rule.id, &rule.version, &tx_ids),
            rule_id: rule.id.clone(),
            rule_version: rule.version.clone(),
            typology: rule.typology.clone(),
            severity: rule.severity,
            score: rule.score,
            subjects: vec![subject.clone()],
            tx_ids,
            first_ts,
            last_ts,
            amount_usd: String::new(),
            jurisdictions: Vec::new(),
            details: serde_json::Value::Null,
            narrative: String::new(),
            status: Status::Open,
        };
        if !matched {
            // a clearing row: only its subject, evidence and time are read (it drops an
            // open episode sharing its evidence), so no details or narrative are built
            out.push((alert, false, when));
            continue;
        }
        let amount_usd = if usd.is_null(r) { "0".to_string() } else { usd_text(usd.value(r)) };
        let mut details = serde_json::Map::new();
        let mut jurisdictions: Vec<String> = account_country(&subject).into_iter().collect();
        let mut values: HashMap<String, String> = HashMap::new();
        for ((name, c), f) in extra.iter().zip(&formatters) {
            let v = f.as_ref().map(|f| f.value(r).to_string()).unwrap_or_default();
            let json = match c.data_type() {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt64 => {
                    v.parse::<i64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(v.clone()))
                }
                _ => serde_json::Value::String(v.clone()),
            };
            if let Some(country) = account_country(&v) {
                jurisdictions.push(country);
            }
            details.insert(name.clone(), json);
            values.insert(name.clone(), v);
        }
        jurisdictions.sort();
        jurisdictions.dedup();
        let params: serde_json::Map<String, serde_json::Value> =
            rule.params.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.display()))).collect();
        details.insert("params".into(), serde_json::Value::Object(params));
        values.insert("subject".into(), subject.clone());
        values.insert("amount_usd".into(), amount_usd.clone());
        values.insert("first_ts".into(), alert.first_ts.clone());
        values.insert("last_ts".into(), alert.last_ts.clone());
        for (k, v) in &rule.params {
            values.entry(k.clone()).or_insert_with(|| v.display());
        }
        alert.narrative = fill(&rule.narrative, &values);
        if let Some(c) = account_field(&subject, acct::CUSTOMER_ID) {
            alert.subjects.push(c);
        }
        alert.score = score_col
            .as_ref()
            .and_then(|s| {
                let f = s.as_primitive::<arrow::datatypes::Float64Type>();
                (!f.is_null(r)).then(|| f.value(r).clamp(0.0, 1.0))
            })
            .unwrap_or(rule.score);
        alert.amount_usd = amount_usd;
        alert.jurisdictions = jurisdictions;
        alert.details = serde_json::Value::Object(details);
        out.push((alert, true, when));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
        new_null_array,
    };
    use arrow::datatypes::DataType;

    use super::SqlRules;
    use crate::{Rule, RuleSet};
    use mirrorflow_core::detect::{DetectCtx, Detector};
    use mirrorflow_core::schema;
    use mirrorflow_core::tables::{AccountsTable, FxTable};

    /// One enriched row: its id, time and seq; required columns filled, the rest null.
    fn row(id: &str, ts: i64, seq: u64) -> RecordBatch {
        let schema = schema::enriched_schema();
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match (f.name().as_str(), f.data_type()) {
                    ("tx_id", _) => Arc::new(StringArray::from(vec![id])),
                    ("ts", _) => Arc::new(TimestampMicrosecondArray::from(vec![ts]).with_timezone("UTC")),
                    ("seq", _) => Arc::new(UInt64Array::from(vec![seq])),
                    (_, _) if f.is_nullable() => new_null_array(f.data_type(), 1),
                    (_, DataType::Utf8) => Arc::new(StringArray::from(vec!["x"])),
                    (_, DataType::Decimal128(p, s)) => {
                        Arc::new(Decimal128Array::from(vec![1]).with_precision_and_scale(*p, *s).unwrap())
                    }
                    (_, DataType::Boolean) => Arc::new(BooleanArray::from(vec![false])),
                    (name, t) => panic!("no test value for {name}: {t}"),
                }
            })
            .collect();
        RecordBatch::try_new(schema, cols).unwrap()
    }

    /// A rule's steps are planned once and read each run's rows; new side tables (a live
    /// run's refresh) are read from the next run on, not the tables the plans were made with.
    #[test]
    fn kept_plans_read_each_runs_rows_and_new_side_tables() {
        let text = "-- version: 1\n-- typology: T1\n-- severity: low\n-- description: probe\n\
                    WITH r AS (SELECT count(*) AS n FROM fx_rates), \
                    t AS (SELECT tx_id, ts FROM new_tx), \
                    u AS (SELECT * FROM t UNION ALL SELECT * FROM t WHERE false) \
                    SELECT concat('rates ', CAST(r.n AS VARCHAR), ' ', u.tx_id) AS subject, \
                           make_array(u.tx_id) AS tx_ids, u.ts AS first_ts, u.ts AS last_ts, \
                           CAST(1 AS DECIMAL(38, 6)) AS amount_usd, true AS matched \
                    FROM u CROSS JOIN r";
        let set = RuleSet { rules: vec![Rule::parse("900_probe.sql", text, "test").unwrap()], disabled: vec![] };
        let fx = FxTable::bundled();
        let n = fx.to_batch().num_rows();
        let mut rules = SqlRules::try_new(&set, Arc::new(AccountsTable::empty()), &fx).unwrap();
        let subjects = |alerts: Vec<mirrorflow_core::alert::Alert>| -> Vec<String> {
            alerts.into_iter().map(|a| a.subjects[0].clone()).collect()
        };
        let hour = 3_600_000_000;
        let (a, b) = (row("a", hour, 0), row("b", 2 * hour, 1));
        assert!(rules.evaluate(&a, std::slice::from_ref(&a), hour).unwrap().is_empty());
        let mut out = subjects(rules.evaluate(&b, &[a.clone(), b.clone()], 2 * hour).unwrap());
        out.extend(subjects(rules.flush()));
        out.sort();
        assert_eq!(out, vec![format!("rates {n} a"), format!("rates {n} b")]);

        let fewer =
            FxTable::from_rates([("EUR".to_string(), vec![(20_000, 1_100_000_000_000_000_000)])].into_iter().collect());
        let ctx = DetectCtx { accounts: Arc::new(AccountsTable::empty()), fx: Arc::new(fewer) };
        rules.side_tables_changed(&ctx).unwrap();
        let c = row("c", 3 * hour, 2);
        let mut out = subjects(rules.evaluate(&c, &[a, b, c.clone()], 3 * hour).unwrap());
        out.extend(subjects(rules.flush()));
        assert_eq!(out, vec!["rates 1 c".to_string()]);
    }

    #[test]
    fn fill_replaces_named_placeholders_once() {
        let values: HashMap<String, String> =
            [("subject", "US1"), ("amount_usd", "{subject}"), ("n", "3")].map(|(k, v)| (k.into(), v.into())).into();
        assert_eq!(
            super::fill("{subject} took {n} ({amount_usd}) {unknown} {", &values),
            "US1 took 3 ({subject}) {unknown} {"
        );
        assert_eq!(super::fill("no braces", &values), "no braces");
        assert_eq!(super::fill("{n}{n}}", &values), "33}");
    }
}
