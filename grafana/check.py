#!/usr/bin/env python3
"""Static checks for the mirrorflow Grafana dashboards.

Usage:
    python grafana/check.py grafana/dashboards/*.json
    python grafana/check.py --rules /tmp/rules.yml grafana/dashboards/*.json
    promtool check rules /tmp/rules.yml

Needs only the standard library and the grafana-foundation-sdk package
(`pip install grafana-foundation-sdk`).

For every dashboard it checks that:
  * the file is valid JSON and the grafana-foundation-sdk decodes it into a
    `Dashboard` without losing panels, targets or expressions (the decoded
    dashboard is also re-encoded and compared);
  * uid, title, schemaVersion 39, tag "mirrorflow", refresh, time range and an
    empty templating list are present;
  * every panel has a title, a description and the datasource
    {"type": "prometheus", "uid": "prometheus"}; every target carries the same
    datasource, a unique refId and a non-empty expr;
  * expressions only use the variables $__range, $__rate_interval, $__interval
    and only reference mirrorflow metrics that the job / review API export;
  * gridPos rectangles fit in the 24-column grid and do not overlap.

Output: stdout gets one JSON line per expression,
    {"dashboard": <uid>, "panel": <panel title>, "expr": <expr>}
so a test can consume them; stderr gets a per-dashboard summary
(uid, panel count, expression count) and any errors. The exit status is 0 when
everything passed, 1 on any check failure, 2 on bad usage.

With --rules FILE it also writes every expression (variables replaced by 5m)
as a Prometheus recording rule, ready for `promtool check rules FILE`
(the file is JSON, which is valid YAML).
"""

import argparse
import json
import os
import re
import sys

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
ALLOWED_VARIABLES = {"__range", "__rate_interval", "__interval"}
SCHEMA_VERSION = 39

# Exported metric names: the `pub const ... = "mirrorflow_..."` constants of
# crates/core/src/metrics.rs (the one list; histograms add their _bucket, _sum and _count series).
_METRICS_RS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "core", "src", "metrics.rs")


def _exported_metrics():
    with open(_METRICS_RS, encoding="utf-8") as f:
        text = f.read()
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "(mirrorflow_[a-z0-9_]+)";', text))
    hist = {consts[c] for c in re.findall(r"HistogramOpts::new\(names::([A-Z_]+)", text) if c in consts}
    if not consts or not hist:
        raise SystemExit(f"no metric names found in {_METRICS_RS}")
    return set(consts.values()) | {h + s for h in hist for s in ("_bucket", "_sum", "_count")}


KNOWN_METRICS = _exported_metrics()

_VAR_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_METRIC_RE = re.compile(r"\bmirrorflow_[A-Za-z0-9_]*")


class CheckError(Exception):
    pass


def load_sdk():
    try:
        from grafana_foundation_sdk.cog import plugins
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models import dashboard as dashboard_model
        from grafana_foundation_sdk.models import prometheus as prometheus_model
    except ImportError as exc:  # pragma: no cover - environment problem
        sys.exit(f"error: grafana-foundation-sdk is not importable ({exc}); "
                 "install it with `pip install grafana-foundation-sdk`")
    plugins.register_default_plugins()
    return dashboard_model, prometheus_model, JSONEncoder


def flatten_panels(panels):
    """Yield (panel, group) for every non-row panel; group identifies the
    layout the panel lives in (top level, or the inside of a collapsed row)."""
    for panel in panels:
        if panel.get("type") == "row":
            yield panel, "top"
            inner_group = f"row:{panel.get('id')}" if panel.get("collapsed") else "top"
            for inner in panel.get("panels") or []:
                yield inner, inner_group
        else:
            yield panel, "top"


def check_layout(entries, errors):
    rects = {}
    for panel, group in entries:
        title = panel.get("title", "<untitled>")
        pos = panel.get("gridPos")
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "xywh"):
            errors.append(f"panel {title!r}: gridPos must have integer x, y, w, h")
            continue
        x, y, w, h = (pos[k] for k in "xywh")
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            errors.append(f"panel {title!r}: gridPos {pos} has negative or empty extent")
        if x + w > 24:
            errors.append(f"panel {title!r}: gridPos x+w = {x + w} > 24")
        rects.setdefault(group, []).append((title, x, y, w, h))
    for group in rects.values():
        for i, (t1, x1, y1, w1, h1) in enumerate(group):
            for t2, x2, y2, w2, h2 in group[i + 1:]:
                if x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1:
                    errors.append(f"panels {t1!r} and {t2!r} overlap")


def check_expr(title, ref, expr, errors):
    for var in _VAR_RE.findall(expr):
        if var not in ALLOWED_VARIABLES:
            errors.append(f"panel {title!r} target {ref}: variable ${var} is not allowed "
                          f"(only {', '.join('$' + v for v in sorted(ALLOWED_VARIABLES))})")
    for metric in _METRIC_RE.findall(expr):
        if metric not in KNOWN_METRICS:
            errors.append(f"panel {title!r} target {ref}: unknown metric {metric}")
    if not _METRIC_RE.search(expr):
        errors.append(f"panel {title!r} target {ref}: expression uses no mirrorflow metric")


def check_dashboard(path, sdk):
    dashboard_model, prometheus_model, json_encoder = sdk
    errors = []
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckError(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise CheckError(f"{path}: top level is not an object")

    uid = raw.get("uid")
    if not isinstance(uid, str) or not uid:
        errors.append("missing uid")
    if not raw.get("title"):
        errors.append("missing title")
    if raw.get("schemaVersion") != SCHEMA_VERSION:
        errors.append(f"schemaVersion is {raw.get('schemaVersion')!r}, expected {SCHEMA_VERSION}")
    if "mirrorflow" not in (raw.get("tags") or []):
        errors.append('tags must contain "mirrorflow"')
    if not raw.get("refresh"):
        errors.append("missing refresh")
    if not isinstance(raw.get("time"), dict) or not raw["time"].get("from"):
        errors.append("missing time range")
    if (raw.get("templating") or {}).get("list"):
        errors.append("templating list must be empty (no template variables)")

    entries = list(flatten_panels(raw.get("panels") or []))
    exprs = []
    for panel, _group in entries:
        title = panel.get("title")
        ptype = panel.get("type")
        if not title:
            errors.append(f"panel id {panel.get('id')}: missing title")
            title = f"<panel {panel.get('id')}>"
        if ptype == "row":
            continue
        if not panel.get("description"):
            errors.append(f"panel {title!r}: missing description")
        if panel.get("datasource") != DATASOURCE:
            errors.append(f"panel {title!r}: datasource must be {DATASOURCE}")
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"panel {title!r}: has no targets")
        refs = set()
        for target in targets:
            ref = target.get("refId")
            expr = target.get("expr")
            if not ref:
                errors.append(f"panel {title!r}: target without refId")
            elif ref in refs:
                errors.append(f"panel {title!r}: duplicate refId {ref}")
            refs.add(ref)
            if target.get("datasource") != DATASOURCE:
                errors.append(f"panel {title!r} target {ref}: datasource must be {DATASOURCE}")
            if not isinstance(expr, str) or not expr.strip():
                errors.append(f"panel {title!r} target {ref}: missing expr")
                continue
            check_expr(title, ref, expr, errors)
            exprs.append({"dashboard": uid, "panel": title, "expr": expr})
    check_layout(entries, errors)

    # Decode with the grafana-foundation-sdk and make sure nothing is lost.
    try:
        decoded = dashboard_model.Dashboard.from_json(raw)
    except Exception as exc:  # the SDK raises plain KeyError/TypeError/ValueError
        errors.append(f"grafana-foundation-sdk cannot decode the dashboard: {exc!r}")
        decoded = None
    if decoded is not None:
        sdk_panels = []
        for panel in decoded.panels or []:
            if isinstance(panel, dashboard_model.RowPanel):
                sdk_panels.append(panel)
                sdk_panels.extend(panel.panels or [])
            else:
                sdk_panels.append(panel)
        if len(sdk_panels) != len(entries):
            errors.append(f"SDK decoded {len(sdk_panels)} panels, JSON has {len(entries)}")
        if decoded.uid != uid or decoded.title != raw.get("title"):
            errors.append("SDK lost uid/title")
        if decoded.schema_version != SCHEMA_VERSION:
            errors.append(f"SDK schema_version is {decoded.schema_version}")
        sdk_exprs = []
        for panel in sdk_panels:
            if isinstance(panel, dashboard_model.RowPanel):
                continue
            if panel.grid_pos is None:
                errors.append(f"SDK lost gridPos of panel {panel.title!r}")
            if panel.datasource is None or panel.datasource.uid != DATASOURCE["uid"]:
                errors.append(f"SDK lost datasource of panel {panel.title!r}")
            for query in panel.targets or []:
                if not isinstance(query, prometheus_model.Dataquery):
                    errors.append(f"SDK did not decode a target of {panel.title!r} as a "
                                  f"Prometheus query (got {type(query).__name__})")
                    continue
                if not query.ref_id:
                    errors.append(f"SDK lost refId of a target of {panel.title!r}")
                sdk_exprs.append({"dashboard": uid, "panel": panel.title, "expr": query.expr})
        if sdk_exprs != exprs:
            errors.append("SDK-decoded expressions differ from the JSON expressions")
        # Round trip: encode the SDK object and decode again.
        try:
            reencoded = json.loads(json.dumps(decoded, cls=json_encoder))
        except Exception as exc:
            errors.append(f"SDK cannot re-encode the dashboard: {exc!r}")
        else:
            again = list(flatten_panels(reencoded.get("panels") or []))
            if len(again) != len(entries):
                errors.append(f"SDK round trip kept {len(again)} of {len(entries)} panels")
            for (orig, _), (back, _) in zip(entries, again):
                for key in ("title", "type", "gridPos"):
                    if orig.get(key) != back.get(key):
                        errors.append(f"SDK round trip changed {key} of panel {orig.get('title')!r}")
                orig_exprs = [t.get("expr") for t in orig.get("targets") or []]
                back_exprs = [t.get("expr") for t in back.get("targets") or []]
                if orig_exprs != back_exprs:
                    errors.append(f"SDK round trip changed expressions of panel {orig.get('title')!r}")
                orig_unit = ((orig.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
                back_unit = ((back.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
                if orig_unit != back_unit:
                    errors.append(f"SDK round trip changed unit of panel {orig.get('title')!r}")

    panel_count = sum(1 for p, _ in entries if p.get("type") != "row")
    if errors:
        raise CheckError(f"{path} ({uid}):\n  - " + "\n  - ".join(errors))
    return uid, panel_count, exprs


def substitute(expr):
    for var in sorted(ALLOWED_VARIABLES, key=len, reverse=True):
        expr = expr.replace("${" + var + "}", "5m").replace("$" + var, "5m")
    return expr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dashboards", nargs="+", help="dashboard JSON files")
    parser.add_argument("--rules", metavar="FILE",
                        help="also write the expressions as recording rules for `promtool check rules`")
    args = parser.parse_args(argv)

    sdk = load_sdk()
    failures = []
    all_exprs = []
    seen_uids = {}
    for path in args.dashboards:
        try:
            uid, panel_count, exprs = check_dashboard(path, sdk)
        except CheckError as exc:
            failures.append(str(exc))
            continue
        if uid in seen_uids:
            failures.append(f"{path}: uid {uid!r} already used by {seen_uids[uid]}")
            continue
        seen_uids[uid] = path
        print(f"{uid}: {panel_count} panels, {len(exprs)} expressions ({path})", file=sys.stderr)
        for item in exprs:
            print(json.dumps(item))
        all_exprs.extend(exprs)

    if args.rules:
        rules = [{"record": f"mirrorflow_dashboard:expr{i}", "expr": substitute(item["expr"])}
                 for i, item in enumerate(all_exprs)]
        with open(args.rules, "w", encoding="utf-8") as fh:
            json.dump({"groups": [{"name": "mirrorflow-dashboards", "rules": rules}]}, fh, indent=2)
            fh.write("\n")
        print(f"wrote {len(rules)} recording rules to {args.rules}", file=sys.stderr)

    if failures:
        print("FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    print(f"OK: {len(seen_uids)} dashboards, {len(all_exprs)} expressions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
