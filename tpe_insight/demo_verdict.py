"""What the profiler concluded about the demo's concurrent run: the one place the demo asks.

The demo prints the speedup it *measured* (serial wall time ÷ concurrent wall time) beside what
the profiler *infers* from the recorded spans alone, the way it would for a program it cannot
re-run serially: the model's speedup vs serial (profiler/model.py, docs/profiler-model.md),
"cannot tell" with its range where the recording does not decide, and its reading of the work.
"""

from __future__ import annotations

import math

from tpe_insight.profiler.model import model_pool
from tpe_insight.profiler.timeline import Timeline

__all__ = ["profiler_conclusion"]


def profiler_conclusion(timeline: Timeline, pool_label: str, measured_speedup: float) -> list[str]:
    """Lines saying what the profiler's model of ``pool_label`` gives."""
    records = [p for p in timeline.pools if p.label == pool_label]
    if not records:
        return [f"profiler: no recorded pool {pool_label!r}"]
    model = model_pool(timeline, records[-1])
    speedup = model.speedup
    if speedup.value is not None:
        claim = f"x{speedup.value:.2f}"
    else:
        claim = f"cannot tell (x{speedup.low:.2f}-x{speedup.high:.2f})"
    lines = [
        f"profiler: speedup vs serial {claim} inferred from the spans, work: {model.work_type}",
        f"          ({model.reason}; the model: docs/profiler-model.md)",
    ]
    low, high = speedup.low, speedup.high
    finite = math.isfinite(low) and math.isfinite(high)
    if finite and not low / 1.15 <= measured_speedup <= high * 1.15:
        lines.append(
            f"          it differs from the measured x{measured_speedup:.2f}: something the "
            "recording does not show changed between the runs (the machine's load, a server "
            "that slows down under concurrency); `tpe-insight sweep` measures instead"
        )
    return lines
