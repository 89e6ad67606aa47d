"""Helpers shared by the test modules (imported as ``tests.helpers``; fixtures are in conftest)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry


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
