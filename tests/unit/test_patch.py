"""install()/uninstall(): code that never imports tpe_insight, asyncio included, is instrumented."""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread
import threading

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
