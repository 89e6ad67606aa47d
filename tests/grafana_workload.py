"""A live tpe_insight workload that makes every dashboard panel and every alert non-empty.

Not a test module: ``tests/test_grafana_prometheus.py`` runs it in-process, serves its private
registry with ``start_metrics_server(port=0)`` and lets a real Prometheus scrape it.

Pools (each one is what some panel or alert needs to see):

* ``saturated``: 2 workers, 0.2 s I/O tasks submitted at 15/s (capacity 10/s): the queue and
  the queue wait grow for as long as it runs (TpePoolSaturated).
* ``errors``: two thirds of its tasks raise ValueError or KeyError (TpeTaskErrorRatioHigh).
* ``mixed``: the drill-down pool: several task labels, fast and slow I/O, a little CPU, a task
  that sometimes raises, tasks cancelled while queued, done-callbacks that raise, a sink that
  raises (instrumentation errors), and a short-lived executor with the same label opened per
  round (workers started) and submitted to after shutdown (rejected, reason=shutdown).
* ``cpu``: one worker kept busy with pure-Python loops (TpePoolCpuBound). Its CPU clock is the
  wall clock, so its CPU share is exactly 1 however loaded the machine is: the test checks the
  alert's expression, not how much CPU the OS grants a thread while five other suites run.
* ``stuck``: two tasks blocked on an event from the start (TpeTasksStuck).
* ``broken``: its initializer raises once :meth:`break_pool` is called; submits keep coming and
  are rejected, reason=broken (TpePoolBroken).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from concurrent.futures import BrokenExecutor, Future

from prometheus_client import CollectorRegistry

from tpe_insight import Sink, ThreadPoolExecutor, start_metrics_server

HOSTILE_POOL = 'we"ird \\ (a|b).* pool'
POOLS = ("saturated", "errors", "mixed", "cpu", "stuck", "broken", HOSTILE_POOL)


# -- task callables (their module.qualname is the task label) ----------------------------------


def io_call(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fast_lookup() -> int:
    time.sleep(random.uniform(0.001, 0.01))
    return 1


def slow_report() -> int:
    time.sleep(random.uniform(0.05, 0.3))
    return 2


def crunch(seconds: float) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def parse_record(i: int) -> int:
    time.sleep(0.002)
    if i % 4 == 0:
        raise ValueError(f"bad record {i}")
    return i


def flaky_call(i: int) -> int:
    time.sleep(0.002)
    if i % 3 == 0:
        raise ValueError("flaky")
    if i % 3 == 1:
        raise KeyError("missing")
    return i


def wait_for(gate: threading.Event) -> None:
    gate.wait()


def raising_callback(future: Future[object]) -> None:
    raise RuntimeError("a done-callback that raises")


class FailingSink(Sink):
    """A user sink with a bug: every fifth finished task makes it raise."""

    def __init__(self) -> None:
        self.calls = 0

    def task_finished(self, *args: object) -> None:
        self.calls += 1
        if self.calls % 5 == 0:
            raise RuntimeError("sink bug")


class BrokenInit:
    """An initializer that succeeds until ``armed`` is set, then raises."""

    def __init__(self) -> None:
        self.armed = threading.Event()

    def __call__(self) -> None:
        if self.armed.is_set():
            raise ConnectionError("cannot connect to the database")


# -- the workload -------------------------------------------------------------------------------


class Workload:
    """Start with :meth:`start`; stop with :meth:`stop` (joins everything it started)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stopping = threading.Event()
        self.gate = threading.Event()
        self.broken_init = BrokenInit()
        self.errors_seen: list[BaseException] = []
        reg = self.registry
        self.saturated = ThreadPoolExecutor(2, name="saturated", registry=reg)
        self.errors = ThreadPoolExecutor(2, name="errors", registry=reg)
        self.mixed = ThreadPoolExecutor(2, name="mixed", registry=reg, sinks=[FailingSink()])
        # The CPU clock is the wall clock: crunch() spins on it, so its "CPU time" is its run
        # time whatever else the machine runs (the real thread CPU time would depend on the
        # machine being idle, and the alert under test would too).
        self.cpu = ThreadPoolExecutor(
            1, name="cpu", registry=reg, cpu_time="exact", cpu_clock=time.perf_counter
        )
        # A name that breaks any double-quoted selector: selection must still find it.
        self.hostile = ThreadPoolExecutor(1, name=HOSTILE_POOL, registry=reg)
        self.stuck = ThreadPoolExecutor(2, name="stuck", registry=reg)
        self.broken = ThreadPoolExecutor(
            1, name="broken", registry=reg, initializer=self.broken_init
        )
        self.pools = [
            self.saturated,
            self.errors,
            self.mixed,
            self.cpu,
            self.stuck,
            self.broken,
            self.hostile,
        ]
        self.threads: list[threading.Thread] = []
        self.server = None
        self.port = 0

    def start(self) -> None:
        self.server, _ = start_metrics_server(0, registry=self.registry)
        self.port = self.server.server_port
        # Blocked from the very first scrape, so their running gauge never changes.
        for _ in range(2):
            self.stuck.submit(wait_for, self.gate)
        for _ in range(3):
            self.hostile.submit(io_call, 0)
        for feed in (self._feed_saturated, self._feed_errors, self._feed_mixed, self._feed_cpu):
            thread = threading.Thread(target=self._guard, args=(feed,), name=feed.__name__)
            thread.start()
            self.threads.append(thread)

    def break_pool(self) -> None:
        """Make the ``broken`` pool's initializer fail (call after Prometheus scraped it once,
        so that increase() sees the counter go from 0 to 1) and keep submitting to it."""
        self.broken_init.armed.set()
        future = self.broken.submit(io_call, 0)
        with contextlib.suppress(BrokenExecutor):
            future.result(timeout=30)
        thread = threading.Thread(target=self._guard, args=(self._feed_broken,), name="broken")
        thread.start()
        self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        self.gate.set()
        for thread in self.threads:
            thread.join(timeout=30)
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- feeders --

    def _guard(self, feed: object) -> None:
        try:
            feed()  # type: ignore[operator]
        except BaseException as exc:  # surfaced by the test, never lost in a thread
            self.errors_seen.append(exc)

    def _feed_saturated(self) -> None:
        while not self.stopping.wait(1 / 15):
            self.saturated.submit(io_call, 0.2)

    def _feed_errors(self) -> None:
        i = 0
        while not self.stopping.wait(0.03):
            i += 1
            self.errors.submit(flaky_call, i)

    def _feed_mixed(self) -> None:
        i = 0
        while not self.stopping.wait(0.05):
            i += 1
            self.mixed.submit(fast_lookup)
            self.mixed.submit(parse_record, i)
            if i % 3 == 0:
                self.mixed.submit(crunch, 0.002)
            if i % 2 == 0:
                self.mixed.submit(slow_report)
            if i % 5 == 0:
                self.mixed.submit(fast_lookup).add_done_callback(raising_callback)
            if i % 10 == 0:
                # Queue some slow tasks behind busy workers and cancel the last ones.
                batch = [self.mixed.submit(slow_report) for _ in range(4)]
                for future in batch[2:]:
                    future.cancel()
            if i % 20 == 0:
                # A pool per "request" with the shared label: starts a worker, then is used
                # after its shutdown (a lifecycle bug the rejected counter shows).
                with ThreadPoolExecutor(1, name="mixed", registry=self.registry) as short:
                    short.submit(fast_lookup)
                with contextlib.suppress(RuntimeError):
                    short.submit(fast_lookup)

    def _feed_cpu(self) -> None:
        pending: deque[Future[int]] = deque()
        while not self.stopping.is_set():
            while len(pending) < 3:
                pending.append(self.cpu.submit(crunch, 0.02))
            pending.popleft().result()

    def _feed_broken(self) -> None:
        while not self.stopping.wait(0.2):
            with contextlib.suppress(BrokenExecutor):
                self.broken.submit(io_call, 0)
