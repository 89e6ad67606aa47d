"""Every dashboard query and alert expression, evaluated by a real Prometheus on live metrics.

The module starts ``/usr/bin/prometheus`` on 127.0.0.1 (free port, temporary TSDB, our alert
rules loaded) scraping, every second, a tpe_insight workload that runs in this process
(``tests/grafana_workload.py``). Then each panel query, with Grafana's variables substituted as
Grafana would, and each alert expression must evaluate without error and return at least one
series. If Prometheus cannot start, the tests fail (they never skip).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.grafana_workload import HOSTILE_POOL, POOLS, Workload
from tests.prom_harness import (
    LABEL_VALUES,
    RULES_FILE,
    PanelQuery,
    Prometheus,
    PrometheusError,
    dashboards,
    grafana_builtins,
    grafana_regex_escape,
    grafana_regex_values,
    panel_queries,
    substitute,
    variable_queries,
)

pytestmark = pytest.mark.slow

JOB = "tpe_insight_workload"
#: How long the whole module may wait for the workload to show in Prometheus before it gives up
#: (a bound on a wait, not an assertion on speed: on a normal machine it takes ~15 s).
CONVERGE_WITHIN = 45.0
#: Scrapes to wait for before evaluating: enough samples for rate() over 4 s windows and for the
#: saturated pool's queue wait to grow past the alert threshold.
MIN_SCRAPES = 10

#: Panel queries that may legitimately return no series for this workload, with the reason.
#: Each entry is checked to be empty, so the list cannot go stale. None so far: the workload
#: makes every panel non-empty.
EXPECTED_EMPTY: dict[str, str] = {}

#: The pool each alert must fire for in this workload.
ALERT_POOLS = {
    "TpePoolSaturated": "saturated",
    "TpeTaskErrorRatioHigh": "errors",
    "TpePoolBroken": "broken",
    "TpeTasksStuck": "stuck",
    "TpePoolCpuBound": "cpu",
}

RATE_INTERVALS = ("4s", "1m")


@dataclass
class Live:
    prometheus: Prometheus
    workload: Workload
    deadline: float

    @property
    def instance(self) -> str:
        return f"127.0.0.1:{self.workload.port}"


def eventually(live: Live, problems: Callable[[], list[str]], what: str) -> None:
    """Re-check until ``problems()`` is empty or the module's deadline passes, then assert."""
    found = problems()
    while found and time.monotonic() < live.deadline:
        time.sleep(1)
        found = problems()
    assert found == [], f"{what}:\n" + "\n".join(found)


def scrapes(prometheus: Prometheus) -> int:
    result = prometheus.query(f'count_over_time(up{{job="{JOB}"}}[5m])')
    return int(float(result[0]["value"][1])) if result else 0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    workload = Workload()
    workload.start()
    deadline = time.monotonic() + CONVERGE_WITHIN
    config = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES_FILE.name}
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ["127.0.0.1:{workload.port}"]
"""
    prometheus = Prometheus(workdir, config, rule_files=(RULES_FILE,))
    try:
        prometheus.start()
        state = Live(prometheus, workload, deadline)
        eventually(
            state,
            lambda: [] if scrapes(prometheus) >= 1 else ["no successful scrape yet"],
            "Prometheus never scraped the workload",
        )
        # Only now: increase() needs to have seen the counter at 0 before the failure.
        workload.break_pool()
        eventually(
            state,
            lambda: [] if scrapes(prometheus) >= MIN_SCRAPES else ["too few scrapes"],
            f"Prometheus did not reach {MIN_SCRAPES} scrapes",
        )
        yield state
    finally:
        prometheus.stop()
        workload.stop()


def variable_values(live: Live, pool: str = ".*") -> dict[str, str]:
    return {
        "job": grafana_regex_escape(JOB),
        "instance": grafana_regex_escape(live.instance),
        "pool": pool,
        "task": ".*",
    }


def contexts(live: Live, query: PanelQuery, rate_interval: str) -> list[dict[str, str]]:
    """The variable values each query is evaluated with: the overview with every pool, the
    drill-down with one pool and every task, and with two pools and one task."""
    base = {**grafana_builtins(rate_interval), **variable_values(live)}
    if "overview" in query.dashboard:
        return [base]
    one_task = grafana_regex_escape("tests.grafana_workload.parse_record")
    return [
        {**base, "pool": "mixed"},
        {**base, "pool": grafana_regex_values("errors", "mixed"), "task": one_task},
    ]


def evaluate(live: Live, expr: str) -> str | None:
    """None if ``expr`` returns series; else why not."""
    try:
        result = live.prometheus.query(expr)
    except PrometheusError as exc:
        return f"error {exc}"
    return None if result else "no series"


def test_workload_feeders_ran_without_error(live: Live) -> None:
    """The workload's own threads hit no unexpected exception (else panels would lie)."""
    assert live.workload.errors_seen == []


def test_variables_list_the_live_labels(live: Live) -> None:
    """Each label_values() variable lists the workload's jobs, instances, pools and tasks."""
    expected = {
        "job": {JOB},
        "instance": {live.instance},
        "pool": set(POOLS),
        "task": {
            "tests.grafana_workload.fast_lookup",
            "tests.grafana_workload.parse_record",
            "tests.grafana_workload.slow_report",
            "tests.grafana_workload.crunch",
        },
    }
    values = variable_values(live, pool="mixed")

    def problems() -> list[str]:
        found = []
        for name, dashboard in dashboards().items():
            for var, query in variable_queries(dashboard).items():
                match = LABEL_VALUES.match(query)
                assert match, f"{name}: variable {var} is not label_values(...): {query}"
                got = live.prometheus.series_label_values(
                    substitute(match["match"], values), match["label"]
                )
                if not expected[var] <= got:
                    found.append(f"{name} ${var}: {query} -> {sorted(got)}")
        return found

    eventually(live, problems, "variables missing values")


@pytest.mark.parametrize("rate_interval", RATE_INTERVALS)
def test_every_panel_query_returns_series(live: Live, rate_interval: str) -> None:
    """Every query of every panel, variables substituted, evaluates to at least one series."""
    queries = panel_queries()
    assert len(queries) >= 30
    unknown = set(EXPECTED_EMPTY) - {q.key for q in queries}
    assert unknown == set(), "EXPECTED_EMPTY names queries that do not exist"

    def problems() -> list[str]:
        found = []
        for query in queries:
            for values in contexts(live, query, rate_interval):
                expr = substitute(query.expr, values)
                why = evaluate(live, expr)
                if query.key in EXPECTED_EMPTY:
                    if why != "no series":
                        found.append(f"{query.key}: listed as empty but got {why or 'series'}")
                elif why is not None:
                    found.append(f"{query.key}: {why}\n    {expr}")
        return found

    eventually(live, problems, f"panel queries failing with $__rate_interval={rate_interval}")


def loaded_alerts(live: Live) -> dict[str, dict[str, object]]:
    groups = live.prometheus.api("rules", type="alert")["groups"]
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def test_prometheus_loaded_every_alert(live: Live) -> None:
    """Prometheus loaded the rule file as written, with the alerts this workload expects."""
    assert set(loaded_alerts(live)) == set(ALERT_POOLS)


@pytest.mark.parametrize("alert", sorted(ALERT_POOLS))
def test_alert_expression_returns_the_unhealthy_pool(live: Live, alert: str) -> None:
    """The alert's expression evaluates, and returns a series for the pool built to trigger it."""
    expr = str(loaded_alerts(live)[alert]["query"])

    def problems() -> list[str]:
        try:
            pools = {s["metric"].get("pool") for s in live.prometheus.query(expr)}
        except PrometheusError as exc:
            return [f"error {exc}"]
        if ALERT_POOLS[alert] not in pools:
            return [f"pool {ALERT_POOLS[alert]} not in {sorted(p or '' for p in pools)}"]
        return []

    eventually(live, problems, f"{alert}: {expr}")


def test_prometheus_raises_every_alert(live: Live) -> None:
    """Prometheus's own rule evaluation puts each alert in pending or firing for its pool."""

    def problems() -> list[str]:
        active = {
            (a["labels"]["alertname"], a["labels"].get("pool"))
            for a in live.prometheus.api("alerts")["alerts"]
            if a["state"] in ("pending", "firing")
        }
        return [
            f"{alert} not active for pool {pool}; active: {sorted(active)}"
            for alert, pool in ALERT_POOLS.items()
            if (alert, pool) not in active
        ]

    eventually(live, problems, "alerts not raised")


def test_a_pool_named_with_quotes_backslashes_and_regex_is_selected_exactly(live: Live) -> None:
    """Every overview query, with only the hostile pool selected (as Grafana's ${pool:regex}
    writes it), parses and returns that pool and no other: quotes, a backslash and regex
    metacharacters in a name are safe."""
    values = {
        **grafana_builtins("1m"),
        **variable_values(live),
        "pool": grafana_regex_values(HOSTILE_POOL),
    }
    queries = [q for q in panel_queries() if "overview" in q.dashboard and "by pool" in q.panel]
    assert queries

    def problems() -> list[str]:
        found = []
        hits = 0
        for query in queries:
            expr = substitute(query.expr, values)
            try:
                pools = {s["metric"].get("pool") for s in live.prometheus.query(expr)}
            except PrometheusError as exc:
                found.append(f"{query.key}: {exc}\n    {expr}")
                continue
            if pools - {HOSTILE_POOL}:
                found.append(f"{query.key}: selected {sorted(str(p) for p in pools)}")
            hits += HOSTILE_POOL in pools
        if hits < 8:  # its gauges, counters and means (its rates are 0: ratios are empty)
            found.append(f"only {hits} queries found the pool")
        return found

    eventually(live, problems, "the hostile pool name breaks selection")
