"""Ground truth on a real Prometheus: the panels and alerts read what really happened.

``tests/truth_workload.py`` runs its work in fake time (injected clocks), between two scrapes of
a real Prometheus (scrape and rule evaluation every second). Every series exists at 0 before the
work, and the queries are evaluated at the timestamp of the last scrape with a window that holds
the whole run, so Prometheus's rate() has nothing to extrapolate: a rate is the true count over
the window, a quantile is read from exactly the observations made. The truth comes from the
workload's own lists, never from tpe_insight. Quantiles must be within 10%, everything else
within 2%. Then one scrape fails (the exporter answers 500) and the alerts that were firing stay
firing, with the same activeAt.

Real time is only needed for the scrapes: about 25 s, bounded by ``CONVERGE_WITHIN``; nothing
depends on the machine being idle (the durations and CPU times are fake).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.prom_harness import (
    RULES_FILE,
    Prometheus,
    grafana_builtins,
    grafana_regex_escape,
    grafana_regex_values,
    panel_queries,
    substitute,
)
from tests.truth_workload import GIL_RUN, GIL_WORKERS, N_TIMED, SATURATED_TASKS, Workload

pytestmark = pytest.mark.slow

JOB = "truth"
CONVERGE_WITHIN = 90.0
#: successful scrapes to wait for after the work, so that gauges averaged over the window
#: (TpePoolCpuBound's running and queued tasks) are dominated by the state after it
SCRAPES_AFTER = 20
QUANTILE_TOLERANCE = 0.10
TOLERANCE = 0.02


@dataclass
class Live:
    prometheus: Prometheus
    workload: Workload
    deadline: float
    at: float = 0.0  # the evaluation time: the last successful scrape's timestamp
    first: float = 0.0  # the first scrape's timestamp

    @property
    def window(self) -> float:
        """From just before the first scrape to the last: rate() has nothing to extrapolate
        (a range starting 1 ms before its first sample), so a rate is count / window."""
        return self.at - self.first + 0.001


def wait_for(live: Live, ok: Callable[[], bool], what: str) -> None:
    while not ok():
        if time.monotonic() > live.deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        time.sleep(0.2)


def last_scrape(prometheus: Prometheus) -> float:
    result = prometheus.query(f'timestamp(tpe_workers_max{{job="{JOB}", pool="p50ms"}})')
    return float(result[0]["value"][1]) if result else 0.0


def live_rules(workdir: Path) -> Path:
    """alerts.yml with `for:` cut to 2 s (the live run is short) and no keep_firing_for, so a
    firing alert that survives the failed scrape survives on its expression alone."""
    text = RULES_FILE.read_text(encoding="utf-8")
    text = re.sub(r"^(\s+)for: \S+$", r"\1for: 2s", text, flags=re.M)
    text = re.sub(r"^\s+keep_firing_for: \S+\n", "", text, flags=re.M)
    path = workdir / "live_rules" / RULES_FILE.name
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("truth")
    workload = Workload()
    port = workload.serve()
    workload.prime()
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
      - targets: ["127.0.0.1:{port}"]
"""
    prometheus = Prometheus(workdir, config, rule_files=(live_rules(workdir),))
    state = Live(prometheus, workload, time.monotonic() + CONVERGE_WITHIN)
    try:
        prometheus.start()
        wait_for(state, lambda: last_scrape(prometheus) > 0, "Prometheus's first scrape")
        state.first = last_scrape(prometheus)
        workload.run()
        wait_for(
            state,
            lambda: workload.scrapes >= workload.scrapes_before_run + SCRAPES_AFTER,
            f"{SCRAPES_AFTER} scrapes after the work",
        )
        # The exporter counted the scrape when it answered; wait for Prometheus to store it.
        time.sleep(1.5)
        state.at = last_scrape(prometheus)
        yield state
    finally:
        prometheus.stop()
        workload.stop()


def query(live: Live, expr: str) -> dict[str, float]:
    """Instant query at the last scrape: {pool (and task/exception) label: value}."""
    data = live.prometheus.api("query", query=expr, time=f"{live.at:.3f}")
    out = {}
    for series in data["result"]:
        labels = series["metric"]
        key = "/".join(labels[k] for k in ("pool", "exception", "reason") if k in labels)
        out[key] = float(series["value"][1])
    return out


def true_quantile(q: float, values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def panel(dashboard: str, title: str, ref: str = "A") -> str:
    for q in panel_queries():
        if dashboard in q.dashboard and q.panel == title and q.ref_id == ref:
            return q.expr
    raise AssertionError(f"no panel {dashboard} / {title} / {ref}")


def values(live: Live, pool: str = ".*") -> dict[str, str]:
    return {
        **grafana_builtins(f"{round(live.window * 1000)}ms"),
        "job": grafana_regex_escape(JOB),
        "instance": ".*",
        "pool": pool,
        "task": ".*",
    }


ROWS: list[tuple[str, str, float, float]] = []  # panel, series, truth, value: the closing table


def check(
    live: Live, title: str, ref: str, pool: str, truth: float, tolerance: float, key: str = ""
) -> None:
    expr = substitute(panel("overview", title, ref), values(live, grafana_regex_values(pool)))
    got = query(live, expr).get(key or pool)
    ROWS.append((f"{title} [{ref}]", key or pool, truth, math.nan if got is None else got))
    assert got is not None, f"{title} {ref}: no series for {key or pool}\n{expr}"
    assert got == pytest.approx(truth, rel=tolerance), f"{title} {ref} {key or pool}"


def test_the_work_ran_between_two_scrapes(live: Live) -> None:
    assert live.workload.scrapes_before_run >= 1
    assert live.at > 0


@pytest.mark.parametrize("pool", ["p50ms", "p100ms", "saturated"])
@pytest.mark.parametrize(("ref", "q"), [("A", 0.5), ("B", 0.95), ("C", 0.99)])
def test_quantile_panels_read_the_true_quantiles(live: Live, pool: str, ref: str, q: float) -> None:
    """Queue wait and run time p50/p95/p99 within 10%, incl. a queue wait past 10 minutes."""
    truth = live.workload.truth
    check(
        live,
        "Run time p50 / p95 / p99 by pool",
        ref,
        pool,
        true_quantile(q, truth.run[pool]),
        QUANTILE_TOLERANCE,
    )
    if pool == "saturated":
        check(
            live,
            "Queue wait p50 / p95 / p99 by pool",
            ref,
            pool,
            true_quantile(q, truth.wait[pool]),
            QUANTILE_TOLERANCE,
        )


def test_the_saturated_queue_wait_is_past_ten_minutes() -> None:
    assert (SATURATED_TASKS - 1) * 0.25 > 600


@pytest.mark.parametrize("pool", ["p50ms", "p100ms", "saturated"])
def test_mean_panels_are_exact(live: Live, pool: str) -> None:
    truth = live.workload.truth
    run, wait = truth.run[pool], truth.wait[pool]
    check(live, "Mean queue wait and run time by pool", "A", pool, sum(wait) / len(wait), TOLERANCE)
    check(live, "Mean queue wait and run time by pool", "B", pool, sum(run) / len(run), TOLERANCE)


def test_rates_are_true_counts_over_the_window(live: Live) -> None:
    """Throughput, failures, error ratio, utilisation, CPU: the truth over the window."""
    t = live.workload.truth
    check(live, "Throughput by pool", "A", "p50ms", N_TIMED / live.window, TOLERANCE)
    check(live, "Throughput by pool", "B", "p50ms", N_TIMED / live.window, TOLERANCE)
    check(live, "Throughput by pool", "A", "errors", 30 / live.window, TOLERANCE)
    check(live, "Failed tasks by pool", "A", "errors", 20 / live.window, TOLERANCE)
    check(live, "Error ratio by pool", "A", "errors", 20 / 30, TOLERANCE)
    busy = sum(t.run["p100ms"]) / live.window
    check(live, "Utilisation", "A", "p100ms", busy / 1, TOLERANCE)
    check(live, "CPU used by tasks", "A", "gil4", t.cpu["gil4"] / live.window, TOLERANCE)
    check(live, "CPU share of run time", "A", "gil4", 1 / GIL_WORKERS, TOLERANCE)
    check(live, "Initializer failures", "A", "broken", 1.0, TOLERANCE)
    check(
        live,
        "Cancelled tasks and rejected submits",
        "B",
        "broken",
        3 / live.window,
        TOLERANCE,
        key="broken/broken",
    )
    assert GIL_RUN > 0


def test_gauge_panels(live: Live) -> None:
    w = live.workload
    queued_saturated = w.scrapes - w.scrapes_before_run - 1  # one per scrape after the work
    got = query(
        live,
        substitute(
            panel("overview", "Queued and running tasks", "A"),
            values(live, grafana_regex_values("saturated", "gil4")),
        ),
    )
    ROWS.append(("Queued and running tasks [A]", "gil4", 5.0, got.get("gil4", math.nan)))
    assert got["gil4"] == 5
    # the saturated pool queues one task per scrape: within a scrape of the exporter's count
    assert abs(got["saturated"] - queued_saturated) <= 2
    # Little's law: queued now / tasks started per second. Started: the batch, the task that
    # held it and the blocker now running (the primed task is before the window).
    expected_wait = got["saturated"] / ((SATURATED_TASKS + 2) / live.window)
    title = "Expected wait for a task submitted now (Little's law)"
    little = query(live, substitute(panel("overview", title), values(live, "saturated")))
    ROWS.append((title, "saturated", expected_wait, little.get("saturated", math.nan)))
    assert little["saturated"] == pytest.approx(expected_wait, rel=TOLERANCE)
    got = query(
        live,
        substitute(
            panel("overview", "Queued and running tasks", "B"),
            values(live, grafana_regex_values("gil4", "stuck")),
        ),
    )
    ROWS.append(("Queued and running tasks [B]", "gil4", 4.0, got.get("gil4", math.nan)))
    assert got == {"gil4": 4.0, "stuck": 2.0}


ALERTS = {
    "TpePoolSaturated": "saturated",
    "TpeTaskErrorRatioHigh": "errors",
    "TpePoolBroken": "broken",
    "TpeTasksStuck": "stuck",
    "TpePoolCpuBound": "gil4",
}


def active(live: Live) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("pool", "")): a
        for a in live.prometheus.api("alerts")["alerts"]
    }


def test_alerts_fire_on_their_pool_only_and_survive_a_failed_scrape(live: Live) -> None:
    wait_for(
        live,
        lambda: all(active(live).get(key, {}).get("state") == "firing" for key in ALERTS.items()),
        f"every alert firing: {sorted(active(live))}",
    )
    before = active(live)
    assert set(before) == set(ALERTS.items()), "an alert fired on a pool not built for it"
    # The alerts' own numbers: the saturated pool's p95 wait and the GIL-bound pool's cores.
    wait_p95 = true_quantile(0.95, live.workload.truth.wait["saturated"])
    assert float(before[("TpePoolSaturated", "saturated")]["value"]) == pytest.approx(
        wait_p95, rel=QUANTILE_TOLERANCE
    )
    cores = float(before[("TpePoolCpuBound", "gil4")]["value"])
    assert 0.75 < cores < 1.25
    failed, scrapes = live.workload.failed_scrapes, live.workload.scrapes
    live.workload.fail_next_scrape.set()
    wait_for(live, lambda: live.workload.failed_scrapes > failed, "the failed scrape")
    wait_for(live, lambda: live.workload.scrapes >= scrapes + 3, "3 scrapes after it")
    time.sleep(2.5)  # two rule evaluations
    after = active(live)
    for key in ALERTS.items():
        assert after[key]["state"] == "firing", key
        assert after[key]["activeAt"] == before[key]["activeAt"], f"{key} was reset"
    got = live.prometheus.query(f'min_over_time(up{{job="{JOB}"}}[1m])')
    assert float(got[0]["value"][1]) == 0.0, "the failed scrape is not in Prometheus"


def test_zz_print_the_table(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    """The table panel -> truth -> value (shown with -s; also kept in the test log)."""
    with capsys.disabled():
        print("\npanel | series | truth | value | error")
        for title, key, truth, got in ROWS:
            error = abs(got - truth) / truth if truth else abs(got)
            print(f"{title} | {key} | {truth:.6g} | {got:.6g} | {error:.2%}")
    assert ROWS
