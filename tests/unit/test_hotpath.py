"""The per-task path: the task-label cache, and run_task / task_done called directly."""

from __future__ import annotations

import contextvars
import functools
from concurrent.futures import Future

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, named
from tpe_insight._hotpath import TASK_CACHE_LIMIT, run_task, task_done


def job(x: int) -> int:
    return x * 2


def other(x: int) -> int:
    return x


def test_one_task_per_label_whatever_the_callable_object() -> None:
    """Partials of one function, the function itself and a map() loop share one Task."""
    with ThreadPoolExecutor(1, name="cache", registry=CollectorRegistry()) as pool:
        labels = pool._tpe.tasks
        direct = labels.task_for(job)
        assert labels.task_for(job) is direct  # the last-callable fast path
        assert labels.task_for(functools.partial(job, 1)) is direct  # same label
        assert labels.task_for(other) is not direct
        assert labels.task_for(job) is direct  # by code object, after another callable
        assert labels.task_for(named("special", job)).info.name == "special"
    assert direct.info.name == f"{__name__}.job"


def test_one_context_run_reused_labels_each_task_by_its_function() -> None:
    """``run = ctx.run; submit(run, job); submit(run, other)``: the label comes from the first
    argument, so the same bound ``run`` must not hit the last-callable fast path."""
    ctx = contextvars.copy_context()
    run = ctx.run
    with ThreadPoolExecutor(1, name="ctx", registry=CollectorRegistry()) as pool:
        labels = pool._tpe.tasks
        assert labels.task_for(run, (job, 1)).info.name == f"{__name__}.job"
        assert labels.task_for(run, (other, 1)).info.name == f"{__name__}.other"
        assert pool.submit(run, job, 2).result() == 4
        assert pool.submit(run, other, 3).result() == 3


def test_task_labels_off_means_one_task() -> None:
    with ThreadPoolExecutor(1, name="all", task_labels=False, registry=CollectorRegistry()) as pool:
        assert pool._tpe.tasks.task_for(job) is pool._tpe.tasks.task_for(other)
        assert pool._tpe.tasks.task_for(job).info.name == "all"


def test_the_code_cache_is_bounded() -> None:
    """Past TASK_CACHE_LIMIT code objects the cache stops growing (labels still work)."""
    with ThreadPoolExecutor(1, name="bound", registry=CollectorRegistry()) as pool:
        for i in range(TASK_CACHE_LIMIT + 10):
            code = compile(f"def f{i}():\n    return {i}\n", f"<gen{i}>", "exec")
            namespace: dict[str, object] = {}
            exec(code, namespace)
            pool._tpe.tasks.task_for(namespace[f"f{i}"])  # type: ignore[arg-type]
        assert pool._tpe.tasks.cached() == TASK_CACHE_LIMIT


def test_run_task_then_task_done_count_one_success() -> None:
    """Called directly (as the stdlib worker would), the pair records exactly one success and
    the done-callback then has nothing left to record."""
    registry = CollectorRegistry()
    with ThreadPoolExecutor(
        1, name="direct", registry=registry, clock=lambda: 1.0, cpu_time="off"
    ) as pool:
        task = pool._tpe.tasks.task_for(job)
        future: Future[int] = Future()
        assert run_task(task, 0.5, 0, job, 21) == 42
        future.set_result(42)
        task_done(task, future)
    labels = {"pool": "direct", "task": f"{__name__}.job"}
    assert (
        registry.get_sample_value("tpe_tasks_finished_total", {**labels, "outcome": "success"}) == 1
    )
    assert registry.get_sample_value("tpe_task_queue_wait_seconds_sum", labels) == 0.5
    assert (
        registry.get_sample_value("tpe_tasks_finished_total", {**labels, "outcome": "cancelled"})
        == 0
    )


def test_task_done_counts_a_cancelled_future() -> None:
    """A future cancelled before it ran is recorded by the done-callback's slow path."""
    registry = CollectorRegistry()
    with ThreadPoolExecutor(1, name="cancel", registry=registry) as pool:
        task = pool._tpe.tasks.task_for(job)
        future: Future[int] = Future()
        future.cancel()
        task_done(task, future)
    labels = {"pool": "cancel", "task": f"{__name__}.job", "outcome": "cancelled"}
    assert registry.get_sample_value("tpe_tasks_finished_total", labels) == 1
