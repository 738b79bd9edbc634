//! `mirrorflow serve`: the analyst's review API (axum) and web page over the alert store.
//!
//! Every `/api` request needs `Authorization: Bearer <token>`; each token belongs to one
//! user (`MIRRORFLOW_TOKENS="ana=TOKEN,bob=TOKEN"` or `--tokens FILE` with `user=token`
//! lines), and every decision records that user. Tokens are never logged. The store is
//! reached through a few connections on blocking threads (SQLite in WAL mode reads in
//! parallel; PostgreSQL takes one session per connection).
//!
//! Owns: routes, authentication, the OpenAPI description, the embedded page.
//! Must not: decide workflow rules (the store does) or log ids above debug level.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::store::{AlertStore, Filter};

/// What the server needs.
pub struct ServeOptions {
    pub store: String,
    pub addr: SocketAddr,
    /// token -> user.
    pub tokens: HashMap<String, String>,
    /// Store connections.
    pub connections: usize,
}

/// Reads `user=token` pairs (comma- or line-separated).
pub fn parse_tokens(text: &str) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (n, item) in text.split([',', '\n']).map(str::trim).enumerate() {
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        let Some((user, token)) = item.split_once('=') else {
            return Err(Error::Usage(format!("token entry {}: expected user=token", n + 1)));
        };
        let (user, token) = (user.trim(), token.trim());
        if user.is_empty() || token.len() < 8 {
            return Err(Error::Usage(format!(
                "token entry {} (user `{user}`): tokens need at least 8 characters",
                n + 1
            )));
        }
        out.insert(token.to_string(), user.to_string());
    }
    Ok(out)
}

/// A unit of store work, run on one of the store threads.
type Job = Box<dyn FnOnce(&mut AlertStore) + Send>;

struct AppState {
    /// Store threads, each owning a connection, take jobs from this queue: requests wait
    /// in async land (not as hundreds of blocked threads) and the store sees at most
    /// `connections` statements at once.
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    tokens: HashMap<String, String>,
    /// Queue pages as served, by query string, for `QUEUE_CACHE_TTL` (a team looks at the
    /// same few pages); any decision through the API empties it (`generation`).
    queue_cache: Mutex<HashMap<String, CachedPage>>,
    generation: std::sync::atomic::AtomicU64,
}

/// How long a served queue page may be reused: writes by other processes (a running
/// replay, the CLI) show within this; the API's own decisions show at once.
const QUEUE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const QUEUE_CACHE_PAGES: usize = 1_000;

struct CachedPage {
    at: std::time::Instant,
    generation: u64,
    body: axum::body::Bytes,
    /// A request is fetching a fresh copy: others keep serving this one meanwhile (no
    /// stampede when pages expire together), unless a decision made it out of date.
    refreshing: bool,
}

fn invalidate(state: &AppState) {
    state.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

type Shared = Arc<AppState>;

/// An API error as JSON with its status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Usage(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, m),
            other => {
                tracing::error!("store: {other}");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the alert store failed".into())
            }
        }
    }
}

/// The user a request's token belongs to.
fn user(state: &AppState, headers: &HeaderMap) -> std::result::Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token.and_then(|t| state.tokens.get(t)) {
        Some(u) => Ok(u.clone()),
        None => Err(ApiError(StatusCode::UNAUTHORIZED, "a valid bearer token is required".into())),
    }
}

/// Runs `f` on one of the store threads and waits for it without blocking a worker.
async fn with_store<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut AlertStore) -> Result<T> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |st: &mut AlertStore| {
        let _ = tx.send(f(st));
    });
    let sent = state.jobs.lock().map(|q| q.send(job).is_ok()).unwrap_or(false);
    if !sent {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the alert store is not available".into()));
    }
    rx.await
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "store worker ended".into()))?
        .map_err(ApiError::from)
}

#[derive(Deserialize, Default)]
struct ListQuery {
    rule: Option<String>,
    typology: Option<String>,
    severity: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
    case: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_usd: Option<f64>,
    max_usd: Option<f64>,
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn list(
    State(s): State<Shared>,
    h: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(e) = user(&s, &h) {
        return e.into_response();
    }
    let key = raw.unwrap_or_default();
    let generation = s.generation.load(std::sync::atomic::Ordering::Relaxed);
    let hit = s.queue_cache.lock().ok().and_then(|mut c| {
        let e = c.get_mut(&key).filter(|e| e.generation == generation)?;
        if e.at.elapsed() < QUEUE_CACHE_TTL || e.refreshing {
            return Some(e.body.clone());
        }
        // this request refreshes it; the others keep the current copy until then
        e.refreshing = true;
        None
    });
    if let Some(body) = hit {
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let empty = |v: Option<String>| v.filter(|x| !x.is_empty());
    let f = Filter {
        rule_id: empty(q.rule),
        typology: empty(q.typology),
        severity: empty(q.severity),
        status: empty(q.status),
        assignee: empty(q.assignee),
        case_id: empty(q.case),
        from: empty(q.from),
        to: empty(q.to),
        min_usd: q.min_usd,
        max_usd: q.max_usd,
        limit: q.limit,
        offset: q.offset,
    };
    match with_store(&s, move |st| st.list(&f)).await {
        Ok(rows) => {
            let body = axum::body::Bytes::from(serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into()));
            if let Ok(mut c) = s.queue_cache.lock() {
                if c.len() >= QUEUE_CACHE_PAGES {
                    c.clear();
                }
                c.insert(
                    key,
                    CachedPage { at: std::time::Instant::now(), generation, body: body.clone(), refreshing: false },
                );
            }
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            if let Ok(mut c) = s.queue_cache.lock()
                && let Some(p) = c.get_mut(&key)
            {
                p.refreshing = false;
            }
            e.into_response()
        }
    }
}

async fn show(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = user(&s, &h) {
        return e.into_response();
    }
    match with_store(&s, move |st| st.get(&id)).await {
        Ok(Some(a)) => axum::Json(a).into_response(),
        Ok(None) => ApiError(StatusCode::NOT_FOUND, "no such alert".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct Decision {
    status: String,
    reason: Option<String>,
}

/// A review decision by the token's user: run on the store, then the cached queue pages
/// are out of date.
async fn write_as_user(
    s: &Shared,
    h: &HeaderMap,
    f: impl FnOnce(&mut AlertStore, &str) -> Result<crate::store::StoredAlert> + Send + 'static,
) -> Response {
    let who = match user(s, h) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let res = with_store(s, move |st| f(st, &who)).await;
    invalidate(s);
    match res {
        Ok(a) => axum::Json(a).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn decide(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>, body: axum::Json<Decision>) -> Response {
    let d = body.0;
    write_as_user(&s, &h, move |st, who| st.decide(&id, &d.status, who, d.reason.as_deref())).await
}

#[derive(Deserialize)]
struct Assign {
    assignee: String,
}

async fn assign(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>, body: axum::Json<Assign>) -> Response {
    write_as_user(&s, &h, move |st, who| st.assign(&id, &body.0.assignee, who)).await
}

#[derive(Deserialize)]
struct Note {
    text: String,
}

async fn note(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>, body: axum::Json<Note>) -> Response {
    write_as_user(&s, &h, move |st, who| st.note(&id, &body.0.text, who)).await
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

async fn export(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Response {
    if let Err(e) = user(&s, &h) {
        return e.into_response();
    }
    let format = q.format.unwrap_or_else(|| "json".into());
    let fmt = format.clone();
    match with_store(&s, move |st| {
        let a: Vec<_> = st.get(&id)?.into_iter().collect();
        if a.is_empty() {
            return Ok(None);
        }
        crate::store::export::export(&a, &fmt).map(Some)
    })
    .await
    {
        Ok(Some(text)) => {
            let ct = match format.as_str() {
                "csv" => "text/csv; charset=utf-8",
                "json" => "application/json",
                _ => "text/markdown; charset=utf-8",
            };
            ([(header::CONTENT_TYPE, ct)], text).into_response()
        }
        Ok(None) => ApiError(StatusCode::NOT_FOUND, "no such alert".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn case(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = user(&s, &h) {
        return e.into_response();
    }
    match with_store(&s, move |st| st.case(&id)).await {
        Ok(v) if !v.is_empty() => axum::Json(v).into_response(),
        Ok(_) => ApiError(StatusCode::NOT_FOUND, "no such case".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn whoami(State(s): State<Shared>, h: HeaderMap) -> Response {
    match user(&s, &h) {
        Ok(u) => axum::Json(serde_json::json!({"user": u})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `/ready`: 200 once the store answers (a load balancer sends analysts here only then).
async fn ready(State(s): State<Shared>) -> Response {
    match with_store(&s, |st| st.counts()).await {
        Ok(_) => "ready".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the alert store is not available").into_response(),
    }
}

/// `/metrics` (no token: Prometheus scrapes it; it holds counts, never ids): the review
/// queue by severity and status, the oldest pending alert's age by severity and the
/// decisions in the audit trail, read from the store at each scrape.
async fn metrics_page(State(s): State<Shared>) -> Response {
    if let Ok((counts, stats)) = with_store(&s, |st| Ok((st.counts()?, st.review_stats()?))).await {
        let m = crate::metrics::metrics();
        m.alert_queue.reset();
        for ((status, severity), n) in counts {
            m.alert_queue.with_label_values(&[severity.as_str(), status.as_str()]).set(n);
        }
        let now = chrono::Utc::now();
        m.alert_queue_oldest_age_seconds.reset();
        for (severity, created) in &stats.oldest_pending {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(created) {
                let age = (now - t.with_timezone(&chrono::Utc)).num_milliseconds().max(0) as f64 / 1e3;
                m.alert_queue_oldest_age_seconds.with_label_values(&[severity.as_str()]).set(age);
            }
        }
        // every status a decision can move to, 0 until the first: rates are defined from the start
        for status in crate::store::STATUSES.iter().filter(|s| **s != "open") {
            m.review_decisions.with_label_values(&[status]).set(stats.decisions.get(*status).copied().unwrap_or(0));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::encode(crate::metrics::Exposer::Review))
        .into_response()
}

const PAGE: &str = include_str!("serve/page.html");
const OPENAPI: &str = include_str!("serve/openapi.json");

/// The router (tests drive it without a socket).
fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_page))
        .route("/api/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/api/whoami", get(whoami))
        .route("/api/alerts", get(list))
        .route("/api/alerts/{id}", get(show))
        .route("/api/alerts/{id}/decision", post(decide))
        .route("/api/alerts/{id}/assign", post(assign))
        .route("/api/alerts/{id}/notes", post(note))
        .route("/api/alerts/{id}/export", get(export))
        .route("/api/cases/{id}", get(case))
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    if opts.tokens.is_empty() {
        return Err(Error::Usage(
            "no API tokens: set MIRRORFLOW_TOKENS=\"user=token,...\" or give --tokens FILE (user=token lines)".into(),
        ));
    }
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let mut describe = String::new();
    for i in 0..opts.connections.max(1) {
        // each store thread opens (and later drops) its own connection: the PostgreSQL
        // client blocks and may not start its runtime on an async worker
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<Result<String>>();
        let url = opts.store.clone();
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("store-{i}"))
            .spawn(move || {
                let mut st = match AlertStore::open(&url) {
                    Ok(st) => st,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let _ = opened_tx.send(Ok(st.describe()));
                loop {
                    // hold the queue only to take one job
                    let job = match rx.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut st),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("store thread: {e}")))?;
        describe =
            opened_rx.await.map_err(|_| Error::Internal("store thread ended while opening the store".into()))??;
    }
    let state = Arc::new(AppState {
        jobs: Mutex::new(tx),
        tokens: opts.tokens,
        queue_cache: Mutex::new(HashMap::new()),
        generation: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", opts.addr)))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(format!("local address: {e}")))?;
    tracing::info!(%addr, store = %describe, users = state.tokens.len(), "serving the review API and page");
    eprintln!("mirrorflow serve: http://{addr}/ ({describe})");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .map_err(|e| Error::Internal(format!("server: {e}")))
}
