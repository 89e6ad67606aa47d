"""The terminal summary: the report's headline numbers as plain text.

``tpe-insight run`` prints it to stderr (stdout belongs to the profiled program) and
``prof.summary()`` returns it. Task names are cleaned to one line by the core, so they cannot
break the layout; they are cut to fit the column.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tpe_insight.profiler import lints
from tpe_insight.profiler._format import format_ms, format_seconds
from tpe_insight.profiler.model import MODEL_STATEMENT, Estimate, PoolModel
from tpe_insight.profiler.stats import Analysis, PoolStats, analyse
from tpe_insight.profiler.timeline import Timeline

__all__ = ["MAX_POOLS_SHOWN", "render_summary"]

#: Pools detailed in the summary (the busiest, by run time); the rest are counted.
MAX_POOLS_SHOWN = 8

#: Width of the task-name column.
TASK_COLUMN = 40


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def _cores(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"x{value:.2f}"


def _counts(counts: dict[str, int]) -> str:
    parts = [f"{name} {n}" for name, n in counts.items() if n or name != "not_run"]
    return ", ".join(parts)


def busiest_pools(analysis: Analysis, limit: int = MAX_POOLS_SHOWN) -> list[PoolStats]:
    """The pools with the most run time (ties: most tasks), at most ``limit``, in id order."""
    ranked = sorted(analysis.pools, key=lambda p: (-p.run_total, -p.tasks_total))[:limit]
    return sorted(ranked, key=lambda p: p.record.pool_id)


def render_summary(timeline: Timeline | Analysis) -> str:
    """The whole summary as one string (no trailing newline)."""
    analysis = timeline if isinstance(timeline, Analysis) else analyse(timeline)
    lines: list[str] = []
    total = sum(analysis.counts.values())
    lines.append(
        f"tpe-insight: {len(analysis.pools)} pool(s), {total} task(s) "
        f"({_counts(analysis.counts)}), wall {format_seconds(analysis.wall)}"
    )
    if analysis.run_total > 0:
        lines.append(f"  {MODEL_STATEMENT}")
    if analysis.timeline.dropped:
        lines.append(
            f"  sampled detail: {len(analysis.timeline.spans)} of {analysis.timeline.recorded} "
            f"span(s) kept (capacity {analysis.timeline.capacity}); the numbers cover all"
        )
    shown = busiest_pools(analysis)
    for pool in shown:
        lines.append("")
        lines.extend(_pool_lines(pool))
    hidden = len(analysis.pools) - len(shown)
    if hidden > 0:
        lines.append(f"\n({hidden} more pool(s) not shown; the HTML report lists them all)")
    lines.append("")
    found = list(lints.check(analysis))
    if found:
        lines.append("lints:")
        for lint in found:
            lines.append(f"  [{lint.code}] {lint.pool}: {lint.message}")
            lines.extend(f"      {line}" for line in lint.detail.rstrip().splitlines())
    else:
        lines.append("lints: none")
    return "\n".join(lines)


def _pool_lines(pool: PoolStats) -> list[str]:
    record = pool.record
    lines = [
        f"pool {record.label} #{record.pool_id} (max_workers={record.max_workers}, "
        f"{pool.workers_started} worker(s) started)",
        f"  tasks: {_counts(pool.counts)}",
    ]
    model = pool.model
    if pool.run.count and model is not None:
        lines.append(f"  work: {WORK_TYPES[model.work_type]} ({model.reason})")
        lines.append(
            f"  wall {format_seconds(pool.wall)}, serial "
            f"{_estimate(model.serial_seconds, format_seconds)}, speedup vs serial "
            f"{_estimate(model.speedup, _ratio)}; CPU share {_percent(pool.cpu_share)}, "
            f"core load {_cores(pool.core_load)} of {model.cores}, peak {pool.peak_busy} "
            f"running / {pool.peak_queued} queued"
        )
        lines.append(
            f"  {'task':{TASK_COLUMN}} {'n':>6}  {'wait p50/p95 ms':>17}  "
            f"{'run p50/p95/p99 ms':>22}  {'CPU':>4}"
        )
        for task in pool.tasks:
            name = task.task if len(task.task) <= TASK_COLUMN else "…" + task.task[-39:]
            n = sum(task.counts.values())
            wait = f"{format_ms(task.wait.p50)}/{format_ms(task.wait.p95)}"
            run = f"{format_ms(task.run.p50)}/{format_ms(task.run.p95)}/{format_ms(task.run.p99)}"
            lines.append(
                f"  {name:{TASK_COLUMN}} {n:>6}  {wait:>17}  {run:>22}  "
                f"{_percent(task.cpu_share):>4}"
            )
    if model is not None and model.what_if:
        lines.append("  what-if max_workers: " + _what_if_row(pool, model))
    return lines


#: How the summary names each work type.
WORK_TYPES = {
    "io": "I/O-bound",
    "gil": "GIL-bound CPU",
    "cpu_parallel": "CPU in GIL-free code",
    "mixed": "mixed CPU and waiting",
    "unknown": "cannot tell",
}


def _estimate(estimate: Estimate, fmt: Callable[[float], str]) -> str:
    """``1.23 s`` or ``cannot tell (0.9 s-1.4 s)``."""
    if estimate.value is not None:
        return fmt(estimate.value)
    if math.isnan(estimate.low) or math.isnan(estimate.high):
        return "cannot tell"
    return f"cannot tell ({fmt(estimate.low)}-{fmt(estimate.high)})"


def _what_if_row(pool: PoolStats, model: PoolModel) -> str:
    cells = []
    for row in model.what_if:
        mark = "*" if row.recorded else ""
        if row.recorded:
            # Measured, not predicted (see the report's what-if table).
            value = format_seconds(pool.wall)
        elif row.predicted_wall_seconds is not None:
            value = format_seconds(row.predicted_wall_seconds)
        else:
            value = f"?({format_seconds(row.low)}-{format_seconds(row.high)})"
        cells.append(f"{row.max_workers}{mark}={value}")
    measured = f"; measured {format_seconds(pool.wall)} at * (recorded); ? = cannot tell (range)"
    return "  ".join(cells) + measured
