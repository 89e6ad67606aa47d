"""Multiprocess export: several processes' pools aggregate exactly in one scrape.

prometheus_client decides at import time whether values live in per-process mmap files, so the
real multiprocess tests run their pools in fresh interpreters (``subprocess``) with
``PROMETHEUS_MULTIPROC_DIR`` set, and this process aggregates the files with
``MultiProcessCollector`` exactly as a gunicorn scrape handler would.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from tpe_insight import METRICS, ThreadPoolExecutor
from tpe_insight.labels import MAX_POOL_LABELS
from tpe_insight.metrics.collector import MetricsCollector
from tpe_insight.metrics.multiprocess import ENV_VAR, MultiprocessSink

# -- the same contract as the in-process collector ---------------------------------------------


def _boom() -> None:
    raise ValueError("secret message")


def _workload(ex: ThreadPoolExecutor) -> None:
    """A deterministic mix: successes, failures, and cancellations of queued tasks."""
    gate = threading.Event()
    blockers = [ex.submit(gate.wait) for _ in range(2)]  # occupy both workers
    queued = [ex.submit(pow, 2, 3) for _ in range(3)]
    for future in queued:
        assert future.cancel()
    gate.set()
    done = [ex.submit(pow, 2, i) for i in range(7)] + [ex.submit(_boom) for _ in range(4)]
    wait(blockers + done)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue  # plain Counters export creation times; the collector does not
            labels = tuple(sorted(sample.labels.items()))
            out[(sample.name, labels)] = sample.value
    return out


def _timing(name: str) -> bool:
    """Samples whose values depend on the clock, compared by presence only."""
    return name.endswith(("_bucket", "_sum")) or name == "tpe_task_cpu_seconds_total"


@pytest.mark.timeout(30)
def test_sink_exports_the_same_series_as_the_collector() -> None:
    """Same names, label sets and counts as the in-process collector for the same workload."""
    collector_reg, sink_reg = CollectorRegistry(), CollectorRegistry()
    with ThreadPoolExecutor(2, name="p", registry=collector_reg) as ex:
        _workload(ex)
    with ThreadPoolExecutor(
        2, name="p", metrics=False, sinks=[MultiprocessSink(registry=sink_reg)]
    ) as ex:
        _workload(ex)
    by_collector, by_sink = _samples(collector_reg), _samples(sink_reg)
    # The collector omits exception series it never saw; the sink has no instrumentation errors.
    assert set(by_sink) == set(by_collector)
    for key, value in by_collector.items():
        if not _timing(key[0]):
            assert (key, by_sink[key]) == (key, value)
    assert (
        by_sink[
            (
                "tpe_tasks_finished_total",
                (("outcome", "error"), ("pool", "p"), ("task", f"{__name__}._boom")),
            )
        ]
        == 4
    )
    assert by_sink[("tpe_tasks_queued", (("pool", "p"),))] == 0


def test_sink_metric_types_and_help_match_the_catalogue() -> None:
    reg = CollectorRegistry()
    MultiprocessSink(registry=reg)
    families = {f.name: f for f in reg.collect()}
    for name, (kind, labels, doc) in METRICS.items():
        family = families[name.removesuffix("_total")]
        assert (family.type, family.documentation) == (kind, doc)
        del labels  # label names are checked on samples in the test above


@pytest.mark.timeout(30)
def test_task_and_exception_labels_are_capped() -> None:
    reg = CollectorRegistry()
    sink = MultiprocessSink(registry=reg, max_task_labels=3, max_exception_labels=2)
    errors = [type(f"E{i}", (Exception,), {}) for i in range(5)]

    def raiser(cls: type[Exception]) -> None:
        raise cls

    with ThreadPoolExecutor(2, name="p", metrics=False, sinks=[sink]) as ex:
        for i in range(10):
            namespace: dict[str, Any] = {"__name__": "generated"}
            exec(f"def f{i}(): return {i}", namespace)
            ex.submit(namespace[f"f{i}"]).result()
        for cls in errors:
            ex.submit(raiser, cls).exception()
    tasks = {
        s.labels["task"]
        for f in reg.collect()
        if f.name == "tpe_tasks_finished"
        for s in f.samples
        if s.value
    }
    assert len(tasks) <= 4
    assert "other" in tasks
    exceptions = {
        s.labels["exception"]
        for f in reg.collect()
        if f.name == "tpe_task_exceptions"
        for s in f.samples
    }
    assert len(exceptions) == 3  # two classes, then "other"
    assert "other" in exceptions


# -- real processes -----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from concurrent.futures import wait
    from tpe_insight import ThreadPoolExecutor
    from tpe_insight.metrics.multiprocess import MultiprocessSink

    mode, n_ok, n_err = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    def options():
        if mode == "explicit":
            return {"metrics": False, "sinks": [MultiprocessSink()]}
        return {}

    def boom():
        raise ValueError("secret")

    with ThreadPoolExecutor(4, name="work", **options()) as ex:
        wait([ex.submit(pow, 2, i) for i in range(n_ok)] + [ex.submit(boom) for _ in range(n_err)])
    gate = threading.Event()
    held = ThreadPoolExecutor(2, name="held", **options())
    futures = [held.submit(gate.wait) for _ in range(5)]  # 2 running, 3 queued
    while sum(f.running() for f in futures) < 2:
        threading.Event().wait(0.01)
    print("ready", os.getpid(), flush=True)
    sys.stdin.readline()
    gate.set()
    held.shutdown()
    print("done", flush=True)
    """
)


@pytest.fixture
def multiproc_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prom"
    directory.mkdir()
    return directory


def _start(directory: Path, mode: str, n_ok: int, n_err: int) -> subprocess.Popen[str]:
    env = {**os.environ, ENV_VAR: str(directory)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(n_ok), str(n_err)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _scrape(directory: Path) -> CollectorRegistry:
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(directory))
    # Round-trip through the text format, as Prometheus would see it.
    text = generate_latest(reg).decode()
    parsed = CollectorRegistry()
    families = list(text_string_to_metric_families(text))

    class Replay:
        def collect(self):  # type: ignore[no-untyped-def]
            return families

    parsed.register(Replay())  # type: ignore[arg-type]
    return parsed


def _value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["explicit", "auto"])
def test_processes_aggregate_in_one_scrape(multiproc_dir: Path, mode: str) -> None:
    """Counters sum over all processes; live gauges sum over live ones; dead ones drop out."""
    loads = [(10, 1), (20, 2), (30, 3)]
    procs = [_start(multiproc_dir, mode, n_ok, n_err) for n_ok, n_err in loads]
    try:
        pids = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            assert line[0] == "ready", line
            pids.append(int(line[1]))
        reg = _scrape(multiproc_dir)
        ok, err = sum(n for n, _ in loads), sum(n for _, n in loads)
        assert _value(reg, "tpe_tasks_submitted_total", pool="work") == ok + err
        finished = {
            o: sum(
                s.value
                for f in reg.collect()
                if f.name == "tpe_tasks_finished"
                for s in f.samples
                if s.labels.get("pool") == "work" and s.labels.get("outcome") == o
            )
            for o in ("success", "error", "cancelled")
        }
        assert finished == {"success": ok, "error": err, "cancelled": 0}
        assert (
            _value(
                reg,
                "tpe_task_exceptions_total",
                pool="work",
                task="__main__.boom",
                exception="ValueError",
            )
            == err
        )
        assert _value(reg, "tpe_task_run_seconds_count", pool="work", task="builtins.pow") == ok
        # Live gauges: each process holds 2 running and 3 queued on a 2-worker pool.
        assert _value(reg, "tpe_tasks_running", pool="held") == 6
        assert _value(reg, "tpe_tasks_queued", pool="held") == 9
        assert _value(reg, "tpe_workers_max", pool="held") == 6
        assert _value(reg, "tpe_workers", pool="held") == 6
        assert _value(reg, "tpe_workers_max", pool="work") == 0  # shut down
        assert _value(reg, "tpe_tasks_submitted_total", pool="held") == 15

        # Kill one process outright: its live gauges vanish once it is marked dead, its
        # counters stay (they happened).
        procs[0].kill()
        procs[0].wait(timeout=30)
        mark_process_dead(pids[0], path=str(multiproc_dir))
        reg = _scrape(multiproc_dir)
        assert _value(reg, "tpe_tasks_running", pool="held") == 4
        assert _value(reg, "tpe_tasks_queued", pool="held") == 6
        assert _value(reg, "tpe_workers", pool="held") == 4
        assert _value(reg, "tpe_tasks_submitted_total", pool="work") == ok + err

        # Let the others finish cleanly: everything held completes, gauges return to zero.
        for proc in procs[1:]:
            out, _ = proc.communicate("go\n", timeout=60)
            assert out.strip() == "done"
            assert proc.returncode == 0
        reg = _scrape(multiproc_dir)
        for gauge in ("tpe_tasks_running", "tpe_tasks_queued", "tpe_workers_max"):
            assert _value(reg, gauge, pool="held") == 0, gauge
        assert (
            _value(
                reg,
                "tpe_tasks_finished_total",
                pool="held",
                task="threading.Event.wait",
                outcome="success",
            )
            == 10
        )
        for pid in pids[1:]:
            mark_process_dead(pid, path=str(multiproc_dir))
        reg = _scrape(multiproc_dir)
        assert _value(reg, "tpe_workers", pool="held") == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.mark.timeout(30)
def test_env_var_switches_the_executor_to_the_sink(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the variable set, the registry gets plain metrics, and no custom collector."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    reg = CollectorRegistry()
    with ThreadPoolExecutor(2, name="p", registry=reg) as ex:
        assert ex.submit(pow, 2, 10).result() == 1024
        assert reg.get_sample_value("tpe_workers_max", {"pool": "p"}) == 2
    collectors = list(reg._collector_to_names)  # no public listing of a registry's collectors
    assert not any(isinstance(c, MetricsCollector) for c in collectors)
    assert reg.get_sample_value("tpe_tasks_submitted_total", {"pool": "p"}) == 1
    assert (
        reg.get_sample_value(
            "tpe_tasks_finished_total", {"pool": "p", "task": "builtins.pow", "outcome": "success"}
        )
        == 1
    )
    assert reg.get_sample_value("tpe_workers_max", {"pool": "p"}) == 0


@pytest.mark.timeout(30)
def test_pool_collected_without_shutdown_releases_workers_max(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    reg = CollectorRegistry()
    ex = ThreadPoolExecutor(3, name="p", registry=reg)
    assert reg.get_sample_value("tpe_workers_max", {"pool": "p"}) == 3
    del ex
    gc.collect()
    assert reg.get_sample_value("tpe_workers_max", {"pool": "p"}) == 0


@pytest.mark.timeout(60)
def test_pool_labels_are_capped() -> None:
    reg = CollectorRegistry()
    for i in range(MAX_POOL_LABELS + 5):
        sink = MultiprocessSink(registry=reg)
        with ThreadPoolExecutor(1, name=f"job-{i}", metrics=False, sinks=[sink]) as ex:
            ex.submit(pow, 2, 2).result()
    pools = {
        s.labels["pool"]
        for f in reg.collect()
        if f.name == "tpe_tasks_submitted"
        for s in f.samples
    }
    assert len(pools) == MAX_POOL_LABELS + 1
    assert reg.get_sample_value("tpe_tasks_submitted_total", {"pool": "other"}) == 5
    assert reg.get_sample_value("tpe_workers_max", {"pool": "other"}) == 0


def _broken_workload(ex: ThreadPoolExecutor, gate: threading.Event) -> None:
    """A pool whose only worker's initializer fails once three tasks are queued: those fail
    with BrokenThreadPool, later submits are rejected."""
    futures = [ex.submit(pow, 2, i) for i in range(3)]
    gate.set()
    wait(futures)
    assert all(f.exception() is not None for f in futures)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            ex.submit(pow, 2, 2)


def _failing_init(gate: threading.Event) -> None:
    gate.wait()
    raise ValueError("no database")


@pytest.mark.timeout(30)
def test_sink_matches_the_collector_for_a_broken_pool() -> None:
    collector_reg, sink_reg = CollectorRegistry(), CollectorRegistry()
    for options in (
        {"registry": collector_reg},
        {"metrics": False, "sinks": [MultiprocessSink(registry=sink_reg)]},
    ):
        gate = threading.Event()
        with ThreadPoolExecutor(
            1, initializer=_failing_init, initargs=(gate,), name="p", **options
        ) as ex:
            _broken_workload(ex, gate)
    by_collector, by_sink = _samples(collector_reg), _samples(sink_reg)
    assert set(by_sink) == set(by_collector)
    for key, value in by_collector.items():
        if not _timing(key[0]):
            assert (key, by_sink[key]) == (key, value)
    assert by_sink[("tpe_initializer_failures_total", (("pool", "p"),))] == 1
    assert by_sink[("tpe_tasks_rejected_total", (("pool", "p"), ("reason", "broken")))] == 2
