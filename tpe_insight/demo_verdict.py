"""What the profiler concluded about the demo's concurrent run: the one place the demo asks.

The demo prints the speedup it *measured* (serial wall time ÷ concurrent wall time) beside what
the profiler *infers* from the recorded spans alone, the way it would for a program it cannot
re-run serially. The profiler's model is being replaced (issue 7: contention-aware serial time,
work type); when it lands, only this function changes.
"""

from __future__ import annotations

import math

from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import Timeline

__all__ = ["profiler_conclusion"]


def profiler_conclusion(timeline: Timeline, pool_label: str, measured_speedup: float) -> list[str]:
    """Lines saying what the profiler's analysis of ``pool_label`` gives today."""
    pools = [p for p in analyse(timeline).pools if p.record.label == pool_label]
    if not pools:
        return [f"profiler: no recorded pool {pool_label!r}"]
    pool = pools[-1]
    lines = [
        f"profiler: speedup x{pool.speedup:.2f} inferred from the spans (sum of run times ÷"
        f" wall), CPU share {pool.cpu_share:.0%}, core load {pool.core_load:.2f}:"
        f" {pool.verdict}",
        "          (today's model, tpe_insight.profiler.stats: it counts a query's time waiting"
        " for a core or for the server as run time)",
    ]
    if math.isfinite(pool.speedup) and pool.speedup > 1.15 * measured_speedup:
        lines.append(
            f"          it differs from the measured x{measured_speedup:.2f}: the queries"
            " slowed each other down (shared cores, or a shared server), which the sum of run"
            " times counts as work"
        )
    return lines
