"""Cardinality: whatever callables a program submits, the number of series stays bounded, and
each task is labelled by its own definition."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor
from tpe_insight.labels import MAX_POOL_LABELS


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


def _make_closure(i: int) -> Any:
    def closure() -> int:
        return i

    return closure


@pytest.mark.timeout(120)
def test_ten_thousand_distinct_callables_keep_series_bounded() -> None:
    """10k lambdas, 10k closures, 10k distinctly named functions and 10k exception classes:
    the number of exported series stays small and fixed by the caps."""
    reg = CollectorRegistry()
    n = 10_000
    with ThreadPoolExecutor(4, name="p", registry=reg) as ex:
        lambdas = [ex.submit(lambda i=i: i) for i in range(n)]  # type: ignore[misc]
        closures = [ex.submit(_make_closure(i)) for i in range(n)]
        source = "\n".join(f"def f{i}():\n    return {i}" for i in range(n))
        namespace: dict[str, Any] = {"__name__": "generated"}
        exec(compile(source, "generated.py", "exec"), namespace)
        named = [ex.submit(namespace[f"f{i}"]) for i in range(n)]
        errors = [ex.submit(_raise_new_class, i) for i in range(n)]
        assert [f.result() for f in lambdas] == list(range(n))
        assert [f.result() for f in closures] == list(range(n))
        assert [f.result() for f in named] == list(range(n))
        assert all(f.exception() is not None for f in errors)
        # The per-pool cache from code object to label is bounded too.
        assert ex._tpe.tasks.cached() <= 4096
    tasks = {dict(labels)["task"] for labels in _series(reg, "tpe_tasks_finished")}
    assert len(tasks) <= 51  # the cap (50) plus "other"
    assert "other" in tasks
    exceptions = {dict(labels)["exception"] for labels in _series(reg, "tpe_task_exceptions")}
    assert len(exceptions) <= 21  # the cap (20) plus "other"
    total = sum(len(family.samples) for family in reg.collect())
    assert total < 51 * 60  # every family, every bucket: bounded, whatever n is
    assert reg.get_sample_value("tpe_tasks_submitted_total", {"pool": "p"}) == 4 * n


def _raise_new_class(i: int) -> None:
    raise type(f"Error{i}", (Exception,), {})()


@pytest.mark.timeout(120)
def test_pools_created_in_a_loop_share_one_label() -> None:
    reg = CollectorRegistry()
    for i in range(2_000):
        with ThreadPoolExecutor(2, registry=reg) as ex:
            assert ex.submit(pow, i, 2).result() == i * i
    pools = {dict(labels)["pool"] for labels in _series(reg, "tpe_tasks_submitted")}
    assert pools == {f"{__name__}:test_pools_created_in_a_loop_share_one_label"}


@pytest.mark.timeout(120)
def test_per_request_thread_name_prefixes_are_capped() -> None:
    """A prefix holding a request id would make a label per request; the registry caps the
    number of pool labels, and the rest are counted under "other"."""
    reg = CollectorRegistry()
    n = MAX_POOL_LABELS + 50
    for i in range(n):
        with ThreadPoolExecutor(1, thread_name_prefix=f"request-{i}", registry=reg) as ex:
            ex.submit(pow, 2, 2).result()
    pools = {dict(labels)["pool"] for labels in _series(reg, "tpe_tasks_submitted")}
    assert len(pools) == MAX_POOL_LABELS + 1
    assert "other" in pools
    assert reg.get_sample_value("tpe_tasks_submitted_total", {"pool": "other"}) == 50
