"""Shared fixtures: every test gets its own registry and leaves global state as it found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry

import tpe_insight


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(autouse=True)
def _reset_globals() -> Iterator[None]:
    yield
    while tpe_insight.installed():  # install() calls nest
        tpe_insight.uninstall()
    structlog.reset_defaults()


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


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    """Reader for the pool labelled ``p`` in this test's registry."""
    return Metrics(registry, "p")
