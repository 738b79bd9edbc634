//! The alert store and the analyst's review workflow.
//!
//! Alerts are stored durably (an embedded SQLite file by default, PostgreSQL for teams:
//! one interface, `db::Db`), idempotently by `alert_id`: storing the same alert again
//! changes nothing; a re-detection with more evidence (same rule, a superset of an
//! existing alert's transactions on a shared subject) updates that alert under its first
//! id, bumps its version and keeps every earlier version. Each write batch is one
//! transaction. Alerts sharing a subject are grouped into a case, named after its earliest
//! alert (so the id depends on the members only, not on the order they were stored in).
//! Review decisions move an alert through `open -> in_review -> escalated -> reported /
//! dismissed` (dismissal needs a reason), the check and the move one atomic step (the row
//! stays locked between them), with assignee and notes; every change is an audit entry
//! (who, what, when, before / after) that the database itself refuses to update or delete.
//!
//! Owns: the schema and its migrations, `AlertStore`, `Filter`, `StoredAlert`, the
//! workflow rules, exports (JSON, CSV, SAR draft).
//! Must not: detect anything, or log account or customer ids above debug level.

pub mod db;
pub mod export;
pub mod import;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use db::{Db, Migration, Val};
use mirrorflow_core::alert::{Alert, Severity, Status};
use mirrorflow_core::error::{Error, Result};

/// Now, RFC 3339 in UTC with microseconds (audit times).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The version-1 tables both dialects spell alike (the audit table's identity column and
/// its append-only triggers differ).
macro_rules! v1_tables {
    () => {
        "
        CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, rule_version TEXT NOT NULL,
            typology TEXT NOT NULL, severity TEXT NOT NULL, severity_rank BIGINT NOT NULL,
            score DOUBLE PRECISION NOT NULL, first_ts TEXT NOT NULL, last_ts TEXT NOT NULL,
            amount_usd TEXT NOT NULL, amount_usd_cents BIGINT NOT NULL, status TEXT NOT NULL,
            assignee TEXT, case_id TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE INDEX alerts_queue ON alerts (status, severity_rank, first_ts);
        CREATE INDEX alerts_case ON alerts (case_id);
        CREATE TABLE alert_versions (alert_id TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL,
            recorded_at TEXT NOT NULL, PRIMARY KEY (alert_id, version));
        CREATE TABLE alert_subjects (subject TEXT NOT NULL, alert_id TEXT NOT NULL, PRIMARY KEY (subject, alert_id));
        CREATE INDEX alert_subjects_alert ON alert_subjects (alert_id);
        CREATE TABLE alert_aliases (alias_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL);
        "
    };
}

/// Queue-order indexes (the same in both dialects).
const V2_INDEXES: &str = "
    CREATE INDEX alerts_rank ON alerts (severity_rank DESC, first_ts, alert_id);
    CREATE INDEX alerts_status_rank ON alerts (status, severity_rank DESC, first_ts, alert_id);
";
const V3_INDEXES: &str = "
    CREATE INDEX alerts_typology_rank ON alerts (typology, severity_rank DESC, first_ts, alert_id);
    CREATE INDEX alerts_rule_rank ON alerts (rule_id, severity_rank DESC, first_ts, alert_id);
";

/// Review metrics without scanning the alerts: the pending alerts' age by an index seek
/// per (status, severity), decisions by the audit's action, and the queue's counts by
/// status and severity kept in `queue_counts` by triggers (a scrape reads a few rows however
/// many alerts the store holds).
macro_rules! v4_common {
    () => {
        "
        CREATE INDEX alerts_pending_age ON alerts (status, severity, created_at);
        CREATE INDEX audit_action ON audit (action, after_state);
        CREATE TABLE queue_counts (status TEXT NOT NULL, severity TEXT NOT NULL, n BIGINT NOT NULL,
            PRIMARY KEY (status, severity));
        INSERT INTO queue_counts (status, severity, n) SELECT status, severity, COUNT(*) FROM alerts GROUP BY status, severity;
        "
    };
}

const V4_SQLITE: &str = concat!(
    v4_common!(),
    "
    CREATE TRIGGER queue_counts_insert AFTER INSERT ON alerts BEGIN
        INSERT INTO queue_counts (status, severity, n) VALUES (NEW.status, NEW.severity, 1)
            ON CONFLICT (status, severity) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER queue_counts_update AFTER UPDATE OF status, severity ON alerts
        WHEN OLD.status <> NEW.status OR OLD.severity <> NEW.severity BEGIN
        UPDATE queue_counts SET n = n - 1 WHERE status = OLD.status AND severity = OLD.severity;
        INSERT INTO queue_counts (status, severity, n) VALUES (NEW.status, NEW.severity, 1)
            ON CONFLICT (status, severity) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER queue_counts_delete AFTER DELETE ON alerts BEGIN
        UPDATE queue_counts SET n = n - 1 WHERE status = OLD.status AND severity = OLD.severity;
    END;
    "
);

const V4_POSTGRES: &str = concat!(
    v4_common!(),
    "
    CREATE FUNCTION queue_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE queue_counts SET n = n - 1 WHERE status = OLD.status AND severity = OLD.severity;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO queue_counts (status, severity, n) VALUES (NEW.status, NEW.severity, 1)
                ON CONFLICT (status, severity) DO UPDATE SET n = queue_counts.n + 1;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER queue_counts_insert AFTER INSERT OR DELETE ON alerts
        FOR EACH ROW EXECUTE FUNCTION queue_counts_keep();
    CREATE TRIGGER queue_counts_update AFTER UPDATE OF status, severity ON alerts
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.severity IS DISTINCT FROM NEW.severity)
        EXECUTE FUNCTION queue_counts_keep();
    "
);

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alerts, versions, subjects, aliases, audit",
        sqlite: concat!(
            v1_tables!(),
            "
            CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, at TEXT NOT NULL,
                actor TEXT NOT NULL, action TEXT NOT NULL, before_state TEXT, after_state TEXT, reason TEXT);
            CREATE INDEX audit_alert ON audit (alert_id, id);
            CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be edited'); END;
            CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be edited'); END;
            "
        ),
        postgres: concat!(
            v1_tables!(),
            "
            CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, alert_id TEXT NOT NULL, at TEXT NOT NULL,
                actor TEXT NOT NULL, action TEXT NOT NULL, before_state TEXT, after_state TEXT, reason TEXT);
            CREATE INDEX audit_alert ON audit (alert_id, id);
            CREATE FUNCTION audit_immutable() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'the audit trail cannot be edited'; END $$;
            CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_immutable();
            "
        ),
    },
    Migration { version: 2, name: "queue order indexes", sqlite: V2_INDEXES, postgres: V2_INDEXES },
    Migration {
        version: 3,
        name: "queue filters by typology and rule in queue order",
        sqlite: V3_INDEXES,
        postgres: V3_INDEXES,
    },
    Migration {
        version: 4,
        name: "review metrics: pending alerts' age, decisions by status, queue counts",
        sqlite: V4_SQLITE,
        postgres: V4_POSTGRES,
    },
];

/// A subject in more alerts than this (an exchange, a payroll hub) no longer joins cases.
const CASE_HUB_ALERTS: i64 = 20;

/// Where an alert is in review: the data contract's statuses plus `in_review`.
pub const STATUSES: [&str; 5] = ["open", "in_review", "escalated", "reported", "dismissed"];

/// Which decisions may follow which.
fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "in_review" | "escalated" | "dismissed")
            | ("in_review", "escalated" | "dismissed" | "reported" | "open")
            | ("escalated", "reported" | "dismissed" | "in_review")
    )
}

fn severity_rank(s: &str) -> i64 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        _ => 1,
    }
}

/// USD text to whole cents (for amount filters; the exact text is what is shown).
fn cents(usd: &str) -> i64 {
    let (int, frac) = usd.split_once('.').unwrap_or((usd, ""));
    let int: i64 = int.trim_start_matches('-').parse().unwrap_or(0);
    let c: i64 = format!("{:0<2}", frac.chars().take(2).collect::<String>()).parse().unwrap_or(0);
    let v = int.saturating_mul(100).saturating_add(c);
    if usd.starts_with('-') { -v } else { v }
}

/// How a job's writes ride out a busy or unreachable store (`[output]` `store-busy-timeout`,
/// `store-write-attempts`, `store-retry-backoff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long one SQLite statement waits for another connection's lock.
    pub busy_timeout: std::time::Duration,
    /// Tries per batch before it is kept in the spool file (at least 1).
    pub attempts: u32,
    /// The wait before the second try; each later wait is twice the one before.
    pub backoff: std::time::Duration,
}

impl Default for RetryPolicy {
    /// The documented defaults (`config/default.toml`).
    fn default() -> Self {
        RetryPolicy { busy_timeout: db::DEFAULT_BUSY_TIMEOUT, attempts: 5, backoff: std::time::Duration::from_secs(1) }
    }
}

impl RetryPolicy {
    /// The wait after failed try `n` (1-based).
    pub fn wait_after(&self, n: u32) -> std::time::Duration {
        self.backoff.saturating_mul(1u32 << n.saturating_sub(1).min(16))
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Queue filters (all optional).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub rule_id: Option<String>,
    pub typology: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
    pub case_id: Option<String>,
    /// `first_ts >= from`, `last_ts <= to` (RFC 3339 prefixes: `2026-01-05` works).
    pub from: Option<String>,
    pub to: Option<String>,
    pub min_usd: Option<f64>,
    pub max_usd: Option<f64>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A queue row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueRow {
    pub alert_id: String,
    pub rule_id: String,
    pub typology: String,
    pub severity: String,
    pub score: f64,
    pub first_ts: String,
    pub last_ts: String,
    pub amount_usd: String,
    pub status: String,
    pub assignee: Option<String>,
    pub case_id: String,
    pub version: i64,
}

/// What `review_stats` reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewStats {
    /// Severity -> `created_at` (RFC 3339) of the oldest alert awaiting a decision.
    pub oldest_pending: BTreeMap<String, String>,
    /// Status moved to -> decisions.
    pub decisions: BTreeMap<String, i64>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
}

/// An alert with its review state, versions and audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    pub alert: Alert,
    pub status: String,
    pub assignee: Option<String>,
    pub case_id: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Earlier versions' bodies, oldest first.
    pub history: Vec<serde_json::Value>,
    pub audit: Vec<AuditEntry>,
    /// Other alerts of the case.
    pub related: Vec<String>,
}

/// The alert store.
pub struct AlertStore {
    db: Db,
}

fn text(v: &Val) -> String {
    v.text().unwrap_or_default().to_string()
}

fn opt_text(v: &Val) -> Option<String> {
    v.text().map(str::to_string)
}

/// The body kept for an alert: the detector's alert with the status left out (review
/// state lives in its own columns), so a re-detection compares evidence only.
fn body_of(a: &Alert) -> Result<String> {
    let mut v = serde_json::to_value(a).map_err(|e| Error::Internal(format!("alert to JSON: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    Ok(v.to_string())
}

impl AlertStore {
    /// Opens (and migrates) the store at `url` (see `Db::open`).
    pub fn open(url: &str) -> Result<Self> {
        AlertStore::open_with(url, db::DEFAULT_BUSY_TIMEOUT)
    }

    /// [`AlertStore::open`], SQLite statements waiting up to `busy_timeout` for another
    /// connection's lock.
    pub fn open_with(url: &str, busy_timeout: std::time::Duration) -> Result<Self> {
        let mut db = Db::open_with(url, busy_timeout)?;
        db.migrate(MIGRATIONS)?;
        Ok(AlertStore { db })
    }

    /// `sqlite` or `postgres`, and where.
    pub fn describe(&self) -> String {
        format!("{} {}", self.db.kind(), self.db.location)
    }

    /// Stores a batch of alerts in one transaction (see the module docs).
    pub fn put(&mut self, alerts: &[Alert]) -> Result<Written> {
        let mut w = Written::default();
        self.db.transaction(|db| {
            // one writer at a time: two jobs storing the same alerts, or merging the same
            // cases, would otherwise both insert or relabel
            db.lock_writers()?;
            for a in alerts {
                match put_one(db, a)? {
                    Put::Inserted => w.inserted += 1,
                    Put::Updated => w.updated += 1,
                    Put::Unchanged => w.unchanged += 1,
                }
            }
            Ok(())
        })?;
        Ok(w)
    }

    /// The queue, most severe first, then oldest first.
    pub fn list(&mut self, f: &Filter) -> Result<Vec<QueueRow>> {
        let mut sql = String::from(
            "SELECT alert_id, rule_id, typology, severity, score, first_ts, last_ts, amount_usd, status, assignee, \
             case_id, version FROM alerts WHERE 1 = 1",
        );
        let mut params: Vec<Val> = Vec::new();
        let cond = |sql: &mut String, params: &mut Vec<Val>, clause: &str, v: Val| {
            params.push(v);
            sql.push_str(&clause.replace('?', &format!("${}", params.len())));
        };
        for (clause, v) in [
            (" AND rule_id = ?", &f.rule_id),
            (" AND typology = ?", &f.typology),
            (" AND status = ?", &f.status),
            (" AND assignee = ?", &f.assignee),
            (" AND case_id = ?", &f.case_id),
            (" AND first_ts >= ?", &f.from),
        ] {
            if let Some(v) = v {
                cond(&mut sql, &mut params, clause, Val::Text(v.clone()));
            }
        }
        if let Some(sev) = &f.severity {
            // by rank: the queue-order indexes lead with it
            cond(&mut sql, &mut params, " AND severity_rank = ?", Val::Int(severity_rank(sev)));
            if severity_rank(sev) == 1 {
                cond(&mut sql, &mut params, " AND severity = ?", Val::Text(sev.clone()));
            }
        }
        if let Some(to) = &f.to {
            // a date alone means the whole day
            let to = if to.len() == 10 { format!("{to}T23:59:59.999999Z") } else { to.clone() };
            cond(&mut sql, &mut params, " AND last_ts <= ?", Val::Text(to));
        }
        if let Some(m) = f.min_usd {
            cond(&mut sql, &mut params, " AND amount_usd_cents >= ?", Val::Int((m * 100.0).round() as i64));
        }
        if let Some(m) = f.max_usd {
            cond(&mut sql, &mut params, " AND amount_usd_cents <= ?", Val::Int((m * 100.0).round() as i64));
        }
        sql.push_str(" ORDER BY severity_rank DESC, first_ts, alert_id");
        cond(&mut sql, &mut params, " LIMIT ?", Val::Int(f.limit.unwrap_or(100).min(10_000) as i64));
        cond(&mut sql, &mut params, " OFFSET ?", Val::Int(f.offset.unwrap_or(0) as i64));
        let rows = self.db.query(&sql, &params)?;
        Ok(rows
            .iter()
            .map(|r| QueueRow {
                alert_id: text(&r[0]),
                rule_id: text(&r[1]),
                typology: text(&r[2]),
                severity: text(&r[3]),
                score: r[4].real().unwrap_or(0.0),
                first_ts: text(&r[5]),
                last_ts: text(&r[6]),
                amount_usd: text(&r[7]),
                status: text(&r[8]),
                assignee: opt_text(&r[9]),
                case_id: text(&r[10]),
                version: r[11].int().unwrap_or(0),
            })
            .collect())
    }

    /// Counts by status and severity (the open queue's shape).
    pub fn counts(&mut self) -> Result<BTreeMap<(String, String), i64>> {
        let rows =
            self.db.query("SELECT status, severity, n FROM queue_counts WHERE n > 0 ORDER BY status, severity", &[])?;
        Ok(rows.iter().map(|r| ((text(&r[0]), text(&r[1])), r[2].int().unwrap_or(0))).collect())
    }

    /// The review queue's metrics: when the oldest alert still awaiting a decision (open,
    /// in review, escalated) was stored, by severity; and the decisions in the audit trail
    /// by the status moved to.
    pub fn review_stats(&mut self) -> Result<ReviewStats> {
        // one index seek per (status, severity): no scan of the pending alerts
        let mut oldest_pending: BTreeMap<String, String> = BTreeMap::new();
        for status in ["open", "in_review", "escalated"] {
            for severity in Severity::ALL {
                let r = self.db.query(
                    "SELECT MIN(created_at) FROM alerts WHERE status = $1 AND severity = $2",
                    &[Val::from(status), Val::from(severity.as_str())],
                )?;
                if let Some(t) = r.first().and_then(|r| r[0].text()) {
                    let e = oldest_pending.entry(severity.as_str().to_string()).or_insert_with(|| t.to_string());
                    if t < e.as_str() {
                        *e = t.to_string();
                    }
                }
            }
        }
        let rows = self
            .db
            .query("SELECT after_state, COUNT(*) FROM audit WHERE action = 'status' GROUP BY after_state", &[])?;
        let mut decisions = BTreeMap::new();
        for r in &rows {
            let to = serde_json::from_str::<serde_json::Value>(&text(&r[0]))
                .ok()
                .and_then(|v| v["status"].as_str().and_then(Status::parse));
            if let Some(to) = to {
                *decisions.entry(to.as_str().to_string()).or_insert(0) += r[1].int().unwrap_or(0);
            }
        }
        Ok(ReviewStats { oldest_pending, decisions })
    }

    /// One alert (by its id or an id it superseded), with history, audit and case.
    pub fn get(&mut self, id: &str) -> Result<Option<StoredAlert>> {
        let Some(id) = self.resolve(id)? else { return Ok(None) };
        let rows = self.db.query(
            "SELECT body, status, assignee, case_id, version, created_at, updated_at FROM alerts WHERE alert_id = $1",
            &[Val::Text(id.clone())],
        )?;
        let Some(r) = rows.first() else { return Ok(None) };
        let mut alert: Alert = serde_json::from_str(&text(&r[0]))
            .map_err(|e| Error::Store(format!("alert {id}: stored body does not read: {e}")))?;
        let status = text(&r[1]);
        alert.status = Status::parse(&status).unwrap_or_default();
        let case_id = text(&r[3]);
        let history = self
            .db
            .query(
                "SELECT body FROM alert_versions WHERE alert_id = $1 AND version < $2 ORDER BY version",
                &[Val::Text(id.clone()), Val::Int(r[4].int().unwrap_or(0))],
            )?
            .iter()
            .filter_map(|h| serde_json::from_str(&text(&h[0])).ok())
            .collect();
        let related = self
            .db
            .query(
                "SELECT alert_id FROM alerts WHERE case_id = $1 AND alert_id <> $2 ORDER BY first_ts, alert_id",
                &[Val::Text(case_id.clone()), Val::Text(id.clone())],
            )?
            .iter()
            .map(|x| text(&x[0]))
            .collect();
        Ok(Some(StoredAlert {
            alert,
            status,
            assignee: opt_text(&r[2]),
            case_id,
            version: r[4].int().unwrap_or(0),
            created_at: text(&r[5]),
            updated_at: text(&r[6]),
            history,
            audit: self.audit(&id)?,
            related,
        }))
    }

    /// An alert id, or the alert that superseded it.
    fn resolve(&mut self, id: &str) -> Result<Option<String>> {
        let r = self.db.query("SELECT alert_id FROM alerts WHERE alert_id = $1", &[Val::from(id)])?;
        if !r.is_empty() {
            return Ok(Some(id.to_string()));
        }
        let r = self.db.query("SELECT alert_id FROM alert_aliases WHERE alias_id = $1", &[Val::from(id)])?;
        Ok(r.first().map(|x| text(&x[0])))
    }

    /// The audit trail of an alert, oldest first.
    pub fn audit(&mut self, id: &str) -> Result<Vec<AuditEntry>> {
        let rows = self.db.query(
            "SELECT id, at, actor, action, before_state, after_state, reason FROM audit WHERE alert_id = $1 ORDER BY id",
            &[Val::from(id)],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r[0].int().unwrap_or(0),
                at: text(&r[1]),
                actor: text(&r[2]),
                action: text(&r[3]),
                before: r[4].text().and_then(|t| serde_json::from_str(t).ok()),
                after: r[5].text().and_then(|t| serde_json::from_str(t).ok()),
                reason: opt_text(&r[6]),
            })
            .collect())
    }

    /// Moves an alert to `to` (see `allowed`); dismissal needs a reason.
    pub fn decide(&mut self, id: &str, to: &str, actor: &str, reason: Option<&str>) -> Result<StoredAlert> {
        if Status::parse(to).is_none() {
            return Err(Error::Usage(format!("status `{to}`: expected one of {}", STATUSES.join(", "))));
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if to == "dismissed" && reason.is_none() {
            return Err(Error::Usage("dismissing an alert needs a reason".into()));
        }
        let actor = check_actor(actor)?;
        let id = self.resolve(id)?.ok_or_else(|| Error::Usage(format!("no alert `{id}`")))?;
        // the check and the move are one step: the alert's row stays locked from the read
        // to the commit (PostgreSQL `FOR UPDATE`; SQLite's transaction holds the write
        // lock), so two analysts deciding at once are serialised and the second one is
        // judged against the first one's outcome
        self.db.transaction(|db| {
            let sql = format!("SELECT status FROM alerts WHERE alert_id = $1{}", db.for_update());
            let r = db.query(&sql, &[Val::Text(id.clone())])?;
            let from = r.first().map(|x| text(&x[0])).unwrap_or_default();
            if from == to {
                return Err(Error::Usage(format!("alert `{id}` is already {to}")));
            }
            if !allowed(&from, to) {
                return Err(Error::Usage(format!(
                    "alert `{id}` cannot move from {from} to {to}: the workflow forbids it"
                )));
            }
            let at = now();
            let changed = db.exec(
                "UPDATE alerts SET status = $1, updated_at = $2 WHERE alert_id = $3 AND status = $4",
                &[Val::from(to), Val::Text(at.clone()), Val::Text(id.clone()), Val::Text(from.clone())],
            )?;
            if changed != 1 {
                return Err(Error::Internal(format!("alert `{id}` left {from} while locked")));
            }
            audit_row(
                db,
                &id,
                &at,
                actor,
                "status",
                Some(serde_json::json!({"status": from})),
                Some(serde_json::json!({"status": to})),
                reason,
            )
        })?;
        self.get(&id)?.ok_or_else(|| Error::Internal("decided alert vanished".into()))
    }

    /// Assigns an alert to `assignee` (empty: unassigns).
    pub fn assign(&mut self, id: &str, assignee: &str, actor: &str) -> Result<StoredAlert> {
        let actor = check_actor(actor)?;
        let id = self.resolve(id)?.ok_or_else(|| Error::Usage(format!("no alert `{id}`")))?;
        let to = assignee.trim();
        self.db.transaction(|db| {
            // locked like a decision: the audit's `before` is the assignee this replaces
            let sql = format!("SELECT assignee FROM alerts WHERE alert_id = $1{}", db.for_update());
            let r = db.query(&sql, &[Val::Text(id.clone())])?;
            let from = r.first().and_then(|x| opt_text(&x[0]));
            let at = now();
            let to_val = if to.is_empty() { Val::Null } else { Val::from(to) };
            db.exec(
                "UPDATE alerts SET assignee = $1, updated_at = $2 WHERE alert_id = $3",
                &[to_val, Val::Text(at.clone()), Val::Text(id.clone())],
            )?;
            audit_row(
                db,
                &id,
                &at,
                actor,
                "assign",
                Some(serde_json::json!({"assignee": from})),
                Some(serde_json::json!({"assignee": (!to.is_empty()).then_some(to)})),
                None,
            )
        })?;
        self.get(&id)?.ok_or_else(|| Error::Internal("assigned alert vanished".into()))
    }

    /// Adds a note (kept in the audit trail, so it cannot be edited either).
    pub fn note(&mut self, id: &str, text_: &str, actor: &str) -> Result<StoredAlert> {
        let actor = check_actor(actor)?;
        if text_.trim().is_empty() {
            return Err(Error::Usage("a note needs text".into()));
        }
        let id = self.resolve(id)?.ok_or_else(|| Error::Usage(format!("no alert `{id}`")))?;
        self.db.transaction(|db| audit_row(db, &id, &now(), actor, "note", None, None, Some(text_.trim())))?;
        self.get(&id)?.ok_or_else(|| Error::Internal("noted alert vanished".into()))
    }

    /// The alerts of a case (by case id), oldest first.
    pub fn case(&mut self, case_id: &str) -> Result<Vec<StoredAlert>> {
        let ids: Vec<String> = self
            .db
            .query("SELECT alert_id FROM alerts WHERE case_id = $1 ORDER BY first_ts, alert_id", &[Val::from(case_id)])?
            .iter()
            .map(|r| text(&r[0]))
            .collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.get(&id)?);
        }
        Ok(out)
    }

    /// Runs raw SQL (tests: proving the audit trail refuses edits).
    pub fn raw(&mut self, sql: &str) -> Result<()> {
        self.db.batch(sql)
    }
}

fn check_actor(actor: &str) -> Result<&str> {
    let a = actor.trim();
    if a.is_empty() {
        return Err(Error::Usage("every decision records who made it: give a user".into()));
    }
    Ok(a)
}

#[allow(clippy::too_many_arguments)]
fn audit_row(
    db: &mut Db,
    id: &str,
    at: &str,
    actor: &str,
    action: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    reason: Option<&str>,
) -> Result<()> {
    db.exec(
        "INSERT INTO audit (alert_id, at, actor, action, before_state, after_state, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Val::from(id),
            Val::from(at),
            Val::from(actor),
            Val::from(action),
            before.map_or(Val::Null, |v| Val::Text(v.to_string())),
            after.map_or(Val::Null, |v| Val::Text(v.to_string())),
            Val::from(reason),
        ],
    )?;
    Ok(())
}

enum Put {
    Inserted,
    Updated,
    Unchanged,
}

fn put_one(db: &mut Db, a: &Alert) -> Result<Put> {
    let body = body_of(a)?;
    let at = now();
    // the same alert again, or an alert that was superseded by a fuller one
    let alias =
        db.query("SELECT alert_id FROM alert_aliases WHERE alias_id = $1", &[Val::from(a.alert_id.as_str())])?;
    let existing =
        db.query("SELECT body, version FROM alerts WHERE alert_id = $1", &[Val::from(a.alert_id.as_str())])?;
    if !alias.is_empty() {
        return Ok(Put::Unchanged);
    }
    if let Some(r) = existing.first() {
        if text(&r[0]) == body {
            return Ok(Put::Unchanged);
        }
        // same evidence, other details (a detector's narrative improved): a new version
        let v = r[1].int().unwrap_or(1) + 1;
        update_body(db, &a.alert_id, a, &body, v, &at, None)?;
        name_case_of(db, &a.alert_id)?;
        return Ok(Put::Updated);
    }
    // a re-detection with more evidence: same rule, an existing alert on a shared subject
    // whose transactions are all in this one
    let new_tx: BTreeSet<&str> = a.tx_ids.iter().map(String::as_str).collect();
    if let Some(first_subject) = a.subjects.first() {
        let cands = db.query(
            "SELECT a.alert_id, a.body, a.version FROM alert_subjects s JOIN alerts a ON a.alert_id = s.alert_id \
             WHERE s.subject = $1 AND a.rule_id = $2 ORDER BY a.first_ts, a.alert_id",
            &[Val::from(first_subject.as_str()), Val::from(a.rule_id.as_str())],
        )?;
        for c in &cands {
            let old: Alert = match serde_json::from_str(&text(&c[1])) {
                Ok(x) => x,
                Err(_) => continue,
            };
            if old.tx_ids.len() < new_tx.len() && old.tx_ids.iter().all(|t| new_tx.contains(t.as_str())) {
                let old_id = text(&c[0]);
                let v = c[2].int().unwrap_or(1) + 1;
                let mut kept = a.clone();
                kept.alert_id = old_id.clone();
                let kept_body = body_of(&kept)?;
                update_body(db, &old_id, &kept, &kept_body, v, &at, Some(&a.alert_id))?;
                db.exec(
                    "INSERT INTO alert_aliases (alias_id, alert_id) VALUES ($1, $2)",
                    &[Val::from(a.alert_id.as_str()), Val::Text(old_id.clone())],
                )?;
                name_case_of(db, &old_id)?;
                return Ok(Put::Updated);
            }
        }
    }
    let case_id = case_for(db, a)?;
    let case_of_new = case_id.clone();
    let mut vals = vec![
        Val::from(a.alert_id.as_str()),
        Val::from(a.rule_id.as_str()),
        Val::from(a.rule_version.as_str()),
        Val::from(a.typology.as_str()),
    ];
    vals.extend(evidence_columns(a));
    vals.extend([
        Val::from(a.status.as_str()),
        Val::Null,
        Val::Text(case_id),
        Val::Int(1),
        Val::Text(body.clone()),
        Val::Text(at.clone()),
        Val::Text(at.clone()),
    ]);
    db.exec(
        "INSERT INTO alerts (alert_id, rule_id, rule_version, typology, severity, severity_rank, score, first_ts, \
         last_ts, amount_usd, amount_usd_cents, status, assignee, case_id, version, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        &vals,
    )?;
    record_version(db, &a.alert_id, 1, &body, &at, &case_keys(a))?;
    audit_row(
        db,
        &a.alert_id,
        &at,
        "mirrorflow",
        "created",
        None,
        Some(serde_json::json!({"status": a.status.as_str(), "version": 1})),
        None,
    )?;
    name_case(db, &case_of_new)?;
    Ok(Put::Inserted)
}

/// The queue columns an alert's evidence decides (severity and its rank, score, time span,
/// amount and its cents), in table order: written alike by the insert and by a new
/// version.
fn evidence_columns(a: &Alert) -> [Val; 7] {
    [
        Val::from(a.severity.as_str()),
        Val::Int(severity_rank(a.severity.as_str())),
        Val::Real(a.score),
        Val::from(a.first_ts.as_str()),
        Val::from(a.last_ts.as_str()),
        Val::from(a.amount_usd.as_str()),
        Val::Int(cents(&a.amount_usd)),
    ]
}

fn update_body(db: &mut Db, id: &str, a: &Alert, body: &str, version: i64, at: &str, via: Option<&str>) -> Result<()> {
    db.exec(
        "UPDATE alerts SET severity = $1, severity_rank = $2, score = $3, first_ts = $4, last_ts = $5, amount_usd = $6, \
         amount_usd_cents = $7, version = $8, body = $9, updated_at = $10 WHERE alert_id = $11",
        &evidence_columns(a)
            .into_iter()
            .chain([Val::Int(version), Val::from(body), Val::from(at), Val::from(id)])
            .collect::<Vec<_>>(),
    )?;
    record_version(db, id, version, body, at, &case_keys(a))?;
    audit_row(
        db,
        id,
        at,
        "mirrorflow",
        "redetected",
        Some(serde_json::json!({"version": version - 1})),
        Some(serde_json::json!({"version": version, "tx_ids": a.tx_ids.len(), "detected_as": via})),
        None,
    )
}

/// Case keys beyond the subjects start with this: the party an alert's accounts were
/// resolved into (`details.party` of a mirror alert: accounts joined by customer id or a
/// shared phone or device), so a network's alerts form one case even when they share no
/// account. Kept in `alert_subjects` only: the alert itself is as detected.
const PARTY_KEY: &str = "party:";

/// What ties an alert into a case: its subjects and, where the detector resolved one, its
/// party.
fn case_keys(a: &Alert) -> Vec<String> {
    let mut keys = a.subjects.clone();
    if let Some(p) = a.details.get("party").and_then(|p| p.as_str()).filter(|p| p.starts_with(PARTY_KEY)) {
        keys.push(p.to_string());
    }
    keys
}

/// Keeps `body` as version `version` of alert `id` and indexes its subjects (those it
/// already had are kept once).
fn record_version(db: &mut Db, id: &str, version: i64, body: &str, at: &str, subjects: &[String]) -> Result<()> {
    db.exec(
        "INSERT INTO alert_versions (alert_id, version, body, recorded_at) VALUES ($1, $2, $3, $4)",
        &[Val::from(id), Val::Int(version), Val::from(body), Val::from(at)],
    )?;
    for s in subjects.iter().collect::<BTreeSet<_>>() {
        db.exec(
            "INSERT INTO alert_subjects (subject, alert_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[Val::from(s.as_str()), Val::from(id)],
        )?;
    }
    Ok(())
}

/// A case's id: named after its earliest alert (`first_ts`, then `alert_id`), so the id is
/// a function of the case's members, never of the order they were stored in.
fn case_name(alert_id: &str) -> String {
    let tail = alert_id.rsplit('-').next().unwrap_or(alert_id);
    let end = tail.char_indices().nth(16).map_or(tail.len(), |(i, _)| i);
    format!("case-{}", &tail[..end])
}

/// Renames case `case_id` after its earliest alert if that changed (a new alert joined
/// earlier in event time, cases merged, an alert's evidence grew back in time).
fn name_case(db: &mut Db, case_id: &str) -> Result<()> {
    let first = db.query(
        "SELECT alert_id FROM alerts WHERE case_id = $1 ORDER BY first_ts, alert_id LIMIT 1",
        &[Val::from(case_id)],
    )?;
    let Some(first) = first.first() else { return Ok(()) };
    let name = case_name(&text(&first[0]));
    if name != case_id {
        db.exec("UPDATE alerts SET case_id = $1 WHERE case_id = $2", &[Val::Text(name), Val::from(case_id)])?;
    }
    Ok(())
}

/// [`name_case`] for the case of alert `id`.
fn name_case_of(db: &mut Db, id: &str) -> Result<()> {
    let r = db.query("SELECT case_id FROM alerts WHERE alert_id = $1", &[Val::from(id)])?;
    match r.first() {
        Some(r) => name_case(db, &text(&r[0])),
        None => Ok(()),
    }
}

/// The case of a new alert: the case of alerts sharing a subject with it (merged when it
/// bridges several; `name_case` then names the whole after its earliest alert), or a new
/// one named after the alert.
fn case_for(db: &mut Db, a: &Alert) -> Result<String> {
    let mut cases: BTreeSet<String> = BTreeSet::new();
    for s in case_keys(a).iter().collect::<BTreeSet<_>>() {
        let rows = db.query(
            "SELECT a.case_id, (SELECT COUNT(*) FROM alert_subjects x WHERE x.subject = $1) \
             FROM alert_subjects s JOIN alerts a ON a.alert_id = s.alert_id WHERE s.subject = $2",
            &[Val::from(s.as_str()), Val::from(s.as_str())],
        )?;
        for r in rows {
            // a party is at most `parties.max-party-accounts` accounts: never a hub
            if s.starts_with(PARTY_KEY) || r[1].int().unwrap_or(0) <= CASE_HUB_ALERTS {
                cases.insert(text(&r[0]));
            }
        }
    }
    let mut it = cases.into_iter();
    let Some(keep) = it.next() else {
        return Ok(case_name(&a.alert_id));
    };
    for other in it {
        db.exec("UPDATE alerts SET case_id = $1 WHERE case_id = $2", &[Val::from(keep.as_str()), Val::Text(other)])?;
    }
    Ok(keep)
}

#[cfg(test)]
mod tests;
