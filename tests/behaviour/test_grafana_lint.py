"""A dashboard linter with the rules of Grafana's dashboard-linter that matter here.

Checked on every dashboard in grafana/dashboards/: a Prometheus datasource variable used by every
panel and target, ``uid``/tags/schemaVersion, ``job``/``instance`` variables and matchers on
every selector, ``$__rate_interval`` in every range, a title, description and unit on every
panel, heatmaps fed bucketed data, metric names that exist in ``tpe_insight.METRICS``, and PromQL
that parses (``promtool check rules``, offline). A broken dashboard is linted too, so the linter
is known to catch what it claims to.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.prom_harness import (
    LABEL_VALUES,
    ROOT,
    check_promql,
    dashboards,
    grafana_builtins,
    grafana_regex_values,
    panels,
    substitute,
    variable_queries,
)
from tpe_insight import METRICS

DS_UID = "${datasource}"
UNITS = {
    "ops",
    "s",
    "percentunit",
    "short",
    "none",
    "reqps",
    "cps",
    "ms",
    "percent",
    "suffix: cores",
}
RANGE = re.compile(r"\[([^\]]*)\]")
SELECTOR = re.compile(r"\b(tpe_[a-z_]+)\b(\{(?:[^{}]|\$\{[^}]*\})*\})?")
MIN_DESCRIPTION = 40


def series_names() -> dict[str, tuple[str, ...]]:
    """Every series name the catalogue exports (histograms and summaries expanded), with its
    labels. A summary has no ``_bucket``: a panel that reads one per task fails here."""
    out = {}
    for name, (kind, labels, _) in METRICS.items():
        if kind == "histogram":
            out[f"{name}_bucket"] = (*labels, "le")
        if kind in ("histogram", "summary"):
            out[f"{name}_sum"] = labels
            out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


def matcher(label: str) -> str:
    """The quote-safe matcher: ${var:regex} inside a backtick (raw) PromQL string."""
    return f"{label}=~`${{{label}:regex}}`"


def lint_expr(expr: str, where: str, variables: set[str]) -> list[str]:
    problems = []
    ranking = bool(re.search(r"\b(topk|bottomk)\(", expr))
    for window in RANGE.findall(expr):
        if ranking and window != "$__range":
            problems.append(f"{where}: a ranking over [{window}] should be over [$__range]")
        elif not ranking and window != "$__rate_interval":
            problems.append(f"{where}: range [{window}] should be [$__rate_interval]")
    if re.search(r'=~?\s*"[^"]*\$', expr):
        problems.append(f"{where}: a variable inside a double-quoted string breaks on a quote")
    known = series_names()
    selectors = SELECTOR.findall(expr)
    if not selectors:
        problems.append(f"{where}: no tpe_ metric in {expr}")
    for name, matchers in selectors:
        if name not in known:
            problems.append(f"{where}: {name} is not a metric tpe_insight exports")
            continue
        required = ["job", "instance", "pool"]
        if "task" in variables and "task" in known[name]:
            required.append("task")
        for label in required:
            if matcher(label) not in matchers:
                problems.append(f"{where}: {name} lacks the matcher {matcher(label)}")
    if "histogram_quantile" in expr and not re.search(r"by \([^)]*\ble\b[^)]*\)", expr):
        problems.append(f"{where}: histogram_quantile without le in its by clause")
    return problems


def lint_panel(panel: dict[str, Any], where: str, variables: set[str]) -> list[str]:
    problems = []
    if not panel.get("title", "").strip():
        problems.append(f"{where}: panel without title")
    where = f"{where} {panel.get('title', '?')!r}"
    if len(panel.get("description", "").strip()) < MIN_DESCRIPTION:
        problems.append(f"{where}: no description that says how to read it")
    if panel.get("datasource", {}).get("uid") != DS_UID:
        problems.append(f"{where}: panel datasource is not {DS_UID}")
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if panel.get("type") == "heatmap":
        unit = panel.get("options", {}).get("yAxis", {}).get("unit")
    if unit not in UNITS:
        problems.append(f"{where}: unit {unit!r} not one of {sorted(UNITS)}")
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if unit == "percentunit" and defaults.get("max") != 1:
        problems.append(f"{where}: a ratio panel needs max 1 (100%)")
    exprs = " ".join(t.get("expr", "") for t in panel.get("targets", []))
    if "tpe_task_cpu_seconds_total" in exprs and "/" not in exprs and unit != "suffix: cores":
        problems.append(f"{where}: CPU-seconds per second are cores: unit 'suffix: cores'")
    legend = panel.get("options", {}).get("legend", {})
    legend_key = "show" if panel.get("type") == "heatmap" else "showLegend"
    if panel.get("type") in ("timeseries", "heatmap") and legend_key not in legend:
        problems.append(f"{where}: legend.showLegend not explicit (Grafana and the SDK differ)")
    if "gridPos" not in panel:
        problems.append(f"{where}: no gridPos")
    targets = panel.get("targets", [])
    if not targets:
        problems.append(f"{where}: no query")
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids):
        problems.append(f"{where}: duplicate refIds {ref_ids}")
    for target in targets:
        at = f"{where} {target.get('refId')}"
        if target.get("datasource", {}).get("uid") != DS_UID:
            problems.append(f"{at}: target datasource is not {DS_UID}")
        if not target.get("legendFormat"):
            problems.append(f"{at}: no legendFormat")
        problems += lint_expr(target.get("expr", ""), at, variables)
        if panel.get("type") == "heatmap":
            if target.get("format") != "heatmap" or target.get("legendFormat") != "{{le}}":
                problems.append(f"{at}: heatmap target needs format heatmap, legend {{{{le}}}}")
            if "_bucket" not in target.get("expr", "") or "by (le)" not in target["expr"]:
                problems.append(f"{at}: heatmap needs sum by (le) of a _bucket series")
    if panel.get("type") == "heatmap" and panel.get("options", {}).get("calculate") is not False:
        problems.append(f"{where}: heatmap must not re-bucket (options.calculate false)")
    return problems


def lint_variables(dashboard: dict[str, Any], where: str) -> list[str]:
    problems = []
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append(f"{where}: no Prometheus datasource variable named 'datasource'")
    for name in ("job", "instance", "pool"):
        if name not in variables:
            problems.append(f"{where}: no ${name} variable")
    known = series_names()
    for name, query in variable_queries(dashboard).items():
        var = variables[name]
        if re.search(r'=~?\s*"[^"]*\$', query):
            problems.append(f"{where} ${name}: a variable inside a double-quoted string")
        if var.get("datasource", {}).get("uid") != DS_UID:
            problems.append(f"{where} ${name}: datasource is not {DS_UID}")
        if not var.get("refresh"):
            problems.append(f"{where} ${name}: never refreshed")
        match = LABEL_VALUES.match(query)
        if not match:
            problems.append(f"{where} ${name}: not a label_values(...) query: {query}")
            continue
        metric = match["match"].split("{")[0].strip()
        if metric not in known or match["label"] not in {*known.get(metric, ()), "job", "instance"}:
            problems.append(f"{where} ${name}: {metric} has no label {match['label']}")
    return problems


def lint(dashboard: dict[str, Any], name: str) -> list[str]:
    """Every problem of one dashboard (without the PromQL parse, see lint_promql)."""
    problems = []
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard.get("uid", "")):
        problems.append(f"{name}: missing or invalid uid")
    if not dashboard.get("title") or not dashboard.get("tags"):
        problems.append(f"{name}: needs a title and tags")
    if not 40 <= dashboard.get("schemaVersion", 0) <= 41:
        problems.append(f"{name}: schemaVersion {dashboard.get('schemaVersion')} not in 40..41")
    for entry in dashboard.get("__inputs", []):
        if entry.get("type") == "datasource" and entry.get("pluginId") != "prometheus":
            problems.append(f"{name}: __inputs asks for a non-Prometheus datasource")
    problems += lint_variables(dashboard, name)
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    ids = [p.get("id") for p in dashboard.get("panels", [])]
    if len(set(ids)) != len(ids):
        problems.append(f"{name}: duplicate panel ids")
    for panel in panels(dashboard):
        problems += lint_panel(panel, name, variables)
    return problems


def all_exprs(dashboard: dict[str, Any], name: str) -> dict[str, str]:
    """Every query and variable selector of a dashboard, variables substituted."""
    values = {
        **grafana_builtins("1m"),
        "job": "app",
        "instance": "host:8000",
        "pool": grafana_regex_values('a"b', "c\\d", "e.f(g|h)*"),
        "task": ".*",
    }
    exprs = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            key = f"{name} {panel.get('title')} {target.get('refId')}"
            exprs[key] = substitute(target.get("expr", ""), values)
    for var, query in variable_queries(dashboard).items():
        match = LABEL_VALUES.match(query)
        if match:
            exprs[f"{name} ${var}"] = substitute(match["match"], values)
    return exprs


# -- the tests ----------------------------------------------------------------------------------


def test_there_are_two_dashboards() -> None:
    """The overview and the pool drill-down are shipped."""
    assert sorted(d["uid"] for d in dashboards().values()) == [
        "tpe-insight-overview",
        "tpe-insight-pool",
    ]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_passes_the_linter(name: str) -> None:
    """Datasource variable, uid, tags, units, descriptions, $__rate_interval, matchers."""
    assert lint(dashboards()[name], name) == []


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query and variable selector, variables substituted."""
    exprs = {}
    for name, dashboard in dashboards().items():
        exprs.update(all_exprs(dashboard, name))
    assert len(exprs) >= 40
    assert check_promql(exprs, tmp_path) == {}


def test_every_metric_has_a_panel() -> None:
    """Each metric of the catalogue is shown somewhere (and thus proven on real Prometheus)."""
    text = " ".join(
        t["expr"] for d in dashboards().values() for p in panels(d) for t in p["targets"]
    )
    unused = [name for name in METRICS if not re.search(rf"\b{name}(_bucket|_sum|_count)?\b", text)]
    assert unused == []


def test_linter_catches_a_broken_dashboard(tmp_path: Path) -> None:
    """Each rule reports the mistake it is about: the linter can fail."""
    bad = copy.deepcopy(dashboards()["tpe-insight-overview.json"])
    bad["templating"]["list"] = [v for v in bad["templating"]["list"] if v["name"] != "datasource"]
    bad["schemaVersion"] = 16
    first, second, third = [p for p in bad["panels"] if p["type"] != "row"][:3]
    first["description"] = ""
    first["fieldConfig"]["defaults"].pop("unit")
    first["targets"][0]["expr"] = first["targets"][0]["expr"].replace("$__rate_interval", "5m")
    second["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
    second["targets"][0]["expr"] = 'sum(rate(tpe_tasks_finished_total{pool=~"$pool"}[1m])'
    third["targets"][0]["expr"] = third["targets"][0]["expr"].replace(
        "tpe_tasks_finished_total", "tpe_tasks_completed_total"
    )
    by_title = {p["title"]: p for p in panels(bad)}
    by_title["Utilisation"]["fieldConfig"]["defaults"].pop("max")
    by_title["CPU used by tasks"]["options"]["legend"].pop("showLegend")
    by_title["CPU used by tasks"]["fieldConfig"]["defaults"]["unit"] = "short"
    queued = by_title["Queued and running tasks"]["targets"][0]
    queued["expr"] = queued["expr"].replace("`${pool:regex}`", '"$pool"')
    pool_bad = copy.deepcopy(dashboards()["tpe-insight-pool.json"])
    slowest = next(p for p in panels(pool_bad) if p["title"].startswith("Slowest"))
    slowest["targets"][0]["expr"] = slowest["targets"][0]["expr"].replace(
        "$__range", "$__rate_interval"
    )
    problems = "\n".join(lint(bad, "bad") + lint(pool_bad, "bad"))
    for expected in (
        "no Prometheus datasource variable",
        "schemaVersion 16",
        "a ranking over [$__rate_interval] should be over [$__range]",
        "a ratio panel needs max 1",
        "showLegend not explicit",
        "unit 'suffix: cores'",
        "no description",
        "unit None",
        "range [5m] should be [$__rate_interval]",
        "panel datasource is not ${datasource}",
        "lacks the matcher job=~`${job:regex}`",
        "lacks the matcher instance=~`${instance:regex}`",
        "a variable inside a double-quoted string breaks on a quote",
        "tpe_tasks_completed_total is not a metric",
    ):
        assert expected in problems
    parse_errors = check_promql(all_exprs(bad, "bad"), tmp_path)
    # The double-quoted "$pool", with a pool named a"b selected, no longer parses: the proof
    # that the backtick form is needed.
    assert sorted(parse_errors) == [f"bad {second['title']} A", "bad Queued and running tasks A"]
    assert "parse error" in parse_errors[f"bad {second['title']} A"]


def generator_python() -> str:
    """An interpreter that has grafana-foundation-sdk (Python >= 3.11): this one, or .venv's
    when the tests run on 3.10 (scripts/test-matrix.sh); fails, never skips, without one."""
    candidates = [sys.executable, str(ROOT / ".venv" / "bin" / "python")]
    for python in candidates:
        probe = subprocess.run(
            [python, "-c", "import grafana_foundation_sdk"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return python
    pytest.fail(
        "scripts/build_dashboards.py needs grafana-foundation-sdk (Python >= 3.11): run"
        " `make .venv/.installed-dev` with a Python >= 3.11",
        pytrace=False,
    )


def test_committed_json_matches_the_generator() -> None:
    """grafana/dashboards/*.json are what scripts/build_dashboards.py writes (with the panel
    descriptions of docs/metrics.md)."""
    result = subprocess.run(
        [generator_python(), str(ROOT / "scripts" / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_provisioning_example_loads_the_dashboards_folder() -> None:
    """The provider reads JSON from the folder the example mounts grafana/dashboards into."""
    provider = (ROOT / "grafana" / "provisioning" / "dashboards" / "tpe_insight.yaml").read_text()
    path = re.search(r"^\s+path:\s*(\S+)", provider, flags=re.MULTILINE)
    assert path is not None
    assert f'grafana/dashboards:{path.group(1)}"' in provider
    assert "type: file" in provider

    def reject(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)  # no NaN/Infinity
