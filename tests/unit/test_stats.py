"""The shared numbers of the profiler: distributions, busy time, counters, the verdict."""

from __future__ import annotations

import math

from tpe_insight.profiler.stats import analyse, busy_seconds, counter_series, verdict
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline
from tpe_insight.typing import CPU_BOUND, IO_BOUND, MIXED, NO_VERDICT


def _span(started: float, ended: float, cpu: float = 0.0) -> Span:
    return Span(1, "t", "success", 0.0, started, ended, cpu, 1, "M")


def test_busy_seconds_merges_overlaps() -> None:
    """Time at least one task ran: overlapping spans count once, gaps not at all."""
    assert busy_seconds([_span(0, 2), _span(1, 3), _span(5, 6)]) == 4.0
    assert busy_seconds([]) == 0.0


def test_counter_series_tracks_running_and_queued() -> None:
    """Each change of the running / queued counts, in time order."""
    series = counter_series([_span(1.0, 2.0)])
    assert series[0][0] == 0.0 and series[-1][1:] == (0, 0)
    assert max(running for _, running, _ in series) == 1


def test_verdict_thresholds() -> None:
    assert verdict(math.nan) == NO_VERDICT
    assert verdict(0.9) == CPU_BOUND
    assert verdict(0.1, 0.9) == CPU_BOUND  # core load sees through GIL waits
    assert verdict(0.1, 0.1) == IO_BOUND
    assert verdict(0.5) == MIXED


def test_analyse_per_pool_and_task() -> None:
    timeline = Timeline([PoolRecord(1, "p", 2, 0.0, 4.0)], spans=[_span(0, 2, 1.0), _span(0, 2)])
    analysis = analyse(timeline)
    (pool,) = analysis.pools
    assert (pool.run_total, pool.cpu_total, pool.tasks_total) == (4.0, 1.0, 2)
    assert analysis.tasks[0].cpu_share == 0.25
