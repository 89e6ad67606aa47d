"""Generate the Grafana dashboards in ``grafana/dashboards/`` with grafana-foundation-sdk.

Why a generator: the two dashboards share their variables, selectors and panel conventions
(datasource variable, ``$__rate_interval``, ``job``/``instance`` matchers, units); writing them
once here keeps 30 panels consistent. Why grafana-foundation-sdk (Grafana's own typed builders,
the 11.6 build pinned in pyproject.toml): the panel and query models are Grafana's schema, so
mypy catches a misspelt option and the JSON carries the schemaVersion of that Grafana line,
instead of hand-written dicts that Grafana silently ignores when they are wrong.

The panel descriptions are not here: each one is the paragraph under the panel's title in the
"Dashboard panels" section of ``docs/metrics.md``, the one source for the dashboards and the
docs. The JSON files are committed so that users import them without running anything;
``tests/behaviour/test_grafana_lint.py`` fails if they differ from this script's output, so
edit this file (or the docs) and run ``python scripts/build_dashboards.py``.

Usage: ``python scripts/build_dashboards.py [--check]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge as sdk_bargauge
from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk_dashboard
from grafana_foundation_sdk.builders import heatmap as sdk_heatmap
from grafana_foundation_sdk.builders import prometheus as sdk_prometheus
from grafana_foundation_sdk.builders import timeseries as sdk_timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard, heatmap, prometheus

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "grafana" / "dashboards"
DOCS = ROOT / "docs" / "metrics.md"

DS = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")
POOL_DASHBOARD_UID = "tpe-insight-pool"
OVERVIEW_UID = "tpe-insight-overview"


# Label matchers every query carries, so that one dashboard serves many scraped processes.
# Selection is safe for any label value: `${var:regex}` escapes every regex metacharacter (and
# the backslash) with one backslash, and the backtick-quoted PromQL string takes it verbatim, so
# a `"` or a `\` in a pool or task name can neither end the string nor break an escape. (Grafana's
# default formatting escapes for a double-quoted string but leaves `"` as it is.) Only a backtick
# in a name is unsafe: docs/prometheus.md says so.
def matcher(label: str) -> str:
    return f"{label}=~`${{{label}:regex}}`"


SEL = ", ".join(matcher(label) for label in ("job", "instance", "pool"))
SEL_TASK = SEL + ", " + matcher("task")
RI = "[$__rate_interval]"
RANGE = "[$__range]"
CORES = "suffix: cores"  # Grafana has no built-in unit for CPU cores

Panel = sdk_timeseries.Panel | sdk_heatmap.Panel | sdk_bargauge.Panel | sdk_dashboard.Row


# -- the one source of panel descriptions ------------------------------------------------------

PANEL_SECTION = re.compile(r"^#### (?P<title>.+?)\n\n(?P<text>.+?)(?=\n\n|\Z)", re.M | re.S)


def panel_descriptions(docs: Path = DOCS) -> dict[str, dict[str, str]]:
    """{dashboard title: {panel title: description}} from docs/metrics.md's panel section."""
    text = docs.read_text(encoding="utf-8")
    out: dict[str, dict[str, str]] = {}
    section = text.split("\n## Dashboard panels\n", 1)[-1].split("\n## ", 1)[0]
    for part in re.split(r"^### Panels: ", section, flags=re.M)[1:]:
        board, _, rest = part.partition("\n")
        out[board.strip()] = {
            m["title"].strip(): " ".join(m["text"].split()) for m in PANEL_SECTION.finditer(rest)
        }
    return out


class Descriptions:
    """The descriptions of one dashboard; a panel without one is an error, never blank."""

    def __init__(self, board: str) -> None:
        self.board = board
        self.texts = panel_descriptions().get(board, {})
        self.used: set[str] = set()

    def __call__(self, title: str) -> str:
        if title not in self.texts:
            raise SystemExit(
                f"docs/metrics.md has no description for panel {title!r} of {self.board!r}"
                " (a '#### title' paragraph under '### Panels: ...')"
            )
        self.used.add(title)
        return self.texts[title]


DESCRIBE: Descriptions = Descriptions("")


# -- building blocks ----------------------------------------------------------------------------


def target(expr: str, legend: str, ref: str, *, instant: bool = False) -> sdk_prometheus.Dataquery:
    query = (
        sdk_prometheus.Dataquery()
        .datasource(DS)
        .editor_mode(prometheus.QueryEditorMode.CODE)
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
    )
    return query.instant() if instant else query.range()


def refs(*pairs: tuple[str, str]) -> list[sdk_prometheus.Dataquery]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def drilldown_link() -> sdk_dashboard.DashboardLink:
    return (
        sdk_dashboard.DashboardLink("Drill down into pool ${__field.labels.pool}")
        .type(dashboard.DashboardLinkType.LINK)
        .url(
            f"/d/{POOL_DASHBOARD_UID}/tpe-insight-pool?${{__url_time_range}}"
            "&${job:queryparam}&${instance:queryparam}&var-pool=${__field.labels.pool}"
        )
    )


def timeseries(
    title: str,
    unit: str,
    targets: list[sdk_prometheus.Dataquery],
    *,
    max_value: float | None = None,
    stack: bool = False,
    links: bool = False,
) -> sdk_timeseries.Panel:
    panel = (
        sdk_timeseries.Panel()
        .title(title)
        .description(DESCRIBE(title))
        .datasource(DS)
        .unit(unit)
        .min(0)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(25 if stack else 10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            sdk_common.StackingConfig()
            .mode(common.StackingMode.NORMAL if stack else common.StackingMode.NONE)
            .group("A")
        )
        .legend(
            sdk_common.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .calcs(["mean", "max"])
        )
        .tooltip(
            sdk_common.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
        .targets(list(targets))
    )
    if links:
        panel = panel.data_links([drilldown_link()])
    if max_value is not None:
        panel = panel.max(max_value)
    return panel


def heatmap_panel(title: str, metric: str) -> sdk_heatmap.Panel:
    # rate, not increase: with increase over $__rate_interval (longer than the step) adjacent
    # columns would count the same tasks several times. The histograms are per pool (per task
    # there are only summaries), so the task filter does not apply.
    expr = f"sum by (le) (rate({metric}_bucket{{{SEL}}}{RI}))"
    query = target(expr, "{{le}}", "A").format(prometheus.PromQueryFormat.HEATMAP)
    return (
        sdk_heatmap.Panel()
        .title(title)
        .description(DESCRIBE(title))
        .datasource(DS)
        .unit("s")
        .calculate(False)
        .cell_gap(1)
        .color(
            sdk_heatmap.HeatmapColorOptions()
            .mode(heatmap.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(heatmap.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .fill("dark-orange")
            .reverse(False)
            .steps(64)
        )
        .filter_values(sdk_heatmap.FilterValueRange().le(1e-9))
        .rows_frame(sdk_heatmap.RowsHeatmapOptions().layout(common.HeatmapCellLayout.AUTO))
        .show_legend()
        .mode(common.TooltipDisplayMode.SINGLE)
        .show_y_histogram()
        .show_color_scale(False)
        .y_axis(
            sdk_heatmap.YAxisConfig()
            .axis_placement(common.AxisPlacement.LEFT)
            .reverse(False)
            .unit("s")
        )
        .cell_values(sdk_heatmap.CellValues().unit("ops"))
        .targets([query])
    )


def bargauge(title: str, unit: str, expr: str, legend: str) -> sdk_bargauge.Panel:
    return (
        sdk_bargauge.Panel()
        .title(title)
        .description(DESCRIBE(title))
        .datasource(DS)
        .unit(unit)
        .min(0)
        .color_scheme(
            sdk_dashboard.FieldColor().mode(dashboard.FieldColorModeId.CONTINUOUS_GR_YL_RD)
        )
        .thresholds(
            sdk_dashboard.ThresholdsConfig()
            .mode(dashboard.ThresholdsMode.ABSOLUTE)
            .steps([dashboard.Threshold(value=None, color="green")])
        )
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(
            sdk_common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
        )
        .show_unfilled(True)
        .value_mode(common.BarGaugeValueMode.COLOR)
        .targets([target(expr, legend, "A", instant=True)])
    )


def row(title: str) -> sdk_dashboard.Row:
    return sdk_dashboard.Row(title).collapsed(False)


def quantiles(metric: str, by: str, sel: str) -> list[tuple[str, str]]:
    legend = " ".join("{{" + label.strip() + "}}" for label in by.split(","))
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}{RI})))",
            f"{legend} p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def query_variable(
    name: str, label: str, query: str, description: str
) -> sdk_dashboard.QueryVariable:
    return (
        sdk_dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DS)
        .query(query)
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def variables(
    with_task: bool,
) -> list[sdk_dashboard.DatasourceVariable | sdk_dashboard.QueryVariable]:
    out: list[sdk_dashboard.DatasourceVariable | sdk_dashboard.QueryVariable] = [
        sdk_dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        query_variable(
            "job",
            "Job",
            "label_values(tpe_workers_max, job)",
            "Prometheus scrape job(s) of the processes that run tpe_insight pools.",
        ),
        query_variable(
            "instance",
            "Instance",
            f"label_values(tpe_workers_max{{{matcher('job')}}}, instance)",
            "Scraped processes (host:port).",
        ),
        query_variable(
            "pool",
            "Pool",
            f"label_values(tpe_workers_max{{{matcher('job')}, {matcher('instance')}}}, pool)",
            "The pool label: name=, else thread_name_prefix, else the creating call site.",
        ),
    ]
    if with_task:
        out.append(
            query_variable(
                "task",
                "Task",
                f"label_values(tpe_tasks_finished_total{{{SEL}}}, task)",
                "The task label: the submitted callable's module.qualname.",
            )
        )
    return out


def build_dashboard(
    uid: str, title: str, description: str, panels: list[Panel], *, with_task: bool
) -> sdk_dashboard.Dashboard:
    """Rows span the width, other panels go two per line; ids in order."""
    board = (
        sdk_dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["tpe_insight", "python", "thread-pool"])
        .editable()
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("")
        .link(
            sdk_dashboard.DashboardLink("tpe_insight")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags(["tpe_insight"])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
            .icon("external link")
            .target_blank(False)
        )
    )
    for variable in variables(with_task):
        board = board.with_variable(variable)
    x = y = 0
    for i, panel in enumerate(panels, start=1):
        if isinstance(panel, sdk_dashboard.Row):
            if x:
                y += 8
                x = 0
            board = board.with_row(panel.id(i).grid_pos(dashboard.GridPos(h=1, w=24, x=0, y=y)))
            y += 1
        else:
            board = board.with_panel(panel.id(i).grid_pos(dashboard.GridPos(h=8, w=12, x=x, y=y)))
            x += 12
            if x == 24:
                x = 0
                y += 8
    return board


# -- the overview -------------------------------------------------------------------------------


def overview() -> sdk_dashboard.Dashboard:
    fin = f"tpe_tasks_finished_total{{{SEL}}}"
    panels: list[Panel] = [
        row("Throughput and errors"),
        timeseries(
            "Throughput by pool",
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
            "s",
            refs(*quantiles("tpe_pool_queue_wait_seconds", "pool", SEL)),
            links=True,
        ),
        timeseries(
            "Run time p50 / p95 / p99 by pool",
            "s",
            refs(*quantiles("tpe_pool_run_seconds", "pool", SEL)),
            links=True,
        ),
        timeseries(
            "Mean queue wait and run time by pool",
            "s",
            refs(
                (
                    f"sum by (pool) (rate(tpe_pool_queue_wait_seconds_sum{{{SEL}}}{RI}))"
                    f" / sum by (pool) (rate(tpe_pool_queue_wait_seconds_count{{{SEL}}}{RI}))",
                    "{{pool}} queue wait",
                ),
                (
                    f"sum by (pool) (rate(tpe_pool_run_seconds_sum{{{SEL}}}{RI}))"
                    f" / sum by (pool) (rate(tpe_pool_run_seconds_count{{{SEL}}}{RI}))",
                    "{{pool}} run time",
                ),
            ),
            links=True,
        ),
        timeseries(
            "Expected wait for a task submitted now (Little's law)",
            "s",
            refs(
                (
                    f"sum by (pool) (tpe_tasks_queued{{{SEL}}})"
                    f" / (sum by (pool) (rate(tpe_pool_queue_wait_seconds_count{{{SEL}}}{RI}))"
                    " > 0)",
                    "{{pool}}",
                ),
            ),
            links=True,
        ),
        row("Capacity and saturation"),
        timeseries(
            "Queued and running tasks",
            "short",
            refs(
                (f"sum by (pool) (tpe_tasks_queued{{{SEL}}})", "{{pool}} queued"),
                (f"sum by (pool) (tpe_tasks_running{{{SEL}}})", "{{pool}} running"),
            ),
            links=True,
        ),
        timeseries(
            "Workers vs max_workers",
            "short",
            refs(
                (f"sum by (pool) (tpe_workers{{{SEL}}})", "{{pool}} workers"),
                (f"sum by (pool) (tpe_workers_max{{{SEL}}})", "{{pool}} max_workers"),
            ),
        ),
        timeseries(
            "Utilisation",
            "percentunit",
            refs(
                (
                    f"sum by (pool) (rate(tpe_task_run_seconds_sum{{{SEL}}}{RI}))"
                    f" / (sum by (pool) (tpe_workers_max{{{SEL}}}) > 0)",
                    "{{pool}}",
                ),
            ),
            max_value=1,
            links=True,
        ),
        timeseries(
            "CPU share of run time",
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
            CORES,
            refs(
                (
                    f"sum by (pool) (rate(tpe_task_cpu_seconds_total{{{SEL}}}{RI}))",
                    "{{pool}}",
                ),
            ),
        ),
        timeseries(
            "Worker threads started",
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
    return build_dashboard(
        OVERVIEW_UID,
        "tpe_insight / Thread pools overview",
        "Every tpe_insight ThreadPoolExecutor pool of the selected processes: throughput,"
        " errors, queue wait and run time, saturation, CPU share and failures.",
        panels,
        with_task=False,
    )


# -- the pool drill-down ------------------------------------------------------------------------


def pool_drilldown() -> sdk_dashboard.Dashboard:
    fin = f"tpe_tasks_finished_total{{{SEL_TASK}}}"
    panels: list[Panel] = [
        row("Tasks"),
        timeseries(
            "Throughput by task",
            "ops",
            refs((f"sum by (pool, task) (rate({fin}{RI}))", "{{pool}} {{task}}")),
        ),
        timeseries(
            "Outcome breakdown",
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
        heatmap_panel(
            "Queue wait heatmap",
            "tpe_pool_queue_wait_seconds",
        ),
        heatmap_panel(
            "Run time heatmap",
            "tpe_pool_run_seconds",
        ),
        bargauge(
            "Slowest tasks by mean run time",
            "s",
            f"topk(10, sum by (pool, task) (rate(tpe_task_run_seconds_sum{{{SEL_TASK}}}{RANGE}))"
            f" / sum by (pool, task) (rate(tpe_task_run_seconds_count{{{SEL_TASK}}}{RANGE})))",
            "{{pool}} {{task}}",
        ),
        timeseries(
            "Mean queue wait by task",
            "s",
            refs(
                (
                    "sum by (pool, task)"
                    f" (rate(tpe_task_queue_wait_seconds_sum{{{SEL_TASK}}}{RI}))"
                    " / sum by (pool, task)"
                    f" (rate(tpe_task_queue_wait_seconds_count{{{SEL_TASK}}}{RI}))",
                    "{{pool}} {{task}}",
                )
            ),
        ),
        timeseries(
            "Mean run time by task",
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
    return build_dashboard(
        POOL_DASHBOARD_UID,
        "tpe_insight / Pool drill-down",
        "One or more tpe_insight pools task by task: throughput, outcomes, exceptions, queue"
        " wait and run time heatmaps, slowest tasks and CPU share.",
        panels,
        with_task=True,
    )


DASHBOARDS: dict[str, tuple[str, Callable[[], sdk_dashboard.Dashboard]]] = {
    "tpe-insight-overview.json": ("Thread pools overview", overview),
    "tpe-insight-pool.json": ("Pool drill-down", pool_drilldown),
}


def render(board: str, build: Callable[[], sdk_dashboard.Dashboard]) -> str:
    global DESCRIBE
    DESCRIBE = Descriptions(board)
    text = json.dumps(build().build(), cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
    unused = set(DESCRIBE.texts) - DESCRIBE.used
    if unused:
        raise SystemExit(f"docs/metrics.md describes panels {sorted(unused)} that {board!r} lacks")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed files are out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, (board, build) in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(board, build)
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
