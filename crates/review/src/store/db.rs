//! One SQL seam over the two alert-store backends: an embedded SQLite file and
//! PostgreSQL. Statements are written once with `$1, $2, ...` placeholders (SQLite reads
//! `$N` as a parameter numbered by first appearance, so statements must use them in
//! order), values travel as `Val`, and only the DDL that the two dialects spell
//! differently (identity columns, triggers) is per backend.
//!
//! The PostgreSQL client is synchronous and runs its own small runtime, so a `Db` on
//! PostgreSQL is opened, used and dropped on plain threads only (the pipeline's store
//! writer, `serve`'s store threads, the CLI): opening one on an async worker is refused
//! with an error instead of the client's panic. Text never carries a NUL byte to either
//! backend (PostgreSQL refuses a whole statement over one): it is written as the JSON
//! escape `\u0000`, alike in both dialects, so lookups by such a value still match.
//!
//! Owns: opening a store URL, `Val`, statement execution, transactions, row locks,
//! migrations.
//! Must not: know what an alert is.

use std::borrow::Cow;
use std::time::Duration;

use mirrorflow_core::error::{Error, Result};

/// How long a SQLite statement waits for another connection's write lock unless the
/// caller says otherwise (`output.store-busy-timeout` for jobs).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Text as stored: NUL bytes spelled `\u0000` (see the module docs).
fn without_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') { Cow::Owned(s.replace('\0', "\\u0000")) } else { Cow::Borrowed(s) }
}

/// A value bound to, or read from, a statement. Integers are 64-bit and reals double
/// on both backends (columns are `BIGINT` / `DOUBLE PRECISION` / `TEXT`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Val {
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Real(r) => Some(*r as i64),
            _ => None,
        }
    }

    pub fn real(&self) -> Option<f64> {
        match self {
            Val::Real(r) => Some(*r),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}

impl From<f64> for Val {
    fn from(r: f64) -> Self {
        Val::Real(r)
    }
}

impl From<Option<&str>> for Val {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Val::Null, Val::from)
    }
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// An open store database.
pub struct Db {
    backend: Backend,
    /// Where it is, without credentials (for messages).
    pub location: String,
}

fn db_err(location: &str, what: impl std::fmt::Display) -> Error {
    Error::Store(format!("{location}: {what}"))
}

/// A PostgreSQL error with the server's own message (its `Display` is only "db error").
fn pg_msg(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.severity(), d.message()),
        None => e.to_string(),
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Opens `url`: `postgres://` / `postgresql://` for PostgreSQL, otherwise a SQLite
    /// file path (`sqlite://` prefix optional), created if missing, in WAL mode.
    pub fn open(url: &str) -> Result<Db> {
        Db::open_with(url, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Db::open`], a SQLite statement waiting up to `busy_timeout` for another
    /// connection's lock before it fails.
    pub fn open_with(url: &str, busy_timeout: Duration) -> Result<Db> {
        let location = redact(url);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(Error::Internal(format!(
                    "alert store {location}: the PostgreSQL client was opened on an async worker (open it on a store thread)"
                )));
            }
            let client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| db_err(&location, pg_msg(&e)))?;
            return Ok(Db { backend: Backend::Postgres(Box::new(client)), location });
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| db_err(&location, e))?;
        // the busy timeout first: switching to WAL waits for a lock too
        conn.busy_timeout(busy_timeout).map_err(|e| db_err(&location, e))?;
        // SQLite may answer SQLITE_BUSY to the switch at once, without its busy handler,
        // while another process opens the same new file: try again within the timeout
        let started = std::time::Instant::now();
        loop {
            match conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < busy_timeout =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(db_err(&location, e)),
            }
        }
        Ok(Db { backend: Backend::Sqlite(conn), location })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// What a `SELECT` appends to lock the rows it reads until the transaction ends:
    /// `FOR UPDATE` on PostgreSQL; nothing on SQLite, whose transactions take the write
    /// lock when they begin (`BEGIN IMMEDIATE`), so no other writer runs meanwhile.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Inside a transaction: waits until no other writer of alerts holds the store, and
    /// holds it until the transaction ends (PostgreSQL: a transaction-level advisory lock;
    /// SQLite's `BEGIN IMMEDIATE` already did). Writers that read, then insert or relabel
    /// (cases) would otherwise interleave.
    pub fn lock_writers(&mut self) -> Result<()> {
        match self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(_) => self.batch("SELECT pg_advisory_xact_lock(7262543130)"),
        }
    }

    /// Runs statements separated by `;` (no parameters).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        let loc = self.location.clone();
        match &mut self.backend {
            Backend::Sqlite(c) => c.execute_batch(sql).map_err(|e| db_err(&loc, e)),
            Backend::Postgres(c) => c.batch_execute(sql).map_err(|e| db_err(&loc, pg_msg(&e))),
        }
    }

    /// Runs one statement; the rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let loc = self.location.clone();
        match &mut self.backend {
            Backend::Sqlite(c) => {
                let mut st = c.prepare_cached(sql).map_err(|e| db_err(&loc, format!("{e} in `{sql}`")))?;
                let n = st
                    .execute(rusqlite::params_from_iter(params.iter().map(sqlite_val)))
                    .map_err(|e| db_err(&loc, format!("{e} in `{sql}`")))?;
                Ok(n as u64)
            }
            Backend::Postgres(c) => {
                let owned = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
                c.execute(sql, &refs).map_err(|e| db_err(&loc, format!("{} in `{sql}`", pg_msg(&e))))
            }
        }
    }

    /// Runs a query; its rows as values.
    pub fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>> {
        let loc = self.location.clone();
        match &mut self.backend {
            Backend::Sqlite(c) => {
                let mut st = c.prepare_cached(sql).map_err(|e| db_err(&loc, format!("{e} in `{sql}`")))?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(params.iter().map(sqlite_val)), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => Val::Null,
                                    rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                                    rusqlite::types::ValueRef::Real(v) => Val::Real(v),
                                    rusqlite::types::ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into()),
                                    rusqlite::types::ValueRef::Blob(b) => Val::Text(String::from_utf8_lossy(b).into()),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<Val>>>()
                    })
                    .map_err(|e| db_err(&loc, format!("{e} in `{sql}`")))?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| db_err(&loc, e))
            }
            Backend::Postgres(c) => {
                let owned = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(sql, &refs).map_err(|e| db_err(&loc, format!("{} in `{sql}`", pg_msg(&e))))?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                use postgres::types::Type;
                                let t = r.columns()[i].type_().clone();
                                let v = if t == Type::INT8 {
                                    r.try_get::<_, Option<i64>>(i).map(|v| v.map_or(Val::Null, Val::Int))
                                } else if t == Type::INT4 {
                                    r.try_get::<_, Option<i32>>(i).map(|v| v.map_or(Val::Null, |x| Val::Int(x.into())))
                                } else if t == Type::FLOAT8 {
                                    r.try_get::<_, Option<f64>>(i).map(|v| v.map_or(Val::Null, Val::Real))
                                } else {
                                    r.try_get::<_, Option<String>>(i).map(|v| v.map_or(Val::Null, Val::Text))
                                };
                                v.map_err(|e| db_err(&loc, format!("column {i} of `{sql}`: {e}")))
                            })
                            .collect::<Result<Vec<Val>>>()
                    })
                    .collect()
            }
        }
    }

    /// Runs `f` in one transaction: all of it is stored, or none (a crash mid-write
    /// leaves the store as it was).
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        let begin = match self.backend {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        };
        self.batch(begin)?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Applies the migrations not applied yet (each in its own transaction, recorded in
    /// `schema_migrations`); returns the schema version. Processes starting together
    /// against one store (a job, the review API) migrate one at a time: each migration's
    /// transaction takes the store's write lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL
    /// advisory lock) and checks again whether another process applied it meanwhile.
    pub fn migrate(&mut self, migrations: &[Migration]) -> Result<i64> {
        // an up-to-date store (every open but the first) takes no write lock; a store
        // without the table yet answers with an error and goes the locked way
        let latest = migrations.last().map_or(0, |m| m.version);
        if let Ok(r) = self.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            && let Some(applied) = r.first().and_then(|r| r.first()).and_then(Val::int)
            && applied >= latest
        {
            return Ok(applied);
        }
        let mut version = 0;
        for m in migrations {
            let sql = match self.backend {
                Backend::Sqlite(_) => m.sqlite,
                Backend::Postgres(_) => m.postgres,
            };
            let applied = self.transaction(|db| {
                if let Backend::Postgres(_) = db.backend {
                    db.batch("SELECT pg_advisory_xact_lock(7262543129)")?;
                }
                db.batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
                )?;
                let done = db.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?;
                let applied = done.first().and_then(|r| r.first()).and_then(Val::int).unwrap_or(0);
                if applied >= m.version {
                    return Ok(None);
                }
                db.batch(sql)?;
                db.exec(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    &[Val::Int(m.version), Val::Text(crate::store::now())],
                )?;
                Ok(Some(applied))
            })?;
            if applied.is_some() {
                tracing::info!(version = m.version, name = m.name, backend = self.kind(), "alert store migrated");
            }
            version = m.version;
        }
        Ok(version)
    }
}

/// One schema migration, in both dialects.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

fn sqlite_val(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::Null => rusqlite::types::Value::Null,
        Val::Int(i) => rusqlite::types::Value::Integer(*i),
        Val::Real(r) => rusqlite::types::Value::Real(*r),
        Val::Text(s) => rusqlite::types::Value::Text(without_nul(s).into_owned()),
    }
}

fn pg_params(params: &[Val]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Val::Null => Box::new(Option::<String>::None),
                Val::Int(i) => Box::new(*i),
                Val::Real(r) => Box::new(*r),
                Val::Text(s) => Box::new(without_nul(s).into_owned()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("postgres://mf:secret@db:5432/x"), "postgres://mf:***@db:5432/x");
        assert_eq!(redact("postgres://mf@db/x"), "postgres://mf@db/x");
        assert_eq!(redact("out/alerts.db"), "out/alerts.db");
    }
}
