"""Generate the Grafana dashboards in ``grafana/dashboards/`` from one description.

Why a generator: the two dashboards share their variables, selectors and panel conventions
(datasource variable, ``$__rate_interval``, ``job``/``instance`` matchers, units); writing them
once here keeps 30 panels consistent. The JSON files are committed so that users import them
without running anything; ``tests/behaviour/test_grafana_lint.py`` fails if they differ from this
script's output, so edit this file and run ``python scripts/build_dashboards.py``.

Usage: ``python scripts/build_dashboards.py [--check]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "grafana" / "dashboards"

SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
POOL_DASHBOARD_UID = "tpe-insight-pool"
OVERVIEW_UID = "tpe-insight-overview"

# Label matchers every query carries, so that one dashboard serves many scraped processes.
SEL = 'job=~"$job", instance=~"$instance", pool=~"$pool"'
SEL_TASK = SEL + ', task=~"$task"'
RI = "[$__rate_interval]"


# -- building blocks ----------------------------------------------------------------------------


def target(expr: str, legend: str, ref: str, *, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "range": not instant,
        "legendFormat": legend,
        "refId": ref,
    }


def refs(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def drilldown_link() -> list[dict[str, Any]]:
    return [
        {
            "title": "Drill down into pool ${__field.labels.pool}",
            "url": f"/d/{POOL_DASHBOARD_UID}/tpe-insight-pool?${{__url_time_range}}"
            "&${job:queryparam}&${instance:queryparam}&var-pool=${__field.labels.pool}",
        }
    ]


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    max_value: float | None = None,
    stack: bool = False,
    links: bool = False,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": unit,
        "min": 0,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 25 if stack else 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        },
        "links": drilldown_link() if links else [],
    }
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def heatmap(title: str, description: str, metric: str) -> dict[str, Any]:
    # rate, not increase: with increase over $__rate_interval (longer than the step) adjacent
    # columns would count the same tasks several times.
    expr = f"sum by (le) (rate({metric}_bucket{{{SEL_TASK}}}{RI}))"
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": "s", "custom": {}}, "overrides": []},
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "scale": "exponential",
                "exponent": 0.5,
                "fill": "dark-orange",
                "reverse": False,
                "steps": 64,
            },
            "filterValues": {"le": 1e-9},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": "s"},
            "cellValues": {"unit": "ops"},
        },
        "targets": [
            {
                "datasource": DS,
                "editorMode": "code",
                "expr": expr,
                "format": "heatmap",
                "instant": False,
                "range": True,
                "legendFormat": "{{le}}",
                "refId": "A",
            }
        ],
    }


def bargauge(title: str, description: str, unit: str, expr: str, legend: str) -> dict[str, Any]:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "color": {"mode": "continuous-GrYlRd"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
            "valueMode": "color",
        },
        "targets": [target(expr, legend, "A", instant=True)],
    }


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def quantiles(metric: str, by: str, sel: str) -> list[tuple[str, str]]:
    legend = " ".join("{{" + label.strip() + "}}" for label in by.split(","))
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}{RI})))",
            f"{legend} p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give ids and grid positions: rows span the width, other panels go two per line."""
    y = 0
    x = 0
    out = []
    for i, spec in enumerate(panels, start=1):
        panel = {"id": i, **spec}
        if panel["type"] == "row":
            if x:
                y += 8
                x = 0
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y += 1
        else:
            panel["gridPos"] = {"h": 8, "w": 12, "x": x, "y": y}
            x += 12
            if x == 24:
                x = 0
                y += 8
        out.append(panel)
    return out


def query_variable(
    name: str, label: str, query: str, *, multi: bool = True, description: str = ""
) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def variables(with_task: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "regex": "",
            "current": {},
            "options": [],
            "hide": 0,
            "refresh": 1,
        },
        query_variable(
            "job",
            "Job",
            "label_values(tpe_workers_max, job)",
            description="Prometheus scrape job(s) of the processes that run tpe_insight pools.",
        ),
        query_variable(
            "instance",
            "Instance",
            'label_values(tpe_workers_max{job=~"$job"}, instance)',
            description="Scraped processes (host:port).",
        ),
        query_variable(
            "pool",
            "Pool",
            'label_values(tpe_workers_max{job=~"$job", instance=~"$instance"}, pool)',
            description="The pool label: name=, else thread_name_prefix, else the creating call"
            " site.",
        ),
    ]
    if with_task:
        out.append(
            query_variable(
                "task",
                "Task",
                'label_values(tpe_tasks_finished_total{job=~"$job", instance=~"$instance",'
                ' pool=~"$pool"}, task)',
                description="The task label: the submitted callable's module.qualname.",
            )
        )
    return out


def dashboard(
    uid: str, title: str, description: str, panels: list[dict[str, Any]], *, with_task: bool
) -> dict[str, Any]:
    types = sorted({p["type"] for p in panels if p["type"] != "row"})
    return {
        "__elements": {},
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            *({"type": "panel", "id": t, "name": t.capitalize(), "version": ""} for t in types),
        ],
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["tpe_insight", "python", "thread-pool"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "liveNow": False,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "fiscalYearStartMonth": 0,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "tags": ["tpe_insight"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
                "title": "tpe_insight",
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables(with_task)},
        "panels": layout(panels),
    }


# -- the overview -------------------------------------------------------------------------------


def overview() -> dict[str, Any]:
    fin = f"tpe_tasks_finished_total{{{SEL}}}"
    panels = [
        row("Throughput and errors"),
        timeseries(
            "Throughput by pool",
            "Tasks per second that each pool finished (any outcome) and that callers submitted."
            " Submitted above finished for long means the queue is growing: see the saturation"
            " panels below. Click a series to drill down into the pool.",
            "ops",
            refs(
                (f"sum by (pool) (rate({fin}{RI}))", "{{pool}} finished"),
                (
                    f"sum by (pool) (rate(tpe_tasks_submitted_total{{{SEL}}}{RI}))",
                    "{{pool}} submitted",
                ),
            ),
            links=True,
        ),
        timeseries(
            "Error ratio by pool",
            "Share of the tasks each pool finished that raised (outcome=error, which includes"
            " tasks failed by a broken pool) among those that ran to an end (success + error);"
            " cancelled tasks are left out. Empty while a pool finishes nothing. The"
            " TpeTaskErrorRatioHigh alert fires above 5%.",
            "percentunit",
            refs(
                (
                    f'sum by (pool) (rate(tpe_tasks_finished_total{{{SEL}, outcome="error"}}{RI}))'
                    " / "
                    f"sum by (pool) (rate(tpe_tasks_finished_total{{{SEL},"
                    f' outcome=~"success|error"}}{RI}))',
                    "{{pool}}",
                ),
            ),
            max_value=1,
            links=True,
        ),
        timeseries(
            "Failed tasks by pool",
            "Tasks per second that ended with an exception (outcome=error). Read it with the"
            " error ratio: a constant ratio with rising failures just means more traffic."
            " The pool drill-down dashboard breaks failures down by task and exception class.",
            "ops",
            refs(
                (
                    f'sum by (pool) (rate(tpe_tasks_finished_total{{{SEL}, outcome="error"}}{RI}))',
                    "{{pool}}",
                ),
            ),
            links=True,
        ),
        timeseries(
            "Cancelled tasks and rejected submits",
            "Tasks per second cancelled while still queued (future.cancel(), shutdown with"
            " cancel_futures=True) and calls to submit() that raised, by reason: shutdown (the"
            " pool was already shut down: usually a lifecycle bug) or broken (an initializer"
            " failed; see the initializer failures panel).",
            "ops",
            refs(
                (
                    f'sum by (pool) (rate(tpe_tasks_finished_total{{{SEL}, outcome="cancelled"}}'
                    f"{RI}))",
                    "{{pool}} cancelled",
                ),
                (
                    f"sum by (pool, reason) (rate(tpe_tasks_rejected_total{{{SEL}}}{RI}))",
                    "{{pool}} rejected ({{reason}})",
                ),
            ),
        ),
        row("Latency"),
        timeseries(
            "Queue wait p50 / p95 / p99 by pool",
            "Time from submit() to the task starting on a worker, as quantiles of the"
            " tpe_task_queue_wait_seconds histogram (interpolated within buckets). High waits"
            " with all workers busy mean the pool is too small for the load or its tasks too"
            " slow; high waits with idle workers are impossible unless the process is starved"
            " of CPU or the GIL.",
            "s",
            refs(*quantiles("tpe_task_queue_wait_seconds", "pool", SEL)),
            links=True,
        ),
        timeseries(
            "Run time p50 / p95 / p99 by pool",
            "Time from a task starting on a worker to it returning or raising. It includes"
            " time spent waiting for I/O, locks and the GIL, not only CPU time: compare with"
            " the CPU share panel.",
            "s",
            refs(*quantiles("tpe_task_run_seconds", "pool", SEL)),
            links=True,
        ),
        row("Capacity and saturation"),
        timeseries(
            "Queued and running tasks",
            "Tasks waiting in each pool's queue and tasks running on a worker now. Running"
            " stuck at max_workers with a growing queue is saturation; running flat with"
            " nothing finishing means stuck tasks (TpeTasksStuck).",
            "short",
            refs(
                (f"sum by (pool) (tpe_tasks_queued{{{SEL}}})", "{{pool}} queued"),
                (f"sum by (pool) (tpe_tasks_running{{{SEL}}})", "{{pool}} running"),
            ),
            links=True,
        ),
        timeseries(
            "Workers vs max_workers",
            "Live worker threads and the max_workers limit (summed over live executors with the"
            " same pool label). The stdlib starts a worker only when no idle one is left, so"
            " workers reaching max means the pool has needed all its threads at least once;"
            " it cannot grow further.",
            "short",
            refs(
                (f"sum by (pool) (tpe_workers{{{SEL}}})", "{{pool}} workers"),
                (f"sum by (pool) (tpe_workers_max{{{SEL}}})", "{{pool}} max_workers"),
            ),
        ),
        timeseries(
            "Utilisation",
            "Worker-seconds spent running tasks per second, divided by max_workers: 100% means"
            " every allowed thread ran a task all the time. Near 100% with a growing queue: add"
            " workers (if the work waits on I/O) or make tasks cheaper. Low utilisation with long"
            " queue waits points to bursts, not to a small pool.",
            "percentunit",
            refs(
                (
                    f"sum by (pool) (rate(tpe_task_run_seconds_sum{{{SEL}}}{RI}))"
                    f" / (sum by (pool) (tpe_workers_max{{{SEL}}}) > 0)",
                    "{{pool}}",
                ),
            ),
            links=True,
        ),
        timeseries(
            "CPU share of run time",
            "Thread CPU time divided by wall-clock run time of the tasks. Near 0: tasks wait"
            " (I/O, sleeps, locks), which is what threads are good at. Near 1: CPU-bound Python"
            " code, which threads cannot speed up because of the GIL; use processes. Several"
            " CPU-bound threads fighting over the GIL each show a lower share (about 1/N), so"
            " read it with the CPU used panel.",
            "percentunit",
            refs(
                (
                    f"sum by (pool) (rate(tpe_task_cpu_seconds_total{{{SEL}}}{RI}))"
                    f" / (sum by (pool) (rate(tpe_task_run_seconds_sum{{{SEL}}}{RI})) > 0)",
                    "{{pool}}",
                ),
            ),
            max_value=1,
            links=True,
        ),
        timeseries(
            "CPU used by tasks",
            "CPU-seconds per second (cores) that each pool's tasks used. On a GIL build, Python"
            " code in one process cannot use much more than one core in total: a pool near 1.0"
            " is at that ceiling whatever its max_workers.",
            "short",
            refs(
                (
                    f"sum by (pool) (rate(tpe_task_cpu_seconds_total{{{SEL}}}{RI}))",
                    "{{pool}}",
                ),
            ),
        ),
        timeseries(
            "Worker threads started",
            "New worker threads per second. The stdlib never retires a worker before shutdown,"
            " so a steady rate means pools are being created and shut down repeatedly (e.g."
            " a `with ThreadPoolExecutor()` per request): each one pays thread start-up.",
            "ops",
            refs(
                (
                    f"sum by (pool) (rate(tpe_workers_started_total{{{SEL}}}{RI}))",
                    "{{pool}}",
                ),
            ),
        ),
        row("Failures"),
        timeseries(
            "Initializer failures",
            "Worker initializers that raised within each $__rate_interval window. Each one"
            " breaks its pool: queued tasks fail and later submits raise BrokenThreadPool"
            " (TpePoolBroken alert).",
            "short",
            refs(
                (
                    f"sum by (pool) (increase(tpe_initializer_failures_total{{{SEL}}}{RI}))",
                    "{{pool}}",
                ),
            ),
        ),
        timeseries(
            "Done-callback failures",
            "Callbacks added with future.add_done_callback() that raised, within each"
            " $__rate_interval window. The stdlib only logs and swallows these, so code that"
            " relies on a callback (to release a resource, to chain work) silently skipped it.",
            "short",
            refs(
                (
                    f"sum by (pool) (increase(tpe_callback_failures_total{{{SEL}}}{RI}))",
                    "{{pool}}",
                ),
            ),
        ),
        timeseries(
            "tpe_insight instrumentation errors",
            "Failures inside tpe_insight's own sinks (yours or the built-in ones), by component,"
            " within each $__rate_interval window. Tasks are never affected, but the metrics or"
            " logs of that component may be incomplete. The series only exist once a failure"
            " happened.",
            "short",
            refs(
                (
                    f"sum by (pool, component) (increase(tpe_instrumentation_errors_total{{{SEL}}}"
                    f"{RI}))",
                    "{{pool}} {{component}}",
                ),
            ),
        ),
    ]
    return dashboard(
        OVERVIEW_UID,
        "tpe_insight / Thread pools overview",
        "Every tpe_insight ThreadPoolExecutor pool of the selected processes: throughput,"
        " errors, queue wait and run time, saturation, CPU share and failures.",
        panels,
        with_task=False,
    )


# -- the pool drill-down ------------------------------------------------------------------------


def pool_drilldown() -> dict[str, Any]:
    fin = f"tpe_tasks_finished_total{{{SEL_TASK}}}"
    panels = [
        row("Tasks"),
        timeseries(
            "Throughput by task",
            "Tasks per second finished (any outcome), per task label (the callable's"
            " module.qualname; past the per-pool cap, 'other').",
            "ops",
            refs((f"sum by (pool, task) (rate({fin}{RI}))", "{{pool}} {{task}}")),
        ),
        timeseries(
            "Outcome breakdown",
            "Finished tasks per second by outcome, stacked: success, error (raised, or failed"
            " by a broken pool) and cancelled (cancelled while queued, never ran).",
            "ops",
            refs(
                (
                    f"sum by (pool, task, outcome) (rate({fin}{RI}))",
                    "{{pool}} {{task}} {{outcome}}",
                )
            ),
            stack=True,
        ),
        timeseries(
            "Exceptions by class",
            "Exceptions per second that ended a task, by task and exception class (module-"
            "qualified unless builtin; capped per pool, extra classes count as 'other')."
            " Tasks failed by a broken pool show as concurrent.futures.thread.BrokenThreadPool.",
            "ops",
            refs(
                (
                    f"sum by (pool, task, exception) (rate(tpe_task_exceptions_total"
                    f"{{{SEL_TASK}}}{RI}))",
                    "{{pool}} {{task}} {{exception}}",
                )
            ),
        ),
        timeseries(
            "Error ratio by task",
            "Share of each task's finished runs that raised, among success + error (cancelled"
            " left out). Empty while a task finishes nothing.",
            "percentunit",
            refs(
                (
                    "sum by (pool, task) (rate(tpe_tasks_finished_total"
                    f'{{{SEL_TASK}, outcome="error"}}{RI}))'
                    " / sum by (pool, task) (rate(tpe_tasks_finished_total"
                    f'{{{SEL_TASK}, outcome=~"success|error"}}{RI}))',
                    "{{pool}} {{task}}",
                )
            ),
            max_value=1,
        ),
        row("Latency distribution"),
        heatmap(
            "Queue wait heatmap",
            "Tasks per second that started after each queue wait (y, histogram buckets) at each"
            " time (x): one column per interval, darker = more tasks. A band moving up is a"
            " queue building; two bands mean two populations (e.g. bursts).",
            "tpe_task_queue_wait_seconds",
        ),
        heatmap(
            "Run time heatmap",
            "Tasks per second that finished with each run time (y, histogram buckets) at each"
            " time (x). Two bands usually mean two kinds of work (cache hit vs miss, fast vs"
            " slow path) hidden behind one task label or one mean.",
            "tpe_task_run_seconds",
        ),
        bargauge(
            "Slowest tasks by p95 run time",
            "The ten task labels with the highest 95th-percentile run time over the last"
            " $__rate_interval (instant query, interpolated within buckets). Start here when a"
            " pool is slow: one slow task label often explains the pool's latency.",
            "s",
            "topk(10, histogram_quantile(0.95, sum by (pool, task, le)"
            f" (rate(tpe_task_run_seconds_bucket{{{SEL_TASK}}}{RI}))))",
            "{{pool}} {{task}}",
        ),
        timeseries(
            "Run time p95 by task",
            "95th-percentile run time per task over time: which task got slower, and when.",
            "s",
            refs(
                (
                    "histogram_quantile(0.95, sum by (pool, task, le)"
                    f" (rate(tpe_task_run_seconds_bucket{{{SEL_TASK}}}{RI})))",
                    "{{pool}} {{task}}",
                )
            ),
        ),
        timeseries(
            "Queue wait p95 by task",
            "95th-percentile queue wait per task. All tasks of a pool share one FIFO queue, so"
            " they normally wait alike; a task that waits longer is submitted in bursts.",
            "s",
            refs(
                (
                    "histogram_quantile(0.95, sum by (pool, task, le)"
                    f" (rate(tpe_task_queue_wait_seconds_bucket{{{SEL_TASK}}}{RI})))",
                    "{{pool}} {{task}}",
                )
            ),
        ),
        timeseries(
            "Mean run time by task",
            "Run seconds divided by runs: the mean, exact (no bucket interpolation) but"
            " sensitive to outliers. Mean far above p50 means a long tail.",
            "s",
            refs(
                (
                    f"sum by (pool, task) (rate(tpe_task_run_seconds_sum{{{SEL_TASK}}}{RI}))"
                    " / sum by (pool, task)"
                    f" (rate(tpe_task_run_seconds_count{{{SEL_TASK}}}{RI}))",
                    "{{pool}} {{task}}",
                )
            ),
        ),
        row("Resources"),
        timeseries(
            "CPU share by task",
            "Thread CPU time / run time per task. Near 1: CPU-bound Python code (threads will"
            " not make it faster); near 0: waiting (I/O, sleeps, locks, the GIL).",
            "percentunit",
            refs(
                (
                    f"sum by (pool, task) (rate(tpe_task_cpu_seconds_total{{{SEL_TASK}}}{RI}))"
                    " / (sum by (pool, task)"
                    f" (rate(tpe_task_run_seconds_sum{{{SEL_TASK}}}{RI})) > 0)",
                    "{{pool}} {{task}}",
                )
            ),
            max_value=1,
        ),
        timeseries(
            "Pool state",
            "Queued and running tasks, live workers and max_workers of the selected pools"
            " (pool-level gauges: the task filter does not apply).",
            "short",
            refs(
                (f"sum by (pool) (tpe_tasks_queued{{{SEL}}})", "{{pool}} queued"),
                (f"sum by (pool) (tpe_tasks_running{{{SEL}}})", "{{pool}} running"),
                (f"sum by (pool) (tpe_workers{{{SEL}}})", "{{pool}} workers"),
                (f"sum by (pool) (tpe_workers_max{{{SEL}}})", "{{pool}} max_workers"),
            ),
        ),
        timeseries(
            "Busy workers by task",
            "Worker-seconds per second spent on each task, i.e. how many workers it keeps busy"
            " on average: the tasks that occupy the pool. Stacked, the total is the pool's busy"
            " workers; compare with max_workers in the pool state panel.",
            "short",
            refs(
                (
                    f"sum by (pool, task) (rate(tpe_task_run_seconds_sum{{{SEL_TASK}}}{RI}))",
                    "{{pool}} {{task}}",
                )
            ),
            stack=True,
        ),
    ]
    return dashboard(
        POOL_DASHBOARD_UID,
        "tpe_insight / Pool drill-down",
        "One or more tpe_insight pools task by task: throughput, outcomes, exceptions, queue"
        " wait and run time heatmaps, slowest tasks and CPU share.",
        panels,
        with_task=True,
    )


DASHBOARDS = {
    "tpe-insight-overview.json": overview,
    "tpe-insight-pool.json": pool_drilldown,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed files are out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(
            "out of date (run python scripts/build_dashboards.py): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
