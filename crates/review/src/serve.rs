//! `mirrorflow serve`: the analyst's review API (axum) and web page over the alert store.
//!
//! Every `/api` request needs `Authorization: Bearer <token>`; each token belongs to one
//! user (`MIRRORFLOW_TOKENS="ana=TOKEN,bob=TOKEN"` or `--tokens FILE` with `user=token`
//! lines), and every decision records that user. Tokens are never logged, compared in
//! constant time, and checked before anything else of a request is read. The store is
//! reached through a few connections on blocking threads (SQLite in WAL mode reads in
//! parallel; PostgreSQL takes one session per connection).
//!
//! Nothing a caller sends can make the server hold much: bodies, notes and reasons are
//! bounded, an assignee is one of the token users, the queue cache is bounded in bytes
//! (`[serve]` in the configuration). Every refusal is JSON (`{"error": "..."}`) naming the
//! parameter or field, and every response carries the browser security headers.
//!
//! Owns: routes, authentication, request validation, the OpenAPI description, the
//! embedded page.
//! Must not: decide workflow rules (the store does) or log ids above debug level.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::store::{AlertStore, Filter};
use mirrorflow_core::alert::Severity;
use mirrorflow_core::error::{Error, Result};

mod config;
pub use config::RawServe;

/// The bounds the server enforces (`[serve]` in the configuration).
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Most bytes of served queue pages (bodies and their query strings) kept for reuse.
    pub queue_cache_bytes: usize,
    /// How long a served queue page may be reused.
    pub queue_cache_ttl: Duration,
    /// Largest request body read.
    pub max_body_bytes: usize,
    /// Longest note or decision reason, in characters.
    pub max_text_chars: usize,
}

/// What the server needs.
pub struct ServeOptions {
    pub store: String,
    pub addr: SocketAddr,
    pub tokens: Tokens,
    /// Store connections.
    pub connections: usize,
    pub limits: ServeLimits,
}

/// The API's users and their tokens. A token is looked up by comparing it with every
/// token in constant time (no early exit), so response times tell nothing about how close
/// a guess came.
#[derive(Clone, Default)]
pub struct Tokens {
    /// (token, user), in the order given.
    entries: Vec<(String, String)>,
}

impl Tokens {
    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No tokens at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The user `token` belongs to.
    pub fn user(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (t, u) in &self.entries {
            if constant_time_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(u.as_str());
            }
        }
        found
    }

    /// Whether `name` is one of the users (an assignee must be).
    pub fn has_user(&self, name: &str) -> bool {
        self.entries.iter().any(|(_, u)| u == name)
    }
}

/// Equality that reads every byte of both sides whatever they hold.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Reads `user=token` pairs (comma- or line-separated). A token given twice (for two
/// users, or twice for one) is refused: which user a request acts as must never depend on
/// the order of the list.
pub fn parse_tokens(text: &str) -> Result<Tokens> {
    let mut out = Tokens::default();
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
        if user.chars().count() > MAX_NAME_CHARS || user.chars().any(char::is_control) {
            return Err(Error::Usage(format!(
                "token entry {}: a user name is at most {MAX_NAME_CHARS} printable characters",
                n + 1
            )));
        }
        if let Some((_, first)) = out.entries.iter().find(|(t, _)| t == token) {
            return Err(Error::Usage(format!(
                "token entry {} (user `{user}`): the same token as user `{first}`: every user needs a token of their own",
                n + 1
            )));
        }
        out.entries.push((token.to_string(), user.to_string()));
    }
    Ok(out)
}

/// Longest user name, assignee or text filter (`rule`, `typology`, `case`, `assignee` in
/// a query), in characters: names and ids, never prose.
const MAX_NAME_CHARS: usize = 200;

/// The store's largest page (`limit`).
const MAX_PAGE: u64 = 10_000;

/// Largest `min_usd` / `max_usd` in whole dollars: its cents stay exact through the
/// store's filter.
const MAX_FILTER_USD: i128 = 10_000_000_000_000;

/// How long other requests keep serving an expired queue page while one request fetches a
/// fresh copy; past this (that request was dropped) the next request refreshes it.
const REFRESH_PATIENCE: Duration = Duration::from_secs(10);

/// Sent with every response: no inline script or style, nothing from elsewhere, never in
/// a frame, no referrer.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// A unit of store work, run on one of the store threads.
type Job = Box<dyn FnOnce(&mut AlertStore) + Send>;

struct AppState {
    /// Store threads, each owning a connection, take jobs from this queue: requests wait
    /// in async land (not as hundreds of blocked threads) and the store sees at most
    /// `connections` statements at once.
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    tokens: Tokens,
    limits: ServeLimits,
    /// Queue pages as served, by query string, for `queue_cache_ttl` (a team looks at the
    /// same few pages); any decision through the API empties it (`generation`).
    queue_cache: Mutex<QueueCache>,
    generation: std::sync::atomic::AtomicU64,
}

struct CachedPage {
    at: Instant,
    generation: u64,
    body: axum::body::Bytes,
    /// A request is fetching a fresh copy (since when): others keep serving this one
    /// meanwhile (no stampede when pages expire together), unless a decision made it out
    /// of date.
    refreshing: Option<Instant>,
}

/// Served queue pages, at most `queue_cache_bytes` of them.
#[derive(Default)]
struct QueueCache {
    pages: HashMap<String, CachedPage>,
    bytes: usize,
}

/// What a cached page counts against the budget: its body, its key and the bookkeeping.
fn page_cost(key: &str, body: &[u8]) -> usize {
    key.len() + body.len() + std::mem::size_of::<CachedPage>() + 64
}

impl QueueCache {
    fn remove(&mut self, key: &str) {
        if let Some(p) = self.pages.remove(key) {
            self.bytes -= page_cost(key, &p.body);
        }
    }

    fn clear(&mut self) {
        self.pages.clear();
        self.bytes = 0;
    }

    /// Keeps `body` for `key`: first drops what can no longer be served (expired and not
    /// being refreshed, or from before a decision), then the oldest pages until it fits.
    /// A page larger than the whole budget is not kept.
    fn insert(&mut self, key: String, page: CachedPage, limits: &ServeLimits) {
        self.remove(&key);
        let cost = page_cost(&key, &page.body);
        if cost > limits.queue_cache_bytes {
            return;
        }
        let (ttl, generation) = (limits.queue_cache_ttl, page.generation);
        let dead: Vec<String> = self
            .pages
            .iter()
            .filter(|(_, p)| {
                p.generation != generation
                    || (p.at.elapsed() >= ttl && p.refreshing.is_none_or(|r| r.elapsed() >= REFRESH_PATIENCE))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in dead {
            self.remove(&k);
        }
        if self.bytes + cost > limits.queue_cache_bytes {
            let mut by_age: Vec<(Instant, String)> = self.pages.iter().map(|(k, p)| (p.at, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age {
                if self.bytes + cost <= limits.queue_cache_bytes {
                    break;
                }
                self.remove(&k);
            }
        }
        self.bytes += cost;
        self.pages.insert(key, page);
    }
}

/// A decision through the API: every cached page is out of date.
fn invalidate(state: &AppState) {
    state.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut c) = state.queue_cache.lock() {
        c.clear();
    }
}

type Shared = Arc<AppState>;

/// An API error as JSON (`{"error": "..."}`) with its status.
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_param(name: &str, problem: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::BAD_REQUEST, format!("query parameter `{name}`: {problem}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, axum::Json(serde_json::json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        r
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

/// An extractor's rejection (bad JSON, body too large, bad query string, bad path) as a
/// JSON error with the rejection's status; axum's own are plain text.
fn rejected(status: StatusCode, text: String) -> ApiError {
    let mut c = text.chars();
    let text = match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => text,
    };
    ApiError(status, text)
}

/// A JSON body; its rejections as JSON errors.
struct JsonBody<T>(T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> std::result::Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(JsonBody(j.0)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError(
                r.status(),
                format!(
                    "the request body is larger than {} bytes (`serve.max-body-bytes`)",
                    state.limits.max_body_bytes
                ),
            )),
            Err(r) => Err(rejected(r.status(), r.body_text())),
        }
    }
}

/// A query string; its rejections as JSON errors.
struct QueryParams<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> std::result::Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(QueryParams(q.0)),
            Err(r) => Err(rejected(r.status(), r.body_text())),
        }
    }
}

/// The `{id}` of a path; its rejections as JSON errors.
struct Id(String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> std::result::Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Id(p.0)),
            Err(r) => Err(rejected(r.status(), r.body_text())),
        }
    }
}

/// The user a request's token belongs to (set by `authenticate`).
#[derive(Clone)]
struct User(String);

/// Every `/api` route but the description: the bearer token is checked before anything of
/// the request is read, so a caller without one learns nothing from how a body is refused.
async fn authenticate(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token.and_then(|t| s.tokens.user(t)) {
        Some(u) => {
            let u = User(u.to_string());
            req.extensions_mut().insert(u);
            next.run(req).await
        }
        None => ApiError(StatusCode::UNAUTHORIZED, "a valid bearer token is required".into()).into_response(),
    }
}

/// Adds `SECURITY_HEADERS` to a response.
async fn security_headers(mut r: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        r.headers_mut().insert(name, header::HeaderValue::from_static(value));
    }
    r
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

/// The queue's query string as given: every value is text here and checked by
/// `ListQuery::filter`, so each problem names its parameter.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    rule: Option<String>,
    typology: Option<String>,
    severity: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
    case: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_usd: Option<String>,
    max_usd: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// A name or id parameter: at most `MAX_NAME_CHARS` printable characters ("" means unset).
fn name_param(name: &str, v: Option<String>) -> std::result::Result<Option<String>, ApiError> {
    let Some(v) = v.filter(|x| !x.is_empty()) else { return Ok(None) };
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_param(name, format!("longer than {MAX_NAME_CHARS} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_param(name, "holds a control character"));
    }
    Ok(Some(v))
}

/// What is shown of a value a request got wrong: at most 40 characters of it.
fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(40).flat_map(char::escape_debug).collect();
    if v.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

/// One of `allowed` ("" means unset).
fn enum_param(name: &str, v: Option<String>, allowed: &[&str]) -> std::result::Result<Option<String>, ApiError> {
    match v.filter(|x| !x.is_empty()) {
        None => Ok(None),
        Some(x) if allowed.contains(&x.as_str()) => Ok(Some(x)),
        Some(x) => Err(ApiError::bad_param(name, format!("`{}`: expected one of {}", shown(&x), allowed.join(", ")))),
    }
}

/// A whole number in `lo..=hi`.
fn int_param(name: &str, v: Option<String>, lo: u64, hi: u64) -> std::result::Result<Option<u64>, ApiError> {
    let Some(x) = v.filter(|x| !x.is_empty()) else { return Ok(None) };
    match x.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_param(name, format!("`{}`: expected a whole number from {lo} to {hi}", shown(&x)))),
    }
}

/// An exact decimal amount of USD (at most cents), finite and within `MAX_FILTER_USD`.
fn usd_param(name: &str, v: Option<String>) -> std::result::Result<Option<f64>, ApiError> {
    let Some(x) = v.filter(|x| !x.is_empty()) else { return Ok(None) };
    let cents = mirrorflow_core::money::parse_decimal(x.as_bytes(), 2).map_err(|e| {
        ApiError::bad_param(name, format!("`{}` {e} (expected a decimal such as 2500 or 99.50)", shown(&x)))
    })?;
    if cents.abs() > MAX_FILTER_USD * 100 {
        return Err(ApiError::bad_param(name, format!("`{}`: at most {MAX_FILTER_USD} in size", shown(&x))));
    }
    // exact: |cents| < 2^53
    Ok(Some(cents as f64 / 100.0))
}

/// An RFC 3339 time or a date (`2026-01-05`); a time with an offset is compared in UTC.
fn time_param(name: &str, v: Option<String>) -> std::result::Result<Option<String>, ApiError> {
    let Some(x) = v.filter(|x| !x.is_empty()) else { return Ok(None) };
    if x.len() == 10 && chrono::NaiveDate::parse_from_str(&x, "%Y-%m-%d").is_ok() {
        return Ok(Some(x));
    }
    match chrono::DateTime::parse_from_rfc3339(&x) {
        Ok(t) => Ok(Some(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
        Err(e) => Err(ApiError::bad_param(
            name,
            format!("`{}`: {e} (expected an RFC 3339 time such as 2026-01-05T10:00:00Z, or a date)", shown(&x)),
        )),
    }
}

impl ListQuery {
    /// The store's filter, every parameter checked.
    fn filter(self) -> std::result::Result<Filter, ApiError> {
        let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        let f = Filter {
            rule_id: name_param("rule", self.rule)?,
            typology: name_param("typology", self.typology)?,
            severity: enum_param("severity", self.severity, &severities)?,
            status: enum_param("status", self.status, &crate::store::STATUSES)?,
            assignee: name_param("assignee", self.assignee)?,
            case_id: name_param("case", self.case)?,
            from: time_param("from", self.from)?,
            to: time_param("to", self.to)?,
            min_usd: usd_param("min_usd", self.min_usd)?,
            max_usd: usd_param("max_usd", self.max_usd)?,
            limit: int_param("limit", self.limit, 1, MAX_PAGE)?,
            offset: int_param("offset", self.offset, 0, i64::MAX as u64)?,
        };
        if let (Some(lo), Some(hi)) = (f.min_usd, f.max_usd)
            && lo > hi
        {
            return Err(ApiError::bad_param("min_usd", "is above `max_usd`"));
        }
        Ok(f)
    }
}

async fn list(
    State(s): State<Shared>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    QueryParams(q): QueryParams<ListQuery>,
) -> Response {
    let f = match q.filter() {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let key = raw.unwrap_or_default();
    let generation = s.generation.load(std::sync::atomic::Ordering::Relaxed);
    let ttl = s.limits.queue_cache_ttl;
    let hit = s.queue_cache.lock().ok().and_then(|mut c| {
        let e = c.pages.get_mut(&key).filter(|e| e.generation == generation)?;
        if e.at.elapsed() < ttl || e.refreshing.is_some_and(|r| r.elapsed() < REFRESH_PATIENCE) {
            return Some(e.body.clone());
        }
        // this request refreshes it; the others keep the current copy until then
        e.refreshing = Some(Instant::now());
        None
    });
    if let Some(body) = hit {
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    match with_store(&s, move |st| st.list(&f)).await {
        Ok(rows) => {
            let body = axum::body::Bytes::from(serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into()));
            // a page read before a decision is not kept (`invalidate` bumps, then clears)
            if !ttl.is_zero()
                && let Ok(mut c) = s.queue_cache.lock()
                && s.generation.load(std::sync::atomic::Ordering::Relaxed) == generation
            {
                let page = CachedPage { at: Instant::now(), generation, body: body.clone(), refreshing: None };
                c.insert(key, page, &s.limits);
            }
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            if let Ok(mut c) = s.queue_cache.lock()
                && let Some(p) = c.pages.get_mut(&key)
            {
                p.refreshing = None;
            }
            e.into_response()
        }
    }
}

async fn show(State(s): State<Shared>, Id(id): Id) -> Response {
    match with_store(&s, move |st| st.get(&id)).await {
        Ok(Some(a)) => axum::Json(a).into_response(),
        Ok(None) => ApiError(StatusCode::NOT_FOUND, "no such alert".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    status: String,
    reason: Option<String>,
}

/// Refuses a note or reason longer than `max_text_chars`.
fn check_text(s: &Shared, what: &str, text: &str) -> std::result::Result<(), ApiError> {
    let n = text.chars().count();
    let max = s.limits.max_text_chars;
    if n > max {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field `{what}`: {n} characters, at most {max} (`serve.max-text-chars`)"),
        ));
    }
    Ok(())
}

/// A review decision by the token's user: run on the store, then the cached queue pages
/// are out of date.
async fn write_as_user(
    s: &Shared,
    who: String,
    id: String,
    f: impl FnOnce(&mut AlertStore, &str, &str) -> Result<crate::store::StoredAlert> + Send + 'static,
) -> Response {
    let res = with_store(s, move |st| {
        // an unknown alert is 404, not a refused decision
        if st.get(&id)?.is_none() {
            return Ok(None);
        }
        f(st, &id, &who).map(Some)
    })
    .await;
    invalidate(s);
    match res {
        Ok(Some(a)) => axum::Json(a).into_response(),
        Ok(None) => ApiError(StatusCode::NOT_FOUND, "no such alert".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn decide(
    State(s): State<Shared>,
    Extension(User(who)): Extension<User>,
    Id(id): Id,
    JsonBody(d): JsonBody<Decision>,
) -> Response {
    if let Err(e) = check_text(&s, "reason", d.reason.as_deref().unwrap_or_default()) {
        return e.into_response();
    }
    write_as_user(&s, who, id, move |st, id, who| st.decide(id, &d.status, who, d.reason.as_deref())).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    assignee: String,
}

async fn assign(
    State(s): State<Shared>,
    Extension(User(who)): Extension<User>,
    Id(id): Id,
    JsonBody(a): JsonBody<Assign>,
) -> Response {
    let to = a.assignee.trim().to_string();
    if !to.is_empty() && !s.tokens.has_user(&to) {
        return ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field `assignee`: `{}` is not a user of this server (\"\" unassigns)", shown(&to)),
        )
        .into_response();
    }
    write_as_user(&s, who, id, move |st, id, who| st.assign(id, &to, who)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    text: String,
}

async fn note(
    State(s): State<Shared>,
    Extension(User(who)): Extension<User>,
    Id(id): Id,
    JsonBody(n): JsonBody<Note>,
) -> Response {
    if let Err(e) = check_text(&s, "text", &n.text) {
        return e.into_response();
    }
    write_as_user(&s, who, id, move |st, id, who| st.note(id, &n.text, who)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

async fn export(State(s): State<Shared>, Id(id): Id, QueryParams(q): QueryParams<ExportQuery>) -> Response {
    let format = match enum_param("format", q.format, &["json", "csv", "sar", "md", "markdown"]) {
        Ok(f) => f.unwrap_or_else(|| "json".into()),
        Err(e) => return e.into_response(),
    };
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

async fn case(State(s): State<Shared>, Id(id): Id) -> Response {
    match with_store(&s, move |st| st.case(&id)).await {
        Ok(v) if !v.is_empty() => axum::Json(v).into_response(),
        Ok(_) => ApiError(StatusCode::NOT_FOUND, "no such case".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn whoami(Extension(User(who)): Extension<User>) -> Response {
    axum::Json(serde_json::json!({"user": who})).into_response()
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
        let m = mirrorflow_core::metrics::metrics();
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        mirrorflow_core::metrics::encode(mirrorflow_core::metrics::Exposer::Review),
    )
        .into_response()
}

const PAGE: &str = include_str!("serve/page.html");
const PAGE_JS: &str = include_str!("serve/page.js");
const PAGE_CSS: &str = include_str!("serve/page.css");
const OPENAPI: &str = include_str!("serve/openapi.json");

/// The router (tests drive it without a socket).
fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/api/whoami", get(whoami))
        .route("/api/alerts", get(list))
        .route("/api/alerts/{id}", get(show))
        .route("/api/alerts/{id}/decision", post(decide))
        .route("/api/alerts/{id}/assign", post(assign))
        .route("/api/alerts/{id}/notes", post(note))
        .route("/api/alerts/{id}/export", get(export))
        .route("/api/cases/{id}", get(case))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }))
        .route("/page.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], PAGE_JS) }))
        .route("/page.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], PAGE_CSS) }))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_page))
        .route("/api/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .merge(api)
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError(StatusCode::METHOD_NOT_ALLOWED, "this route does not take that method".into())
        })
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::map_response(security_headers))
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
        limits: opts.limits,
        queue_cache: Mutex::new(QueueCache::default()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: usize, ttl_ms: u64) -> ServeLimits {
        ServeLimits {
            queue_cache_bytes: bytes,
            queue_cache_ttl: Duration::from_millis(ttl_ms),
            max_body_bytes: 1024,
            max_text_chars: 100,
        }
    }

    fn page(len: usize, generation: u64) -> CachedPage {
        CachedPage { at: Instant::now(), generation, body: vec![b'x'; len].into(), refreshing: None }
    }

    #[test]
    fn the_queue_cache_stays_within_its_bytes_oldest_first() {
        let l = limits(3 * page_cost("k0", &[0; 1000]), 60_000);
        let mut c = QueueCache::default();
        for i in 0..10 {
            c.insert(format!("k{i}"), page(1000, 0), &l);
            assert!(c.bytes <= l.queue_cache_bytes);
        }
        let mut keys: Vec<_> = c.pages.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["k7", "k8", "k9"]);
        // a page larger than the whole budget is not kept
        c.insert("big".into(), page(10_000, 0), &l);
        assert!(!c.pages.contains_key("big"));
        assert_eq!(c.bytes, c.pages.iter().map(|(k, p)| page_cost(k, &p.body)).sum::<usize>());
    }

    #[test]
    fn expired_and_outdated_pages_are_dropped() {
        let l = limits(1 << 20, 0);
        let mut c = QueueCache::default();
        c.insert("old".into(), page(10, 0), &l);
        c.insert("new".into(), page(10, 1), &l);
        assert_eq!(c.pages.keys().collect::<Vec<_>>(), ["new"], "expired (ttl 0) and older generation");
        c.pages.get_mut("new").unwrap().refreshing = Some(Instant::now());
        c.insert("newer".into(), page(10, 1), &l);
        assert!(c.pages.contains_key("new"), "a page being refreshed is still served meanwhile");
    }

    #[test]
    fn tokens_compare_in_full() {
        let t = parse_tokens("ana=token-of-ana-123,bob=token-of-bob-456").unwrap();
        assert_eq!(t.user("token-of-bob-456"), Some("bob"));
        for wrong in ["", "token-of-bob-45", "token-of-bob-4567", "token-of-bob-457"] {
            assert_eq!(t.user(wrong), None, "{wrong}");
        }
        assert!(parse_tokens("ana=token-of-ana-123\nbob=token-of-ana-123").is_err());
    }
}
