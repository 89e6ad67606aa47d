"""The per-task instrumentation, called directly in one thread: no pool, no queue, no workers.

This is the hook path a worker runs around every task (``_run_task`` then the done-callback
``_task_done``), timed against calling the no-op itself. It is far less noisy than the pool
workloads, so a regression of a few hundred nanoseconds shows. It does not include the
submit-side work (``_task_info`` lookup, clock read, shard ``submitted += 1``,
``add_done_callback``) nor the extra arguments ``submit`` carries into the queue: the pool
workloads measure those.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from benchmarks.configs import ALL_CONFIGS, BASELINE, Config
from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, interleave_configs, record, rounds
from tpe_insight import ThreadPoolExecutor
from tpe_insight._hotpath import run_task, run_task_in_context, task_done


def noop() -> None:
    return None


def _bare_loop(n_calls: int) -> float:
    fn = noop
    start = time.perf_counter()
    for _ in range(n_calls):
        fn()
    return time.perf_counter() - start


def _hook_loop(config: Config, n_calls: int) -> float:
    pool = config.make(1)
    assert isinstance(pool, ThreadPoolExecutor)
    try:
        state = pool._tpe  # private on purpose: this measures the private per-task path
        task = state.tasks.task_for(noop)
        clock = task.pool.clock
        ident = threading.get_ident()
        future: Future[None] = Future()
        done = task_done
        fn = noop
        if state.options.propagate_context:
            run_ctx = run_task_in_context
            start = time.perf_counter()
            for _ in range(n_calls):
                run_ctx(task, clock(), ident, contextvars.copy_context(), fn)
                done(task, future)
            elapsed = time.perf_counter() - start
        else:
            run = run_task
            start = time.perf_counter()
            for _ in range(n_calls):
                run(task, clock(), ident, fn)
                done(task, future)
            elapsed = time.perf_counter() - start
    finally:
        pool.shutdown()
    return elapsed


def hooks_once(config: Config, n_calls: int) -> float:
    """ns per task of the hook path (or of the bare call, for the stdlib column)."""
    runner: Callable[[], float]
    if config.name == BASELINE:
        runner = lambda: _bare_loop(n_calls)  # noqa: E731
    else:
        runner = lambda: _hook_loop(config, n_calls)  # noqa: E731
    return runner() / n_calls * 1e9


def test_hooks(run_workload: RunWorkload) -> None:
    n_calls = env_int("TPE_BENCH_HOOK_CALLS", 200_000, 100)

    def workload() -> Record:
        values = interleave_configs(
            ALL_CONFIGS, lambda config: hooks_once(config, n_calls), rounds()
        )
        return record(
            "hooks",
            f"per-task hooks, one thread, no pool: run_task + task_done, x{n_calls:,}"
            " (stdlib column: the bare fn() call; the context column includes"
            " copy_context(), which submit does)",
            "ns/task",
            values,
            params={"calls": n_calls},
            compare="delta",
        )

    run_workload(workload)
