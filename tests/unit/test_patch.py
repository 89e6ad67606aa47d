"""install()/uninstall(): code that never imports tpe_insight, asyncio included, is instrumented."""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread
import threading

import pytest
from prometheus_client import REGISTRY

import tpe_insight
from tpe_insight import StdlibThreadPoolExecutor


def test_install_uninstall_round_trip_restores_the_exact_functions() -> None:
    before = dict(vars(StdlibThreadPoolExecutor))
    tpe_insight.install()
    assert tpe_insight.installed()
    assert concurrent.futures.ThreadPoolExecutor is StdlibThreadPoolExecutor  # in place
    assert vars(StdlibThreadPoolExecutor)["submit"] is not before["submit"]
    tpe_insight.uninstall()
    after = dict(vars(StdlibThreadPoolExecutor))
    assert after.keys() == before.keys()
    assert all(after[name] is before[name] for name in before)
    assert not tpe_insight.installed()
    tpe_insight.uninstall()  # a no-op when not installed
    assert dict(vars(StdlibThreadPoolExecutor)) == before


def test_install_calls_nest() -> None:
    original = vars(StdlibThreadPoolExecutor)["submit"]
    tpe_insight.install()
    tpe_insight.install()
    tpe_insight.uninstall()
    assert tpe_insight.installed()  # one install() still in effect
    assert vars(StdlibThreadPoolExecutor)["submit"] is not original
    tpe_insight.uninstall()
    assert not tpe_insight.installed()
    assert vars(StdlibThreadPoolExecutor)["submit"] is original


def asyncio_sample(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"pool": "asyncio"}) or 0.0


def blocking(x: int) -> int:
    return x + 1


def test_asyncio_default_executor_is_instrumented_after_install() -> None:
    tpe_insight.install()
    before = asyncio_sample("tpe_tasks_submitted_total")

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(None, blocking, 1)
        b = await asyncio.to_thread(blocking, 2)
        return [a, b]

    assert asyncio.run(main()) == [2, 3]
    assert asyncio_sample("tpe_tasks_submitted_total") - before == 2
    # asyncio.run() shut its default executor down: no live pool counted any more.
    assert asyncio_sample("tpe_workers_max") == 0


def test_after_uninstall_new_pools_are_plain_stdlib() -> None:
    tpe_insight.install()
    tpe_insight.uninstall()
    executor = concurrent.futures.ThreadPoolExecutor(1)
    assert type(executor) is StdlibThreadPoolExecutor
    assert executor.submit(threading.get_ident).result() != threading.get_ident()
    executor.shutdown()


def _exports(executor: concurrent.futures.ThreadPoolExecutor) -> bool:
    """Whether the pool exports metrics: its submits show in the default registry."""
    label = executor._thread_name_prefix  # type: ignore[attr-defined]
    executor.submit(abs, -1).result()
    executor.shutdown()
    value = REGISTRY.get_sample_value("tpe_tasks_submitted_total", {"pool": label})
    return value is not None


def test_install_without_metrics_still_feeds_the_sinks() -> None:
    """install(metrics=False): the pool exports nothing, and a sink still sees the task."""
    recorder = tpe_insight.Recorder()
    recorder.attach()
    tpe_insight.install(metrics=False)
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="patch-nometrics")
    assert not _exports(executor)
    assert recorder.snapshot().counts()["success"] == 1


def test_metrics_are_on_while_any_install_in_effect_asked_for_them() -> None:
    """A program's own install() under `tpe-insight run` (install(metrics=False)) keeps its
    metrics; undoing it brings back the outer install's choice."""
    tpe_insight.install(metrics=False)
    tpe_insight.install()
    assert _exports(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="patch-both"))
    tpe_insight.uninstall()
    assert not _exports(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="patch-outer"))
    tpe_insight.uninstall()
    tpe_insight.install()
    assert _exports(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="patch-default"))


def test_install_rejects_a_non_bool_metrics_option() -> None:
    with pytest.raises(TypeError, match="metrics must be True or False"):
        tpe_insight.install(metrics=1)  # type: ignore[arg-type]
    assert not tpe_insight.installed()
