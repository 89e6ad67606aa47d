"""Helpers shared by the test modules (imported as ``tests.helpers``; fixtures are in conftest)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tpe_insight.profiler.timeline import Span


class Metrics:
    """Read exported samples by name and labels; a missing series reads as None."""

    def __init__(self, registry: CollectorRegistry, pool: str) -> None:
        self.registry = registry
        self.pool = pool

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"pool": self.pool, **labels})

    def finished(self, task: str, outcome: str) -> float | None:
        return self("tpe_tasks_finished_total", task=task, outcome=outcome)

    def outcomes(self, task: str) -> dict[str, float | None]:
        return {o: self.finished(task, o) for o in ("success", "error", "cancelled")}


def lanes(
    n: int,
    *,
    lanes: int,
    run: float,
    cpu: float,
    wait: float = 0.0,
    submit_all_at: float | None = 0.0,
    pool_id: int = 1,
    name: str = "t",
) -> list[Span]:
    """``n`` successful tasks of ``run`` seconds (``cpu`` of it CPU) back to back on ``lanes``
    workers, the first starting at ``wait``: the hand-made timeline the model's and the lints'
    tests read. All are submitted at ``submit_all_at``, or, when it is None, each ``wait``
    before it starts."""
    spans = []
    for i in range(n):
        lane, slot = i % lanes, i // lanes
        start = wait + slot * run
        submitted = start - wait if submit_all_at is None else submit_all_at
        spans.append(
            Span(
                pool_id, name, "success", submitted, start, start + run, cpu, lane + 1, "MainThread"
            )
        )
    return spans
