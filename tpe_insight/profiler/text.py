"""The terminal summary: the report's headline numbers as plain text.

``tpe-insight run`` prints it to stderr (stdout belongs to the profiled program) and
``prof.summary()`` returns it. Task names are cleaned to one line by the core, so they cannot
break the layout; they are cut to fit the column.
"""

from __future__ import annotations

import math

from tpe_insight.profiler import lints, whatif
from tpe_insight.profiler._format import format_ms, format_seconds
from tpe_insight.profiler.stats import Analysis, PoolStats, analyse
from tpe_insight.profiler.timeline import Timeline
from tpe_insight.typing import CPU_BOUND

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
        lines.append(
            f"  serial time {format_seconds(analysis.run_total)} -> speedup "
            f"{_ratio(analysis.speedup)} over running the same tasks serially; CPU share "
            f"{_percent(analysis.cpu_share)}, core load {_cores(analysis.core_load)}: "
            f"{analysis.verdict}"
        )
        if analysis.verdict == CPU_BOUND:
            lines.append(
                "  (CPU-bound: run times include waiting for the GIL, so the serial time and "
                "speedup are overstated)"
            )
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
    if pool.run.count:
        lines.append(
            f"  wall {format_seconds(pool.wall)}, serial {format_seconds(pool.run_total)}, "
            f"speedup {_ratio(pool.speedup)}, utilisation {_percent(pool.utilisation)}, "
            f"CPU share {_percent(pool.cpu_share)}, core load {_cores(pool.core_load)} "
            f"({pool.verdict}), peak {pool.peak_busy} "
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
    if pool.predictions:
        lines.append("  what-if max_workers: " + _what_if_row(pool))
        lines.append(f"    (simulated from the recorded spans; {whatif.CAVEAT})")
    return lines


def _what_if_row(pool: PoolStats) -> str:
    cells = []
    for prediction in pool.predictions:
        mark = "*" if prediction.recorded else ""
        cells.append(f"{prediction.workers}{mark}={format_seconds(prediction.wall_seconds)}")
    measured = f"; measured {format_seconds(pool.wall)} at * (recorded)"
    return "  ".join(cells) + measured
