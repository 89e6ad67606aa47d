"""Item 4: ``install()`` instruments the stdlib class in place (see tpe_insight/patch.py).

Each case compares the program with ``install()`` against the same program without it: the
results and types are the stdlib's, and the pools (of the stdlib class or of any subclass,
whenever it was defined) are recorded, exactly once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from prometheus_client import REGISTRY

import tpe_insight
from tpe_insight import StdlibThreadPoolExecutor, ThreadPoolExecutor


class LibraryPool(concurrent.futures.ThreadPoolExecutor):
    """Defined at import time, before any install() (as dask and s3transfer do)."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="library-pool")


def submitted(pool: str) -> float:
    return REGISTRY.get_sample_value("tpe_tasks_submitted_total", {"pool": pool}) or 0.0


def scenario() -> Any:
    pool = LibraryPool(2)
    result = pool.submit(pow, 2, 5).result(), list(pool.map(abs, [-1, -2]))
    pool.shutdown()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(LibraryPool(1))  # asyncio checks isinstance
        return await asyncio.to_thread(pow, 3, 2)

    return result, asyncio.run(main()), isinstance(pool, concurrent.futures.ThreadPoolExecutor)


def test_4_subclasses_defined_before_install_are_instrumented() -> None:
    before = submitted("library-pool")
    expected = scenario()
    assert submitted("library-pool") == before  # not installed: not recorded
    tpe_insight.install()
    actual = scenario()
    tpe_insight.uninstall()
    assert actual == expected == (((32, [1, 2])), 9, True)
    assert submitted("library-pool") - before == 4  # submit + 2 map + to_thread


def test_4_pools_created_before_install_run_untouched() -> None:
    pool = StdlibThreadPoolExecutor(1, thread_name_prefix="made-before")
    tpe_insight.install()
    try:
        assert pool.submit(pow, 2, 2).result() == 4
        assert "_tpe" not in vars(pool)
    finally:
        pool.shutdown()
        tpe_insight.uninstall()
    assert submitted("made-before") == 0


def test_4_our_class_records_once_while_installed() -> None:
    tpe_insight.install()
    try:
        with ThreadPoolExecutor(1, name="once") as pool:
            before = submitted("once")
            pool.submit(abs, -1).result()
            list(pool.map(abs, [1, 2]))
            assert submitted("once") - before == 3
    finally:
        tpe_insight.uninstall()


def test_4_uninstall_restores_the_exact_functions_and_new_pools_are_plain() -> None:
    before = dict(vars(StdlibThreadPoolExecutor))
    tpe_insight.install()
    tpe_insight.install()
    tpe_insight.uninstall()
    tpe_insight.uninstall()
    after = dict(vars(StdlibThreadPoolExecutor))
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="after-uninstall")
    pool.submit(abs, 1).result()
    pool.shutdown()
    assert "_tpe" not in vars(pool)
