#!/usr/bin/env python3
"""DuckDB side of `mirrorflow bench rules`: the SQL rule pack as one batch job.

Loads the transactions exactly as mirrorflow's rules saw them (ORDERED, the
`ordered.parquet` a replay writes with `output.write-ordered = true`: event-time order,
`seq`, exact `amount_usd`) and the ledger's side tables into an in-memory DuckDB
database, then runs every rule of RULES (the JSON of `mirrorflow rules sql --json`: id,
version and the SQL with its parameters filled) once, and prints one JSON line:

    {"duckdb_version", "threads", "rows", "accounts_rows", "fx_rate_rows",
     "load_seconds", "rules_seconds", "total_seconds", "peak_rss_bytes",
     "rules": [{"id", "ok", "error", "seconds", "rows", "has_matched", "matched_rows",
                "evidence_tx", "rewrites"}]}

Batch semantics: `new_tx` and `window_tx` are both views over the whole table, so every
row is an anchor and the whole ledger is the window (the rules bound their own
lookbacks). `accounts` is typed like mirrorflow types it (src/ingest/tables.rs):
text trimmed, empty text NULL, `opened_at` a DATE, `monthly_income_usd`
DECIMAL(38,6); `fx_rates` is the ledger's file over the bundled table (the file wins on
the same day and currency), `date` DATE, `usd_per_unit` DECIMAL(38,18). The session time
zone is UTC (mirrorflow's timestamps are UTC; `date_trunc` and casts to DATE depend on
it).

The rules are written for DataFusion. The dialect differences are translated by
`to_duckdb` below; each rule reports which rewrites it needed:

* `regexp_match(s, p[, flags])[n]` (DataFusion: the list of capture groups, NULL when no
  match) -> `nullif(regexp_extract(s, p, n[, flags]), '')` (DuckDB returns '' when no
  match; a group that matched the empty string also becomes NULL, which no rule's
  pattern can produce).
* `regexp_like(s, p[, flags])` -> `regexp_matches(s, p[, flags])` (DuckDB has no
  regexp_like; both are true when p matches anywhere in s).

Everything else the pack uses (array_agg ... ORDER BY, array_has, string_to_array,
array_sort, array_to_string, flatten, split_part, date_trunc, date_part('epoch', ...),
interval arithmetic) means the same in both. A rule DuckDB cannot run is reported
with its error, never skipped.

Timing: `load_seconds` covers creating the three tables, `rules_seconds` the sum of the
rules' times; each rule is `CREATE TEMP TABLE result AS <rule>` (the result
materialised, as DataFusion's collect does). Python and DuckDB start-up are excluded.
`peak_rss_bytes` is this process's ru_maxrss (Python and the DuckDB library included),
read at the end (the untimed evidence queries are small next to the rules). After each rule, untimed: its row count, the rows with
`matched` true (when the rule has that column), and the evidence: the distinct tx_ids of
the rows with a subject (and `matched` true). `--evidence-out DIR` also writes each rule's
result rows with a subject to DIR/<rule id>.jsonl (subject, tx_ids, first_us, last_us,
anchor_us, anchor_seq, matched; times in microseconds since the epoch, absent columns
null): the agreement check applies mirrorflow's episode rules to them.

`--probe` prints the DuckDB version and thread count only; `--show-sql` prints each rule
as DuckDB runs it and exits; `--self-test` checks the dialect mapping (no duckdb needed). Exit status: 0 ok (a failing rule is reported in the JSON),
2 bad arguments or the load failed, 3 duckdb is not installed.

Owns: the DuckDB half of the rules comparison. Must not: change a rule's logic beyond the
dialect mapping above, or write anything but the result rows asked for.
"""

import argparse
import json
import os
import re
import resource
import sys
import time

# The accounts columns mirrorflow keeps (src/schema.rs), with their DuckDB types.
ACCOUNT_COLUMNS = [
    ("account_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("country", "VARCHAR"),
    ("region", "VARCHAR"),
    ("institution", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("opened_at", "DATE"),
    ("nationality", "VARCHAR"),
    ("occupation", "VARCHAR"),
    ("monthly_income_usd", "DECIMAL(38,6)"),
    ("industry", "VARCHAR"),
    ("phone_hash", "VARCHAR"),
    ("address_hash", "VARCHAR"),
    ("device_hash", "VARCHAR"),
    ("watchlist", "VARCHAR"),
]

TABLE_EXTS = [".csv", ".csv.gz", ".tsv", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".parquet"]


def sql_string(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def ident(s):
    return '"' + s.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------
# Dialect translation


def scan(sql):
    """Yields (index, char, in_code) over `sql`; in_code is False inside string literals,
    quoted identifiers and comments."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            for k in range(i, min(j + 1, n)):
                yield k, sql[k], False
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                yield k, sql[k], False
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                yield k, sql[k], False
            i = j
        else:
            yield i, c, True
            i += 1


def call_args(sql, open_paren):
    """For the `(` at `open_paren`: (index of the matching `)`, [argument texts])."""
    depth, start, args = 0, open_paren + 1, []
    for i, c, code in scan(sql[open_paren:]):
        i += open_paren
        if not code:
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i].strip())
                return i, args
        elif c == "," and depth == 1:
            args.append(sql[start:i].strip())
            start = i + 1
    raise ValueError("unbalanced parentheses")


def find_calls(sql, name):
    """Start indices of calls `name(` in code (not in strings or comments)."""
    found = []
    code = {i for i, _, in_code in scan(sql) if in_code}
    for m in re.finditer(r"\b" + re.escape(name) + r"\s*\(", sql, re.IGNORECASE):
        before = sql[m.start() - 1] if m.start() > 0 else " "
        if m.start() in code and not (before.isalnum() or before in "_."):
            found.append(m.start())
    return found


def rewrite_regexp_match(sql):
    """`regexp_match(s, p[, flags])[n]` -> `nullif(regexp_extract(s, p, n[, flags]), '')`."""
    starts = find_calls(sql, "regexp_match")
    for start in reversed(starts):
        paren = sql.index("(", start)
        close, args = call_args(sql, paren)
        m = re.match(r"\s*\[\s*(\d+)\s*\]", sql[close + 1 :])
        if not m:
            raise ValueError("regexp_match(...) without a [n] subscript has no DuckDB equivalent here")
        if len(args) not in (2, 3):
            raise ValueError(f"regexp_match with {len(args)} arguments")
        group = m.group(1)
        extract = [args[0], args[1], group] + args[2:]
        new = "nullif(regexp_extract(" + ", ".join(extract) + "), '')"
        sql = sql[:start] + new + sql[close + 1 + m.end() :]
    return sql, bool(starts)


def renamer(old, new):
    """A rewrite renaming the function `old` to `new` (same arguments)."""

    def rewrite(sql):
        starts = find_calls(sql, old)
        for start in reversed(starts):
            paren = sql.index("(", start)
            sql = sql[:start] + new + sql[paren:]
        return sql, bool(starts)

    return rewrite


def rewrite_named_struct(sql):
    """`named_struct('a', x, 'b', y)` -> `struct_pack("a" := x, "b" := y)`."""
    starts = find_calls(sql, "named_struct")
    for start in reversed(starts):
        paren = sql.index("(", start)
        close, args = call_args(sql, paren)
        if len(args) % 2:
            raise ValueError("named_struct with an odd number of arguments")
        fields = []
        for name, value in zip(args[0::2], args[1::2]):
            m = re.fullmatch(r"'((?:[^']|'')*)'", name)
            if not m:
                raise ValueError(f"named_struct field name {name} is not a string literal")
            fields.append(f"{ident(m.group(1).replace(chr(39) * 2, chr(39)))} := {value}")
        sql = sql[:start] + "struct_pack(" + ", ".join(fields) + ")" + sql[close + 1 :]
    return sql, bool(starts)


def rewrite_first_value_aggregate(sql):
    """`first_value(x [ORDER BY ...])` used as an aggregate (no OVER) -> `first(...)`;
    DuckDB's first_value is a window function only. As a window function it is left."""
    done = False
    for start in reversed(find_calls(sql, "first_value")):
        paren = sql.index("(", start)
        close, _ = call_args(sql, paren)
        rest = sql[close + 1 :]
        if re.match(r"\s*(FILTER\s*\([^)]*\)\s*)?OVER\b", rest, re.IGNORECASE):
            continue
        sql = sql[:start] + "first" + sql[paren:]
        done = True
    return sql, done


def rewrite_to_unixtime(sql):
    """`to_unixtime(ts)` (DataFusion: whole seconds since the epoch, a BIGINT) ->
    `(epoch_us(ts) // 1000000)`; DuckDB has no to_unixtime."""
    starts = find_calls(sql, "to_unixtime")
    for start in reversed(starts):
        paren = sql.index("(", start)
        close, args = call_args(sql, paren)
        if len(args) != 1:
            raise ValueError("to_unixtime takes one argument")
        sql = sql[:start] + "(epoch_us(" + args[0] + ") // 1000000)" + sql[close + 1 :]
    return sql, bool(starts)


# (name shown in the report, rewrite)
REWRITES = [
    ("to_unixtime(ts) -> (epoch_us(ts) // 1000000)", rewrite_to_unixtime),
    ("make_array -> list_value", renamer("make_array", "list_value")),
    ("regexp_match(s, p)[n] -> nullif(regexp_extract(s, p, n), '')", rewrite_regexp_match),
    ("regexp_like -> regexp_matches", renamer("regexp_like", "regexp_matches")),
    ("array_element -> list_element", renamer("array_element", "list_element")),
    ("named_struct('k', v) -> struct_pack(\"k\" := v)", rewrite_named_struct),
    ("to_char(ts, fmt) -> strftime(ts, fmt)", renamer("to_char", "strftime")),
    ("first_value(x) as an aggregate -> first(x)", rewrite_first_value_aggregate),
]


def to_duckdb(sql):
    """The rule's SQL in DuckDB's dialect, and the names of the rewrites applied."""
    applied = []
    for name, rewrite in REWRITES:
        sql, did = rewrite(sql)
        if did:
            applied.append(name)
    sql = sql.rstrip().rstrip(";").rstrip()
    return sql, applied


def self_test():
    """Checks of the dialect mapping (pure Python; `cargo test` runs them)."""
    pattern = r"'\b([0-9]{2,7}-[0-9]{2}-[0-9])\b'"
    cases = [
        (f"SELECT regexp_match(coalesce(w.memo, ''), {pattern})[1] AS cas FROM t",
         f"SELECT nullif(regexp_extract(coalesce(w.memo, ''), {pattern}, 1), '') AS cas FROM t"),
        ("SELECT regexp_match(a, 'x(y)', 'i') [2]", "SELECT nullif(regexp_extract(a, 'x(y)', 2, 'i'), '')"),
        ("WHERE regexp_like(coalesce(n.memo, ''), 'a,b') AND x", "WHERE regexp_matches(coalesce(n.memo, ''), 'a,b') AND x"),
        ("SELECT REGEXP_LIKE(a, 'b')", "SELECT regexp_matches(a, 'b')"),
        # Not code: comments, strings, other names.
        ("-- regexp_like(a, b)\nSELECT 'regexp_match(x, y)[1]', my_regexp_like(a)",
         "-- regexp_like(a, b)\nSELECT 'regexp_match(x, y)[1]', my_regexp_like(a)"),
        ("SELECT 1;\n", "SELECT 1"),
        ("SELECT array_element(times, n + 1) AS t", "SELECT list_element(times, n + 1) AS t"),
        ("array_agg(named_struct('cp', cp, 'usd', f(a, b))) OVER w",
         'array_agg(struct_pack("cp" := cp, "usd" := f(a, b))) OVER w'),
        ("to_char(anchor_ts, '%Y-%m-%dT%H:%M:%SZ')", "strftime(anchor_ts, '%Y-%m-%dT%H:%M:%SZ')"),
        ("SELECT first_value(ids) AS a, first_value(x ORDER BY t) AS b FROM g GROUP BY k",
         "SELECT first(ids) AS a, first(x ORDER BY t) AS b FROM g GROUP BY k"),
        ("first_value(x) OVER (PARTITION BY k ORDER BY t)", "first_value(x) OVER (PARTITION BY k ORDER BY t)"),
        ("SELECT array_has(string_to_array('a,b', ','), x)", "SELECT array_has(string_to_array('a,b', ','), x)"),
        ("(to_unixtime(ts) - greatest(to_unixtime(min(ts) OVER (PARTITION BY hub)), 1))",
         "((epoch_us(ts) // 1000000) - greatest((epoch_us(min(ts) OVER (PARTITION BY hub)) // 1000000), 1))"),
        ("make_array(w.tx_id) AS tx_ids", "list_value(w.tx_id) AS tx_ids"),
    ]
    failures = []
    for given, expected in cases:
        got, _ = to_duckdb(given)
        if got != expected:
            failures.append(f"to_duckdb({given!r})\n  gave     {got!r}\n  expected {expected!r}")
    for bad in ["SELECT regexp_match(a, 'b')", "SELECT regexp_match(a, 'b'", "named_struct('a', 1, 'b')"]:
        try:
            to_duckdb(bad)
            failures.append(f"to_duckdb({bad!r}) did not refuse")
        except ValueError:
            pass
    _, applied = to_duckdb(cases[0][0] + " WHERE regexp_like(a, 'b')")
    if len(applied) != 2:
        failures.append(f"rewrites reported: {applied}")
    for f in failures:
        print(f, file=sys.stderr)
    print(f"dialect mapping: {len(failures)} of {len(cases) + 4} checks wrong")
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------
# Loading


def find_table(ledger, stem):
    """The ledger's `stem.*` file (accounts, fx_rates), or None."""
    if not ledger or os.path.isfile(ledger):
        return None
    for name in sorted(os.listdir(ledger)):
        for ext in TABLE_EXTS:
            if name == stem + ext:
                return os.path.join(ledger, name)
    return None


def reader(path):
    """A DuckDB table function reading `path` with every column as text (parquet: as is)."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        return f"read_parquet({sql_string(path)})"
    if lower.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return f"read_json({sql_string(path)}, format = 'newline_delimited')"
    delim = "\t" if lower.endswith(".tsv") else ","
    return f"read_csv({sql_string(path)}, header = true, all_varchar = true, delim = {sql_string(delim)})"


def columns_of(con, source):
    return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def text_expr(col):
    """mirrorflow's reading of a text cell: trimmed, empty is NULL."""
    return f"nullif(trim(CAST({ident(col)} AS VARCHAR)), '')"


def load_accounts(con, path):
    if path is None:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {ident(c)}" for c, t in ACCOUNT_COLUMNS)
        con.execute(f"CREATE TABLE accounts AS SELECT {cols} WHERE false")
        return
    source = reader(path)
    present = set(columns_of(con, source))
    exprs = []
    for c, t in ACCOUNT_COLUMNS:
        if c not in present:
            exprs.append(f"CAST(NULL AS {t}) AS {ident(c)}")
        elif c == "opened_at":
            exprs.append(f"CAST(left({text_expr(c)}, 10) AS DATE) AS {ident(c)}")
        elif t != "VARCHAR":
            exprs.append(f"CAST({text_expr(c)} AS {t}) AS {ident(c)}")
        else:
            exprs.append(f"{text_expr(c)} AS {ident(c)}")
    # mirrorflow keeps the first row of an account id and refuses rows without one.
    con.execute(
        f"CREATE TABLE accounts AS SELECT * EXCLUDE (rn) FROM ("
        f"SELECT {', '.join(exprs)}, row_number() OVER (PARTITION BY {text_expr('account_id')} "
        f"ORDER BY file_row) AS rn FROM (SELECT *, row_number() OVER () AS file_row FROM {source}))"
        f" WHERE rn = 1 AND account_id IS NOT NULL"
    )


def fx_select(source):
    return (
        f"SELECT CAST(left({text_expr('date')}, 10) AS DATE) AS date, "
        f"upper({text_expr('currency')}) AS currency, "
        f"CAST({text_expr('usd_per_unit')} AS DECIMAL(38,18)) AS usd_per_unit FROM {source}"
    )


def load_fx(con, path, bundled):
    parts = [p for p in (path, bundled) if p]
    if not parts:
        con.execute("CREATE TABLE fx_rates (date DATE, currency VARCHAR, usd_per_unit DECIMAL(38,18))")
        return
    con.execute(f"CREATE TEMP TABLE fx_file AS {fx_select(reader(parts[0]))}")
    if len(parts) == 2:
        con.execute(f"CREATE TEMP TABLE fx_bundled AS {fx_select(reader(parts[1]))}")
        con.execute(
            "CREATE TABLE fx_rates AS SELECT * FROM fx_file UNION ALL SELECT * FROM fx_bundled b "
            "WHERE NOT EXISTS (SELECT 1 FROM fx_file f WHERE f.date = b.date AND f.currency = b.currency)"
        )
    else:
        con.execute("CREATE TABLE fx_rates AS SELECT * FROM fx_file")
    con.execute("DROP TABLE fx_file")
    con.execute("DROP TABLE IF EXISTS fx_bundled")


def load(con, ordered, ledger, fx_default):
    con.execute(f"CREATE TABLE tx AS SELECT * FROM read_parquet({sql_string(ordered)})")
    con.execute("CREATE VIEW new_tx AS SELECT * FROM tx")
    con.execute("CREATE VIEW window_tx AS SELECT * FROM tx")
    load_accounts(con, find_table(ledger, "accounts"))
    load_fx(con, find_table(ledger, "fx_rates"), fx_default)


# ---------------------------------------------------------------------------------------
# Rules


def run_rule(con, rule):
    """Runs one rule into the table `result`: its figures so far (time, or the error)."""
    out = {"id": rule["id"], "ok": False, "error": None, "seconds": None, "rows": None,
           "has_matched": False, "matched_rows": None, "evidence_tx": None, "rewrites": []}
    try:
        sql, out["rewrites"] = to_duckdb(rule["sql"])
    except ValueError as e:
        out["error"] = f"cannot translate to DuckDB: {e}"
        return out
    con.execute("DROP TABLE IF EXISTS result")
    try:
        started = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE result AS {sql}")
        out["seconds"] = time.perf_counter() - started
    except Exception as e:  # duckdb.Error and its subclasses
        out["error"] = " ".join(str(e).split())
    return out


def rule_evidence(con, out, evidence_dir):
    """Untimed figures of the `result` table of the rule `out` describes."""
    cols = [c.lower() for c in columns_of(con, "result")]
    out["rows"] = con.execute("SELECT count(*) FROM result").fetchone()[0]
    where = "subject IS NOT NULL"
    if "matched" in cols:
        out["has_matched"] = True
        out["matched_rows"] = con.execute("SELECT count(*) FROM result WHERE matched").fetchone()[0]
        where += " AND matched"
    if "tx_ids" not in cols or "subject" not in cols:
        out["error"] = "the result has no `subject` or `tx_ids` column"
        return
    evidence = (
        f"SELECT DISTINCT e AS tx_id FROM (SELECT unnest(tx_ids) AS e FROM result WHERE {where}) "
        f"WHERE e IS NOT NULL"
    )
    out["evidence_tx"] = con.execute(f"SELECT count(*) FROM ({evidence})").fetchone()[0]
    if evidence_dir:
        # The rows as mirrorflow's engine reads them (times in microseconds), for the
        # agreement check to apply mirrorflow's episode rules to.
        anchor = "epoch_us(CAST(anchor_ts AS TIMESTAMPTZ))" if "anchor_ts" in cols else "NULL"
        seq = "CAST(anchor_seq AS UBIGINT)" if "anchor_seq" in cols else "NULL"
        matched = "CAST(matched AS BOOLEAN)" if "matched" in cols else "NULL"
        path = os.path.join(evidence_dir, out["id"] + ".jsonl")
        con.execute(
            f"COPY (SELECT CAST(subject AS VARCHAR) AS subject, CAST(tx_ids AS VARCHAR[]) AS tx_ids, "
            f"epoch_us(CAST(first_ts AS TIMESTAMPTZ)) AS first_us, epoch_us(CAST(last_ts AS TIMESTAMPTZ)) AS last_us, "
            f"{anchor} AS anchor_us, {seq} AS anchor_seq, {matched} AS matched "
            f"FROM result WHERE subject IS NOT NULL) TO {sql_string(path)} (FORMAT json)"
        )
    out["ok"] = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ordered", help="ordered.parquet of a mirrorflow replay (write-ordered = true)")
    parser.add_argument("--ledger", help="the ledger directory (accounts.*, fx_rates.*)")
    parser.add_argument("--rules", help="JSON of `mirrorflow rules sql --json`")
    parser.add_argument("--fx-default", help="mirrorflow's bundled fx_rates CSV (merged under the ledger's)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--evidence-out", help="write each rule's result rows to DIR/<rule id>.jsonl")
    parser.add_argument("--probe", action="store_true", help="print version and threads only")
    parser.add_argument("--show-sql", action="store_true", help="print the rules as DuckDB runs them and exit")
    parser.add_argument("--self-test", action="store_true", help="check the dialect mapping (no duckdb needed)")
    args = parser.parse_args()
    if args.self_test:
        return self_test()

    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed for this Python: pip install duckdb", file=sys.stderr)
        return 3

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    out = {"duckdb_version": duckdb.__version__, "threads": threads}
    if args.probe:
        print(json.dumps(out))
        return 0
    if not args.rules:
        parser.error("--rules is required unless --probe")
    try:
        with open(args.rules, encoding="utf-8") as f:
            rules = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read the rules `{args.rules}`: {e}", file=sys.stderr)
        return 2
    if args.show_sql:
        for rule in rules:
            try:
                sql, applied = to_duckdb(rule["sql"])
            except ValueError as e:
                sql, applied = f"-- cannot translate: {e}", []
            print(f"-- {rule['id']} (DuckDB; rewrites: {', '.join(applied) or 'none'})\n{sql};\n")
        return 0
    if not args.ordered:
        parser.error("--ordered is required unless --probe or --show-sql")
    if args.evidence_out:
        os.makedirs(args.evidence_out, exist_ok=True)

    try:
        started = time.perf_counter()
        load(con, args.ordered, args.ledger, args.fx_default)
        load_seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM tx").fetchone()[0]
        accounts_rows = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        fx_rows = con.execute("SELECT count(*) FROM fx_rates").fetchone()[0]
    except (ValueError, OSError, duckdb.Error) as e:
        print(f"cannot load `{args.ordered}` and the ledger's side tables into duckdb: {e}", file=sys.stderr)
        return 2

    results = []
    for rule in rules:
        figures = run_rule(con, rule)
        if figures["seconds"] is not None:
            try:
                rule_evidence(con, figures, args.evidence_out)
            except duckdb.Error as e:
                figures["error"] = "reading the result: " + " ".join(str(e).split())
            con.execute("DROP TABLE IF EXISTS result")
        results.append(figures)
    rules_seconds = sum(r["seconds"] or 0.0 for r in results)
    out.update(
        rows=rows,
        accounts_rows=accounts_rows,
        fx_rate_rows=fx_rows,
        load_seconds=load_seconds,
        rules_seconds=rules_seconds,
        total_seconds=load_seconds + rules_seconds,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        rules=results,
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
