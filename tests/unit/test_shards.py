"""Concurrency without relying on the GIL: exact totals when many threads update one series
at once, and exported counters that never go backwards while threads come and go.

The hot path writes only the current thread's shard (see the ``tpe_insight.metrics`` module
docstring for the atomicity assumptions), so these tests hold on free-threaded builds too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight.metrics.collector import collector_for
from tpe_insight.metrics.shards import Shard, TaskSeries


def _series() -> TaskSeries:
    pool = collector_for(CollectorRegistry()).pool_series("p")
    return pool.task_series("t")


def _in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, threading.Event]:
    """Run ``fn`` in a thread that then stays alive until the returned event is set."""
    release = threading.Event()

    def body() -> None:
        fn()
        release.wait()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, release


def _set_cpu(series: TaskSeries, value: float, ready: threading.Event) -> Callable[[], None]:
    def fn() -> None:
        series.shard().cpu_sum = value
        ready.set()

    return fn


@pytest.mark.timeout(60)
def test_float_counters_never_decrease_when_a_thread_retires() -> None:
    """Folding a dead thread's shard into the retired total changes the order of a float sum;
    the exported counter must not drop by that rounding (Prometheus would see a reset)."""
    series = _series()
    values = [0.2, 0.004207, 0.7, 0.7]  # (r+a)+b+c > (r+b)+a+c in binary floating point
    threads = []
    try:
        for value in values:
            ready = threading.Event()
            threads.append(_in_thread(_set_cpu(series, value, ready)))
            ready.wait()
        first_thread, first_release = threads[0]
        first_release.set()
        first_thread.join()
        before = series.snapshot().cpu_sum  # retires the first thread's shard
        third_thread, third_release = threads[2]
        third_release.set()
        third_thread.join()
        after = series.snapshot().cpu_sum  # retires the third: a different summation order
        assert after >= before
    finally:
        for thread, release in threads:
            release.set()
            thread.join()


@pytest.mark.timeout(120)
def test_many_threads_hammering_one_series_give_exact_totals() -> None:
    """32 threads bump one TaskSeries through the executor's hot-path fields at once, while
    another thread snapshots continuously: no update is lost, no snapshot goes backwards."""
    series = _series()
    n_threads, per_thread = 32, 20_000
    start = threading.Barrier(n_threads + 1)
    done = threading.Event()
    regressions: list[str] = []

    def hammer() -> None:
        start.wait()
        shard: Shard = series.shard()
        for _ in range(per_thread):
            shard.submitted += 1
            shard.started += 1
            shard.succeeded += 1
            shard.run_counts[0] += 1
            shard.cpu_sum += 0.001

    def watch() -> None:
        last_started, last_cpu = 0, 0.0
        while not done.is_set():
            snap = series.snapshot()
            if snap.started < last_started or snap.cpu_sum < last_cpu:
                regressions.append(f"{last_started}->{snap.started}, {last_cpu}->{snap.cpu_sum}")
            if snap.running < 0 or snap.queued < 0:
                regressions.append("negative gauge")
            last_started, last_cpu = snap.started, snap.cpu_sum

    threads = [threading.Thread(target=hammer) for _ in range(n_threads)]
    watcher = threading.Thread(target=watch)
    for t in threads:
        t.start()
    watcher.start()
    start.wait()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    snap = series.snapshot()
    total = n_threads * per_thread
    assert (snap.submitted, snap.started, snap.succeeded) == (total, total, total)
    assert snap.run_counts[0] == total
    assert snap.cpu_sum == pytest.approx(total * 0.001)
    assert regressions == []
