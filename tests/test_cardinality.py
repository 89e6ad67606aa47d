"""Cardinality: whatever callables a program submits, the number of series stays bounded, and
each task is labelled by its own definition."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor


def _series(reg: CollectorRegistry, family_name: str) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(s.labels.items()))
        for family in reg.collect()
        if family.name == family_name
        for s in family.samples
    }


def _define(module: str, source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"__name__": module}
    exec(compile(source, f"{module}.py", "exec"), namespace)
    return namespace[name]


@pytest.mark.timeout(30)
def test_identical_functions_in_two_modules_keep_their_own_labels() -> None:
    """Equal code objects (same body, name and line in two files) are different tasks."""
    source = "def handler(x):\n    return x\n"
    first, second = _define("plugin_a", source, "handler"), _define("plugin_b", source, "handler")
    assert first.__code__ == second.__code__  # what made the old cache mix them up
    reg = CollectorRegistry()
    with ThreadPoolExecutor(2, name="p", registry=reg) as ex:
        for fn in (first, second, second, first, second):
            ex.submit(fn, 1).result()
    for task, count in (("plugin_a.handler", 2), ("plugin_b.handler", 3)):
        assert (
            reg.get_sample_value(
                "tpe_tasks_finished_total", {"pool": "p", "task": task, "outcome": "success"}
            )
            == count
        ), task
