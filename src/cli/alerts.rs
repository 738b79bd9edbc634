//! `mirrorflow alerts`: the alert store: the review queue, decisions (audited), exports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::load_config;

#[derive(Args)]
pub struct AlertsCmd {
    /// Store URL: a SQLite file or postgres://... [default: the config's `output.store`,
    /// i.e. mirrorflow-out/alerts.db].
    #[arg(long, global = true)]
    store: Option<String>,
    #[command(subcommand)]
    cmd: AlertsCommand,
}

impl AlertsCmd {
    pub fn run(&self, config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
        let Self { store, cmd } = self;
        let cfg = load_config(config, |_| Ok(()))?;
        let url = match store.clone().or(cfg.store.clone()) {
            Some(u) => u,
            None => anyhow::bail!("the alert store is off (`output.store = \"off\"`): give --store"),
        };
        alerts_command(&url, cmd)
    }
}

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// The queue (most severe first), filtered.
    List {
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        typology: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        /// open, in_review, escalated, reported, dismissed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        case: Option<String>,
        /// First transaction at or after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Last transaction at or before.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_parser = usd_arg)]
        min_usd: Option<f64>,
        #[arg(long, value_parser = usd_arg)]
        max_usd: Option<f64>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        offset: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One alert with its evidence, versions, audit trail and case.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Assign an alert (an empty --to unassigns).
    Assign {
        id: String,
        #[arg(long)]
        to: String,
        /// Who decides [default: $MIRRORFLOW_USER].
        #[arg(long)]
        user: Option<String>,
    },
    /// Move an alert: in_review, escalated, reported, dismissed (needs --reason), open.
    Resolve {
        id: String,
        #[arg(long)]
        status: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
    /// Add a note (kept in the audit trail).
    Note {
        id: String,
        #[arg(long)]
        text: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Export an alert (or a case with --case) as json, csv or sar (a Markdown SAR draft).
    Export {
        /// Alert id (or, with --case, a case id).
        id: String,
        #[arg(long)]
        case: bool,
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Store the alerts of an alerts.jsonl (idempotent: storing twice changes nothing).
    Import { file: PathBuf },
}

/// `--min-usd` / `--max-usd`: an exact decimal of at most cents (never NaN or infinite),
/// at most 10^13 in size so its cents stay exact through the store's filter.
fn usd_arg(text: &str) -> Result<f64, String> {
    let cents = mirrorflow::money::parse_decimal(text.as_bytes(), 2)
        .map_err(|e| format!("`{text}` {e} (expected a decimal such as 2500 or 99.50)"))?;
    if cents.abs() > 10_000_000_000_000 * 100 {
        return Err(format!("`{text}` is larger than 10000000000000"));
    }
    Ok(cents as f64 / 100.0)
}

/// Who records a decision: --user, else $MIRRORFLOW_USER.
fn decider(user: &Option<String>) -> anyhow::Result<String> {
    match user.clone().or_else(|| std::env::var("MIRRORFLOW_USER").ok()).filter(|u| !u.trim().is_empty()) {
        Some(u) => Ok(u),
        None => anyhow::bail!("every decision records who made it: give --user or set MIRRORFLOW_USER"),
    }
}

fn alerts_command(url: &str, cmd: &AlertsCommand) -> anyhow::Result<ExitCode> {
    use mirrorflow::store::{AlertStore, Filter, export::export};
    let mut st = AlertStore::open(url)?;
    let show = |a: &mirrorflow::store::StoredAlert| -> String {
        let x = &a.alert;
        let mut out = format!(
            "{}  {} {}  {} (score {:.2})  {}{}\ncase {}  version {}  USD {}  {} .. {}\nsubjects: {}\n\n{}\n\ntransactions: {}\n",
            x.alert_id,
            x.typology,
            x.rule_id,
            x.severity.as_str(),
            x.score,
            a.status,
            a.assignee.as_deref().map(|u| format!(" (assigned to {u})")).unwrap_or_default(),
            a.case_id,
            a.version,
            x.amount_usd,
            x.first_ts,
            x.last_ts,
            x.subjects.join(", "),
            x.narrative,
            x.tx_ids.join(", "),
        );
        if !a.related.is_empty() {
            out.push_str(&format!("other alerts of the case: {}\n", a.related.join(", ")));
        }
        out.push_str("audit:\n");
        for e in &a.audit {
            out.push_str(&format!(
                "  {} {} by {}{}\n",
                e.at,
                e.action,
                e.actor,
                e.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ));
        }
        out
    };
    match cmd {
        AlertsCommand::List {
            rule,
            typology,
            severity,
            status,
            assignee,
            case,
            from,
            to,
            min_usd,
            max_usd,
            limit,
            offset,
            json,
        } => {
            let rows = st.list(&Filter {
                rule_id: rule.clone(),
                typology: typology.clone(),
                severity: severity.clone(),
                status: status.clone(),
                assignee: assignee.clone(),
                case_id: case.clone(),
                from: from.clone(),
                to: to.clone(),
                min_usd: *min_usd,
                max_usd: *max_usd,
                limit: Some(*limit),
                offset: Some(*offset),
            })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<52} {:<5} {:<9} {:>14} {:<10} {:<20} assignee",
                    "alert_id", "typ", "severity", "USD", "status", "first_ts"
                );
                for r in &rows {
                    println!(
                        "{:<52} {:<5} {:<9} {:>14} {:<10} {:<20} {}",
                        r.alert_id,
                        r.typology,
                        r.severity,
                        r.amount_usd,
                        r.status,
                        r.first_ts,
                        r.assignee.as_deref().unwrap_or("-")
                    );
                }
                eprintln!("{} alert(s)", rows.len());
            }
        }
        AlertsCommand::Show { id, json } => {
            let Some(a) = st.get(id)? else { anyhow::bail!("no alert `{id}` in {}", st.describe()) };
            if *json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                print!("{}", show(&a));
            }
        }
        AlertsCommand::Assign { id, to, user } => {
            let a = st.assign(id, to, &decider(user)?)?;
            print!("{}", show(&a));
        }
        AlertsCommand::Resolve { id, status, reason, user } => {
            let a = st.decide(id, status, &decider(user)?, reason.as_deref())?;
            print!("{}", show(&a));
        }
        AlertsCommand::Note { id, text, user } => {
            let a = st.note(id, text, &decider(user)?)?;
            print!("{}", show(&a));
        }
        AlertsCommand::Export { id, case, format, out } => {
            let alerts = if *case { st.case(id)? } else { st.get(id)?.into_iter().collect() };
            if alerts.is_empty() {
                anyhow::bail!("no {} `{id}` in {}", if *case { "case" } else { "alert" }, st.describe());
            }
            let text = export(&alerts, format)?;
            match out {
                Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write `{}`", p.display()))?,
                None => print!("{text}"),
            }
        }
        AlertsCommand::Import { file } => {
            let alerts = mirrorflow::store::import::read_alerts(file)?;
            let w = st.put(&alerts)?;
            println!(
                "{} alert(s) read: {} inserted, {} updated, {} unchanged ({})",
                alerts.len(),
                w.inserted,
                w.updated,
                w.unchanged,
                st.describe()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
