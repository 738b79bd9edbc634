//! The same suite on both backends: SQLite in a temporary file, and PostgreSQL on a real
//! server (a fresh database per test): `MIRRORFLOW_TEST_PG` if set (`skip`: SQLite only),
//! else what `scripts/pg-test-server.sh` gives (the server on 127.0.0.1:5432, or a
//! throwaway cluster it starts).

use super::*;
use mirrorflow_core::alert::{Alert, Severity, Status};

fn alert(rule: &str, subjects: &[&str], txs: &[&str], usd: &str) -> Alert {
    let tx_ids: Vec<String> = txs.iter().map(|t| t.to_string()).collect();
    Alert {
        alert_id: mirrorflow_core::alert::alert_id(rule, "1", &tx_ids),
        rule_id: rule.into(),
        rule_version: "1".into(),
        typology: "T6".into(),
        severity: Severity::High,
        score: 0.8,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        tx_ids: tx_ids.clone(),
        first_ts: "2026-01-05T10:00:00Z".into(),
        last_ts: "2026-01-06T10:00:00Z".into(),
        amount_usd: usd.into(),
        jurisdictions: vec!["US".into(), "MX".into()],
        details: serde_json::json!({"legs": tx_ids.iter().map(|t| serde_json::json!({
            "tx_id": t, "ts": "2026-01-05T10:00:00Z", "from": "A", "to": "B", "amount": "10", "currency": "USD",
            "amount_usd": "10.000000"})).collect::<Vec<_>>()}),
        narrative: "Suspected mirror transfer (CMLN-2025-A003).".into(),
        status: Status::Open,
    }
}

/// Runs `f` against a fresh store of each backend available.
fn each_backend(f: impl Fn(&mut AlertStore)) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = AlertStore::open(dir.path().join("alerts.db").to_str().unwrap()).unwrap();
    f(&mut s);
    if let Some((base, url)) = fresh_pg_database() {
        let mut s = AlertStore::open(&url).unwrap();
        f(&mut s);
        drop(s);
        drop_pg_database(&base, &url);
    }
}

static NEXT_DB: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn fresh_pg_database() -> Option<(String, String)> {
    let base = match std::env::var("MIRRORFLOW_TEST_PG") {
        Ok(u) if u == "skip" => return None,
        Ok(u) if !u.is_empty() => u,
        // the project's script finds the server on :5432 or starts a throwaway one
        _ => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-test-server.sh");
            let o = std::process::Command::new("bash").arg(script).output().expect("bash runs");
            assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        }
    };
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e} (MIRRORFLOW_TEST_PG=skip runs SQLite only)"));
    let name =
        format!("mf_store_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = match base.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{name}"),
        None => unreachable!("a postgres URL has a path"),
    };
    Some((base, url))
}

fn drop_pg_database(base: &str, url: &str) {
    let name = url.rsplit('/').next().unwrap();
    if let Ok(mut admin) = postgres::Client::connect(base, postgres::NoTls) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
    }
}

#[test]
fn writes_are_idempotent_and_richer_evidence_updates_with_history() {
    each_backend(|s| {
        let a = alert("mirror_swap", &["US1", "CN1"], &["t1", "t2"], "1000.50");
        assert_eq!(s.put(std::slice::from_ref(&a)).unwrap(), Written { inserted: 1, updated: 0, unchanged: 0 });
        // a replay or a restart stores it again: nothing changes
        assert_eq!(s.put(&[a.clone(), a.clone()]).unwrap(), Written { inserted: 0, updated: 0, unchanged: 2 });
        // re-detected with one more transaction: the first alert, version 2, history kept
        let richer = alert("mirror_swap", &["US1", "CN1", "MX1"], &["t1", "t2", "t3"], "1500.00");
        assert_eq!(s.put(std::slice::from_ref(&richer)).unwrap(), Written { inserted: 0, updated: 1, unchanged: 0 });
        assert_eq!(s.put(std::slice::from_ref(&richer)).unwrap().unchanged, 1);
        let got = s.get(&a.alert_id).unwrap().unwrap();
        assert_eq!(got.version, 2);
        assert_eq!(got.alert.tx_ids, ["t1", "t2", "t3"]);
        assert_eq!(got.alert.alert_id, a.alert_id, "the first id stays");
        assert_eq!(got.history.len(), 1);
        assert_eq!(got.history[0]["tx_ids"], serde_json::json!(["t1", "t2"]));
        // the richer alert's own id finds it too
        assert_eq!(s.get(&richer.alert_id).unwrap().unwrap().alert.alert_id, a.alert_id);
        let actions: Vec<&str> = got.audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["created", "redetected"]);
        assert_eq!(s.list(&Filter::default()).unwrap().len(), 1);
    });
}

#[test]
fn the_workflow_records_every_decision_and_dismissal_needs_a_reason() {
    each_backend(|s| {
        let a = alert("mirror_swap", &["US1"], &["t1"], "9000.00");
        s.put(std::slice::from_ref(&a)).unwrap();
        let id = a.alert_id.as_str();
        assert!(matches!(s.decide(id, "dismissed", "ana", None), Err(Error::Usage(_))));
        assert!(matches!(s.decide(id, "reported", "ana", None), Err(Error::Usage(_))), "open cannot be reported");
        assert!(matches!(s.decide(id, "in_review", " ", None), Err(Error::Usage(_))), "a decision needs a user");
        s.assign(id, "ana", "lead").unwrap();
        s.decide(id, "in_review", "ana", None).unwrap();
        s.note(id, "called the branch", "ana").unwrap();
        let got = s.decide(id, "dismissed", "ana", Some("known customer, documented payroll")).unwrap();
        assert_eq!(got.status, "dismissed");
        assert_eq!(got.alert.status, Status::Dismissed);
        assert_eq!(got.assignee.as_deref(), Some("ana"));
        let trail: Vec<(&str, &str)> = got.audit.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
        assert_eq!(
            trail,
            [("created", "mirrorflow"), ("assign", "lead"), ("status", "ana"), ("note", "ana"), ("status", "ana")]
        );
        let last = got.audit.last().unwrap();
        assert_eq!(last.before, Some(serde_json::json!({"status": "in_review"})));
        assert_eq!(last.after, Some(serde_json::json!({"status": "dismissed"})));
        assert_eq!(last.reason.as_deref(), Some("known customer, documented payroll"));
        // the queue filters
        assert!(s.list(&Filter { status: Some("open".into()), ..Filter::default() }).unwrap().is_empty());
        assert_eq!(s.list(&Filter { status: Some("dismissed".into()), ..Filter::default() }).unwrap().len(), 1);
    });
}

#[test]
fn the_audit_trail_cannot_be_edited() {
    each_backend(|s| {
        let a = alert("mirror_swap", &["US1"], &["t1"], "9000.00");
        s.put(std::slice::from_ref(&a)).unwrap();
        let e = s.raw("UPDATE audit SET actor = 'someone else'").unwrap_err().to_string();
        assert!(e.contains("cannot be edited"), "{e}");
        let e = s.raw("DELETE FROM audit").unwrap_err().to_string();
        assert!(e.contains("cannot be edited"), "{e}");
        assert_eq!(s.audit(&a.alert_id).unwrap()[0].actor, "mirrorflow");
    });
}

#[test]
fn alerts_on_shared_parties_form_a_case_and_filters_narrow_the_queue() {
    each_backend(|s| {
        let a = alert("mirror_swap", &["US1", "CN1"], &["t1"], "12000.00");
        let mut b = alert("010_structuring", &["US1"], &["t7", "t8"], "18000.00");
        b.typology = "T1".into();
        b.severity = Severity::Medium;
        let c = alert("mirror_swap", &["US9"], &["t9"], "500.00");
        s.put(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let got = s.get(&b.alert_id).unwrap().unwrap();
        assert_eq!(got.related, std::slice::from_ref(&a.alert_id));
        assert_eq!(s.case(&got.case_id).unwrap().len(), 2);
        assert_ne!(s.get(&c.alert_id).unwrap().unwrap().case_id, got.case_id);
        let mut q = |f: Filter| s.list(&f).unwrap().into_iter().map(|r| r.alert_id).collect::<Vec<_>>();
        assert_eq!(q(Filter { typology: Some("T1".into()), ..Filter::default() }), [b.alert_id.clone()]);
        assert_eq!(q(Filter { min_usd: Some(10_000.0), ..Filter::default() }).len(), 2);
        assert_eq!(q(Filter { max_usd: Some(600.0), ..Filter::default() }), std::slice::from_ref(&c.alert_id));
        assert_eq!(q(Filter { severity: Some("medium".into()), ..Filter::default() }), [b.alert_id.clone()]);
        // most severe first
        assert_eq!(q(Filter::default()).last().unwrap(), &b.alert_id);
        assert_eq!(q(Filter { from: Some("2026-01-06".into()), ..Filter::default() }).len(), 0);
        assert_eq!(q(Filter { to: Some("2026-01-06".into()), ..Filter::default() }).len(), 3);
        let counts = s.counts().unwrap();
        assert_eq!(counts[&("open".to_string(), "high".to_string())], 2);
    });
}

#[test]
fn exports_carry_the_evidence_and_the_sar_draft_its_key_terms() {
    each_backend(|s| {
        let a = alert("mirror_swap", &["US1"], &["t1", "t2"], "9000.00");
        s.put(std::slice::from_ref(&a)).unwrap();
        s.decide(&a.alert_id, "escalated", "ana", None).unwrap();
        let got = vec![s.get(&a.alert_id).unwrap().unwrap()];
        let csv = export::export(&got, "csv").unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.lines().nth(1).unwrap().contains(",escalated,"), "{csv}");
        let md = export::export(&got, "sar").unwrap();
        assert!(md.contains("CMLN-2025-A003") && md.contains("**Who:** US1") && md.contains("| t1 |"), "{md}");
        assert!(md.contains("status by ana"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&export::export(&got, "json").unwrap()).unwrap();
        assert_eq!(json["status"], "escalated");
        assert!(export::export(&got, "pdf").is_err());
    });
}

/// Runs `f` with the URL of a fresh, empty store of each backend available.
fn each_backend_url(f: impl Fn(&str)) {
    let dir = tempfile::tempdir().unwrap();
    f(dir.path().join("alerts.db").to_str().unwrap());
    if let Some((base, url)) = fresh_pg_database() {
        f(&url);
        drop_pg_database(&base, &url);
    }
}

#[test]
fn processes_starting_together_migrate_the_store_once() {
    each_backend_url(|url| {
        // a job, the review API and a demo replay starting at once against one store
        let opened: Vec<Result<()>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4).map(|_| sc.spawn(|| AlertStore::open(url).map(drop))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in opened {
            o.unwrap();
        }
        let mut s = AlertStore::open(url).unwrap();
        let rows = s.db.query("SELECT version FROM schema_migrations ORDER BY version", &[]).unwrap();
        let versions: Vec<i64> = rows.iter().map(|r| r[0].int().unwrap()).collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i64).collect::<Vec<_>>());
    });
}

#[test]
fn review_stats_give_the_oldest_pending_alert_and_decisions_by_status() {
    each_backend(|s| {
        assert_eq!(s.review_stats().unwrap(), ReviewStats::default());
        let a = alert("mirror_swap", &["US1"], &["t1"], "100.00");
        let b = alert("mirror_swap", &["US2"], &["t2"], "200.00");
        let mut c = alert("mirror_swap", &["US3"], &["t3"], "300.00");
        c.severity = Severity::Critical;
        s.put(std::slice::from_ref(&a)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.put(&[b.clone(), c.clone()]).unwrap();
        s.decide(&a.alert_id, "escalated", "ana", None).unwrap();
        s.decide(&b.alert_id, "dismissed", "ana", Some("payroll")).unwrap();
        s.decide(&c.alert_id, "in_review", "bob", None).unwrap();
        let st = s.review_stats().unwrap();
        let mut created = |id: &str| s.get(id).unwrap().unwrap().created_at;
        // b is dismissed: the oldest pending high alert is a (escalated), then c (critical)
        assert_eq!(st.oldest_pending.get("high"), Some(&created(&a.alert_id)));
        assert_eq!(st.oldest_pending.get("critical"), Some(&created(&c.alert_id)));
        assert_eq!(st.oldest_pending.len(), 2);
        let want: BTreeMap<String, i64> =
            [("dismissed", 1), ("escalated", 1), ("in_review", 1)].iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(st.decisions, want);
        // notes and assignments are not decisions
        s.note(&a.alert_id, "called the branch", "ana").unwrap();
        s.assign(&a.alert_id, "bob", "ana").unwrap();
        assert_eq!(s.review_stats().unwrap().decisions, want);
    });
}

/// The trigger-kept queue counts equal a count over the alerts.
fn assert_counts_true(s: &mut AlertStore) {
    let rows = s.db.query("SELECT status, severity, COUNT(*) FROM alerts GROUP BY status, severity", &[]).unwrap();
    let want: BTreeMap<(String, String), i64> =
        rows.iter().map(|r| ((text(&r[0]), text(&r[1])), r[2].int().unwrap())).collect();
    assert_eq!(s.counts().unwrap(), want);
}

#[test]
fn queue_counts_follow_inserts_decisions_and_redetections() {
    each_backend(|s| {
        assert!(s.counts().unwrap().is_empty());
        let a = alert("mirror_swap", &["US1", "CN1"], &["t1", "t2"], "1000.50");
        let b = alert("mirror_swap", &["US2"], &["t5"], "10.00");
        s.put(&[a.clone(), b.clone()]).unwrap();
        assert_counts_true(s);
        // re-detected with more evidence and a higher severity: the count moves with it
        let mut richer = alert("mirror_swap", &["US1", "CN1", "MX1"], &["t1", "t2", "t3"], "1500.00");
        richer.severity = Severity::Critical;
        assert_eq!(s.put(&[richer]).unwrap().updated, 1);
        assert_counts_true(s);
        s.decide(&a.alert_id, "in_review", "ana", None).unwrap();
        s.decide(&a.alert_id, "escalated", "ana", None).unwrap();
        s.decide(&b.alert_id, "dismissed", "ana", Some("known payroll")).unwrap();
        assert_counts_true(s);
        let c = s.counts().unwrap();
        assert_eq!(c.get(&("escalated".into(), "critical".into())), Some(&1));
        assert_eq!(c.get(&("dismissed".into(), "high".into())), Some(&1));
        assert_eq!(c.len(), 2, "{c:?}");
    });
}

#[test]
fn a_partys_alerts_form_one_case_without_a_shared_account() {
    each_backend(|s| {
        // two swaps of one party (accounts joined by a shared phone): no account in common
        let mut a = alert("mirror_swap", &["US1", "CN1", "C1"], &["t1"], "12000.00");
        let mut b = alert("mirror_swap", &["US2", "MX2", "C2"], &["t2"], "9000.00");
        let mut c = alert("mirror_swap", &["US3", "CN3", "C3"], &["t3"], "7000.00");
        a.details["party"] = serde_json::json!("party:US1");
        b.details["party"] = serde_json::json!("party:US1");
        c.details["party"] = serde_json::json!("party:US3");
        s.put(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let got = s.get(&b.alert_id).unwrap().unwrap();
        assert_eq!(got.case_id, s.get(&a.alert_id).unwrap().unwrap().case_id);
        assert_ne!(got.case_id, s.get(&c.alert_id).unwrap().unwrap().case_id);
        assert_eq!(s.case(&got.case_id).unwrap().len(), 2);
        // the alert is kept as detected: the party is a case key, not a subject
        assert_eq!(got.alert.subjects, ["US2", "MX2", "C2"]);
    });
}
