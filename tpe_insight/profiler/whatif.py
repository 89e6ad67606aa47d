"""Sizing what-if: how long would the recorded work have taken on ``k`` workers?

The simulation replays the recorded spans of one pool: tasks arrive at their recorded submit
times, in their recorded submit order, join one first-in-first-out queue (as the stdlib's
``SimpleQueue`` is), and each takes its recorded run time on the first worker to become free.
That is the stdlib's behaviour: a worker takes the oldest queued item, and a new worker is
started on submit while fewer than ``max_workers`` exist, so a free worker is always available
to a waiting task.

What it assumes, and says in every output: a task's run time does not change with concurrency
(true for sleeping and I/O on an uncontended server; false for CPU-bound Python code, which the
GIL serialises, and for a database that slows down under load), and submit times do not depend on
completions (a program that waits for results before submitting more is replayed open-loop).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tpe_insight.profiler.timeline import Span

__all__ = ["CAVEAT", "Prediction", "candidate_workers", "measured_wall", "predict", "simulate"]

CAVEAT = (
    "assumes each task's run time does not change with concurrency (true for I/O waits on an "
    "uncontended server, false for CPU-bound Python code under the GIL) and replays the "
    "recorded submit times"
)


@dataclass(frozen=True)
class Prediction:
    """Predicted wall time (first submit to last end) of one pool's tasks on ``workers``."""

    workers: int
    wall_seconds: float
    recorded: bool  # True for the pool's own max_workers


def _jobs(spans: Iterable[Span]) -> list[tuple[float, float]]:
    """(submit time, run seconds) of the tasks that ran, in submit order."""
    jobs = [
        (s.submitted_at if s.submitted_at is not None else s.started_at, s.run_seconds)
        for s in spans
        if s.started_at is not None
    ]
    # Stable sort: tasks submitted at the same instant keep their recorded order.
    return sorted(((t, r) for t, r in jobs if t is not None), key=lambda job: job[0])


def simulate(jobs: Sequence[tuple[float, float]], workers: int) -> float:
    """Wall time (first submit to last end) of ``jobs`` = ``[(submit time, run seconds)]``, in
    submit order, on ``workers`` FIFO workers. 0 for no jobs."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not jobs:
        return 0.0
    first = jobs[0][0]
    free_at = [first] * workers  # a heap of the times each worker becomes free
    last_end = first
    for submitted_at, run in jobs:
        # FIFO: the task at the head of the queue takes the earliest free worker, and no later
        # task can overtake it, so processing in submit order is exact.
        start = max(submitted_at, heapq.heappop(free_at))
        end = start + run
        heapq.heappush(free_at, end)
        last_end = max(last_end, end)
    return last_end - first


def measured_wall(spans: Iterable[Span]) -> float:
    """The recorded wall time of the tasks that ran: first submit to last end."""
    jobs = [s for s in spans if s.started_at is not None]
    if not jobs:
        return 0.0
    first = min(s.submitted_at if s.submitted_at is not None else s.ended_at for s in jobs)
    return max(s.ended_at for s in jobs) - first


def candidate_workers(recorded: int, peak_queued: int) -> list[int]:
    """Worker counts worth showing: powers of two up to past the demand, plus the recorded."""
    ceiling = max(recorded * 4, 2, min(peak_queued, 256))
    values = {1, recorded}
    k = 2
    while k <= ceiling and k <= 256:
        values.add(k)
        k *= 2
    return sorted(values)


def predict(spans: Iterable[Span], recorded: int, workers: Iterable[int]) -> list[Prediction]:
    """Predictions for each count in ``workers`` (the recorded ``max_workers`` flagged)."""
    jobs = _jobs(spans)
    return [Prediction(k, simulate(jobs, k), k == recorded) for k in workers]
