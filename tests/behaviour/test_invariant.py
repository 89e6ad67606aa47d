"""submitted = Σ finished + queued + running, at quiescence, over random mixes of tasks."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor
from tpe_insight.metrics.readback import read_metrics

OPS = st.lists(st.sampled_from(["ok", "fail", "cancel", "reject", "block"]), max_size=25)


def ok() -> int:
    return 1


def fail() -> int:
    raise ValueError("task failed")


def blocked(gate: threading.Event) -> int:
    gate.wait(10)
    return 2


@settings(max_examples=40, deadline=None)
@given(ops=OPS, workers=st.integers(1, 3), shutdown_cancels=st.booleans())
def test_invariant_holds_at_quiescence(
    ops: list[str], workers: int, shutdown_cancels: bool
) -> None:
    registry = CollectorRegistry()
    gate = threading.Event()
    executor = ThreadPoolExecutor(workers, name="inv", registry=registry)
    futures: list[Future[int]] = []
    to_cancel: list[Future[int]] = []
    rejected = 0
    shut = False
    for op in ops:
        if op == "reject" and not shut:
            executor.shutdown(wait=False, cancel_futures=shutdown_cancels)
            shut = True
        if shut:
            try:
                executor.submit(ok)
            except RuntimeError:
                rejected += 1
            continue
        if op == "ok":
            futures.append(executor.submit(ok))
        elif op == "fail":
            futures.append(executor.submit(fail))
        elif op == "block":
            futures.append(executor.submit(blocked, gate))
        else:  # cancel: a gated task, cancelled while (probably) queued
            future = executor.submit(blocked, gate)
            futures.append(future)
            to_cancel.append(future)
    for future in to_cancel:
        future.cancel()
    gate.set()
    # shutdown(wait=True) joins the workers: every future is final. (No wait() here: the stdlib's
    # wait() never sees futures cancelled by shutdown(cancel_futures=True) as done.)
    executor.shutdown(wait=True)

    pool = read_metrics(registry)["inv"]
    submitted = pool.values["tpe_tasks_submitted_total"]
    finished = {o: pool.outcome(o) for o in ("success", "error", "cancelled")}
    queued = pool.values["tpe_tasks_queued"]
    running = pool.values["tpe_tasks_running"]
    assert submitted == sum(finished.values()) + queued + running
    assert queued == running == 0
    # And each term matches what the futures themselves say.
    assert submitted == len(futures)
    assert finished["cancelled"] == sum(f.cancelled() for f in futures)
    assert finished["error"] == sum(
        1 for f in futures if not f.cancelled() and f.exception() is not None
    )
    assert finished["success"] == sum(
        1 for f in futures if not f.cancelled() and f.exception() is None
    )
    assert pool.rejected["shutdown"] == rejected
