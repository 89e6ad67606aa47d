"""A workload whose every duration comes from an injected clock, so the truth is known exactly.

Not a test module: ``tests/behaviour/test_grafana_truth.py`` serves it to a real Prometheus.
Each pool has its own fake clock that only its tasks advance, so a "50 ms" task takes exactly the
duration the test drew for it and the true quantiles are computed from the same list. Nothing
depends on how fast the machine is: the fake time passes only when a task says so.

Pools:

* ``p50ms`` / ``p100ms``: one worker; durations drawn with the spreads the issue measured
  (50 ms tasks: 50.4/63.4/86.0 ms; 100 ms tasks: 100/118/146 ms).
* ``saturated``: one worker; 3000 tasks of 0.25 s submitted at once, so the queue wait grows to
  12.5 minutes of fake time; then the worker blocks and every scrape queues one more task (the
  backlog keeps growing, TpePoolSaturated).
* ``gil4``: four workers of GIL-bound work: each task's CPU time (an injected ``cpu_clock``) is a
  quarter of its run time, as with four threads sharing the GIL; then four tasks block and five
  wait behind them (TpePoolCpuBound at about one core).
* ``errors``: a third of its tasks raise ValueError, a third KeyError (TpeTaskErrorRatioHigh).
* ``stuck``: two tasks blocked from the start (TpeTasksStuck).
* ``broken``: its initializer raises; later submits are rejected (TpePoolBroken).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Future
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from tpe_insight import ThreadPoolExecutor

N_TIMED = 2000
SATURATED_TASKS = 3000
SATURATED_RUN = 0.25
GIL_WORKERS = 4
GIL_TASKS = 400
GIL_RUN = 0.2


class FakeClock:
    """Seconds that only tasks advance (``advance``); one per pool."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ThreadClock:
    """A fake clock per thread: each worker of ``gil4`` advances its own CPU time."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self) -> float:
        return float(getattr(self.local, "now", 0.0))

    def advance(self, seconds: float) -> None:
        self.local.now = self() + seconds


def shaped(
    rng: random.Random, scale: float, points: list[tuple[float, float]], n: int
) -> list[float]:
    """n durations whose quantile function is piecewise linear through ``points``, shuffled."""
    out = []
    for i in range(n):
        u = (i + 0.5) / n
        for (u0, x0), (u1, x1) in itertools.pairwise(points):
            if u0 <= u <= u1:
                out.append(scale * (x0 + (x1 - x0) * (u - u0) / (u1 - u0)))
                break
    rng.shuffle(out)
    return out


# -- task callables ---------------------------------------------------------------------------


def timed(clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)


def gil_bound(clock: FakeClock, cpu: ThreadClock, seconds: float) -> None:
    clock.advance(seconds)
    cpu.advance(seconds / GIL_WORKERS)


def blocked(gate: threading.Event) -> None:
    gate.wait()


def flaky(i: int) -> int:
    if i % 3 == 0:
        raise ValueError(f"bad {i}")
    if i % 3 == 1:
        raise KeyError(i)
    return i


def broken_init() -> None:
    raise ConnectionError("no database")


class Truth:
    """What happened, recorded by the workload itself (never read back from tpe_insight)."""

    def __init__(self) -> None:
        self.run: dict[str, list[float]] = {}
        self.wait: dict[str, list[float]] = {}
        self.finished: dict[tuple[str, str], int] = {}
        self.exceptions: dict[tuple[str, str], int] = {}
        self.cpu: dict[str, float] = {}


class Workload:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.gate = threading.Event()
        self.truth = Truth()
        self.fail_next_scrape = threading.Event()
        self.scrapes = 0
        self.failed_scrapes = 0
        #: successful scrapes before the measured work: its state changes between two scrapes
        self.scrapes_before_run = -1
        #: a scrape and the measured work never overlap, so each scrape sees all or none of it
        self.lock = threading.Lock()
        reg = self.registry
        self.clocks = {name: FakeClock() for name in ("p50ms", "p100ms", "saturated")}
        self.gil_clock, self.gil_cpu = FakeClock(), ThreadClock()
        self.pools: dict[str, ThreadPoolExecutor] = {
            name: ThreadPoolExecutor(1, name=name, registry=reg, clock=clock, cpu_time="off")
            for name, clock in self.clocks.items()
        }
        self.pools["gil4"] = ThreadPoolExecutor(
            GIL_WORKERS,
            name="gil4",
            registry=reg,
            clock=self.gil_clock,
            cpu_clock=self.gil_cpu,
            cpu_time="exact",
        )
        self.pools["errors"] = ThreadPoolExecutor(2, name="errors", registry=reg)
        self.pools["stuck"] = ThreadPoolExecutor(2, name="stuck", registry=reg)
        self.pools["broken"] = ThreadPoolExecutor(
            1, name="broken", registry=reg, initializer=broken_init
        )
        self.server: WSGIServer | None = None
        self.thread: threading.Thread | None = None

    # -- the exporter: prometheus_client's WSGI app, able to fail one scrape ------------------

    def serve(self) -> int:
        metrics = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if self.fail_next_scrape.is_set():
                self.fail_next_scrape.clear()
                self.failed_scrapes += 1
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"injected failure\n"]
            with self.lock:
                self.scrapes += 1
                if self.gate_closed_saturated:
                    # The saturated pool's worker is blocked: each scrape queues one more task.
                    self.pools["saturated"].submit(timed, self.clocks["saturated"], SATURATED_RUN)
                return list(metrics(environ, start_response))

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.gate_closed_saturated = False
        self.server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return int(self.server.server_port)

    # -- phases --

    def prime(self) -> None:
        """Before the first scrape: one task of every label and one exception of each class,
        so that every per-task and per-exception series exists before the measured work (a
        series born after its first events hides them from rate(); docs/metrics.md)."""
        for name in ("p50ms", "p100ms", "saturated"):
            self.pools[name].submit(timed, self.clocks[name], 0.0).result()
        self.pools["gil4"].submit(gil_bound, self.gil_clock, self.gil_cpu, 0.0).result()
        for i in range(3):
            with contextlib.suppress(ValueError, KeyError):
                self.pools["errors"].submit(flaky, i).result()
        for _ in range(2):
            self.pools["stuck"].submit(blocked, self.gate)

    def run(self) -> None:
        """The measured work, all of it in fake time (it takes milliseconds of real time),
        between two scrapes."""
        with self.lock:
            self.scrapes_before_run = self.scrapes
            self._run()

    def _run(self) -> None:
        rng = random.Random(2026)
        t = self.truth
        spreads = {
            "p50ms": (
                0.05,
                [(0, 1.0), (0.5, 50.4 / 50), (0.95, 63.4 / 50), (0.99, 86.0 / 50), (1, 2.0)],
            ),
            "p100ms": (0.1, [(0, 1.0), (0.5, 1.0), (0.95, 1.18), (0.99, 1.46), (1, 1.7)]),
        }
        for name, (scale, points) in spreads.items():
            durations = shaped(rng, scale, points, N_TIMED)
            pool, clock = self.pools[name], self.clocks[name]
            futures: list[Future[None]] = []
            # Submitted one at a time, each after the previous finished: queue wait 0.
            for d in durations:
                pool.submit(timed, clock, d).result()
            del futures
            t.run[name] = durations
            t.wait[name] = [0.0] * N_TIMED
            t.finished[(name, "success")] = N_TIMED
        # saturated: everything queued at fake time 0 behind a gate task (fake time 0 as well)
        pool, clock = self.pools["saturated"], self.clocks["saturated"]
        hold = threading.Event()
        first = pool.submit(blocked, hold)
        batch = [pool.submit(timed, clock, SATURATED_RUN) for _ in range(SATURATED_TASKS)]
        hold.set()
        first.result()
        for future in batch:
            future.result()
        t.run["saturated"] = [0.0] + [SATURATED_RUN] * SATURATED_TASKS
        t.wait["saturated"] = [0.0] + [i * SATURATED_RUN for i in range(SATURATED_TASKS)]
        t.finished[("saturated", "success")] = SATURATED_TASKS + 1
        # then the worker blocks, and the scrapes keep queueing behind it
        pool.submit(blocked, self.gate)
        self.gate_closed_saturated = True
        # gil4: GIL-bound history (CPU a quarter of the run time, as for 4 threads sharing the
        # GIL; run one at a time so that the shared fake clock stays exact), then four running
        # and five queued
        gil = self.pools["gil4"]
        for _ in range(GIL_TASKS):
            gil.submit(gil_bound, self.gil_clock, self.gil_cpu, GIL_RUN).result()
        t.run["gil4"] = [GIL_RUN] * GIL_TASKS
        t.cpu["gil4"] = GIL_TASKS * GIL_RUN / GIL_WORKERS
        t.finished[("gil4", "success")] = GIL_TASKS
        for _ in range(GIL_WORKERS + 5):
            gil.submit(blocked, self.gate)
        # errors: 30 tasks, 10 of each outcome class
        errors = self.pools["errors"]
        for i in range(3, 33):
            with contextlib.suppress(ValueError, KeyError):
                errors.submit(flaky, i).result()
        t.finished[("errors", "success")] = 10
        t.finished[("errors", "error")] = 20
        t.exceptions[("errors", "ValueError")] = 10
        t.exceptions[("errors", "KeyError")] = 10
        # broken: the initializer fails on the first submit; later submits are rejected
        with contextlib.suppress(BrokenExecutor):
            self.pools["broken"].submit(timed, FakeClock(), 0.0).result(timeout=30)
        for _ in range(3):
            with contextlib.suppress(BrokenExecutor):
                self.pools["broken"].submit(timed, FakeClock(), 0.0)

    def stop(self) -> None:
        self.gate.set()
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
