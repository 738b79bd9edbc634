#!/usr/bin/env python3
"""DuckDB side of `mirrorflow bench ingest`: load one transactions file into memory.

Reads FILE (transactions CSV, gzipped CSV or Parquet) fully into a table of an in-memory
DuckDB database, the way a DuckDB user would, and prints one JSON line on stdout:

    {"rows", "seconds", "peak_rss_bytes", "duckdb_version", "threads", "format", "file"}

* CSV (and .csv.gz): `CREATE TABLE t AS SELECT * FROM read_csv(...)` with the dialect
  and the column types given explicitly (no sniffing), the types matching mirrorflow's
  canonical schema: tx_id VARCHAR, ts TIMESTAMPTZ, amount DECIMAL(38,18), the rest
  VARCHAR. Columns we do not know are read as VARCHAR.
* Parquet: `CREATE TABLE t AS SELECT * FROM read_parquet(...)`.
* `seconds` covers the CREATE TABLE and a `count(*)` (time.perf_counter), not the
  Python or DuckDB start-up; `peak_rss_bytes` is this process's peak RSS (ru_maxrss),
  Python interpreter included; `threads` is DuckDB's default (all cores).

`--probe` prints the DuckDB version and default threads without reading a file.
Exit status: 0 ok, 2 bad arguments or the load failed, 3 duckdb is not installed.

Owns: the DuckDB half of the comparison. Must not: change DuckDB's defaults (threads,
memory limit) or write anything to disk.
"""

import argparse
import csv
import gzip
import json
import resource
import sys
import time

# mirrorflow's canonical types (src/schema.rs), in DuckDB spelling.
COLUMN_TYPES = {
    "tx_id": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "src_account": "VARCHAR",
    "dst_account": "VARCHAR",
    "amount": "DECIMAL(38,18)",
    "currency": "VARCHAR",
    "channel": "VARCHAR",
    "location": "VARCHAR",
    "memo": "VARCHAR",
    "seq": "UBIGINT",
    "label_laundering": "BOOLEAN",
    "label_scheme": "VARCHAR",
}


def sql_string(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def file_format(path):
    lower = path.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith(".csv.gz"):
        return "csv.gz"
    if lower.endswith(".csv"):
        return "csv"
    raise ValueError(f"`{path}`: expected a .csv, .csv.gz or .parquet file")


def csv_header(path):
    """The column names of a CSV file's header line."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise ValueError(f"`{path}`: no header line")
    return [h.strip().lstrip("\ufeff") for h in header]


def load_sql(path, fmt):
    """The CREATE TABLE statement that loads `path` into table `t`."""
    if fmt == "parquet":
        return f"CREATE TABLE t AS SELECT * FROM read_parquet({sql_string(path)})"
    columns = ", ".join(
        f"{sql_string(name)}: {sql_string(COLUMN_TYPES.get(name, 'VARCHAR'))}"
        for name in csv_header(path)
    )
    return (
        f"CREATE TABLE t AS SELECT * FROM read_csv({sql_string(path)}, header = true, "
        f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"columns = {{{columns}}})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="transactions .csv, .csv.gz or .parquet")
    parser.add_argument("--probe", action="store_true", help="print version and threads only")
    args = parser.parse_args()

    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed for this Python: pip install duckdb", file=sys.stderr)
        return 3

    con = duckdb.connect(":memory:")
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    out = {"duckdb_version": duckdb.__version__, "threads": threads}
    if args.probe:
        print(json.dumps(out))
        return 0
    if not args.file:
        parser.error("FILE is required unless --probe")

    try:
        fmt = file_format(args.file)
        sql = load_sql(args.file, fmt)
        started = time.perf_counter()
        con.execute(sql)
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        seconds = time.perf_counter() - started
    except (ValueError, OSError, duckdb.Error) as e:
        print(f"cannot load `{args.file}` into duckdb: {e}", file=sys.stderr)
        return 2

    out.update(
        rows=rows,
        seconds=seconds,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        format=fmt,
        file=args.file,
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
