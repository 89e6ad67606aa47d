"""``os.fork()`` in a process with live pools: the child can create and use a pool, its
metrics describe the child (not ghosts of the parent's workers), and the parent's stay exact.

Every scenario runs in a fresh interpreter: forking the test runner itself would copy its
threads and state into the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PRELUDE = textwrap.dedent(
    """
    import gc, json, os, signal, sys, threading, warnings
    # 3.12+ warns that forking a multi-threaded process may deadlock: that is what we test.
    warnings.simplefilter("ignore", DeprecationWarning)
    from prometheus_client import CollectorRegistry
    from tpe_insight import ThreadPoolExecutor

    def state(reg, pool):
        def g(name, **labels):
            return reg.get_sample_value(name, {"pool": pool, **labels}) or 0.0
        finished = 0.0
        for family in reg.collect():
            if family.name == "tpe_tasks_finished":
                finished += sum(s.value for s in family.samples if s.labels["pool"] == pool)
        return {
            "submitted": g("tpe_tasks_submitted_total"),
            "finished": finished,
            "queued": g("tpe_tasks_queued"),
            "running": g("tpe_tasks_running"),
            "workers": g("tpe_workers"),
            "workers_max": g("tpe_workers_max"),
        }

    def fork_and_report(child):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                signal.alarm(30)  # a child that hangs must not outlive the test
                os.close(read_end)
                result = child()
                os.write(write_end, json.dumps(result).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        return json.loads(b"".join(chunks))
    """
)


def _run(body: str, tmp_path: Path) -> dict[str, object]:
    script = tmp_path / "scenario.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.timeout(90)
def test_child_of_a_busy_process_counts_only_its_own_work(tmp_path: Path) -> None:
    """Fork while a pool has 3 running and 2 queued tasks; the child runs 10 tasks of its own."""
    result = _run(
        """
        reg = CollectorRegistry()
        gate = threading.Event()
        busy = ThreadPoolExecutor(3, name="p", registry=reg)
        futures = [busy.submit(gate.wait) for _ in range(5)]
        while sum(f.running() for f in futures) < 3:
            gate.wait(0.001)

        def child():
            gc.collect()
            at_start = state(reg, "p")
            with ThreadPoolExecutor(2, name="p", registry=reg) as pool:
                values = [f.result() for f in [pool.submit(pow, 2, i) for i in range(10)]]
            gc.collect()
            return {"start": at_start, "end": state(reg, "p"), "values": values}

        child_result = fork_and_report(child)
        gate.set()
        busy.shutdown()
        gc.collect()
        print(json.dumps({"child": child_result, "parent": state(reg, "p")}))
        """,
        tmp_path,
    )
    zero = {"queued": 0, "running": 0, "workers": 0, "workers_max": 0}
    child = result["child"]
    assert isinstance(child, dict)
    assert child["values"] == [2**i for i in range(10)]
    # The parent's three workers and five tasks do not exist in the child.
    assert child["start"] == {"submitted": 0, "finished": 0, **zero}
    assert child["end"] == {"submitted": 10, "finished": 10, **zero}
    # The parent is untouched by the fork: exactly its own five tasks.
    assert result["parent"] == {"submitted": 5, "finished": 5, **zero}


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "lock",
    [
        "collector._collectors_lock",
        "_fanout._reported_lock",
        "_fanout._sinks_lock",
        "patch._lock",
        "multiprocess._by_registry_lock",
    ],
)
def test_fork_while_another_thread_holds_a_module_lock(lock: str, tmp_path: Path) -> None:
    """A lock held by a thread at fork time stays held forever in the child, unless reset:
    the child's first pool, failure report, install() or sink registration would hang."""
    result = _run(
        f"""
        import tpe_insight
        from tpe_insight import Sink, _fanout, patch
        from tpe_insight.metrics import collector, multiprocess
        # The at-fork hook is installed by the first pool (import has no side effect); a lock
        # of ours can only be held by a thread inside our API, after that.
        ThreadPoolExecutor(1, registry=CollectorRegistry()).shutdown()
        held, release = threading.Event(), threading.Event()

        def hold():
            with {lock}:
                held.set()
                release.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()

        class Failing(Sink):
            def task_finished(self, *args):
                raise RuntimeError("sink bug")  # reported under _fanout's lock

        def child():
            tpe_insight.install()  # patch's lock
            tpe_insight.uninstall()
            extra = Failing()
            _fanout.add(extra)  # the global sinks' lock
            _fanout.remove(extra)
            multiprocess.MultiprocessSink(registry=CollectorRegistry())  # its registry lock
            reg = CollectorRegistry()  # a new registry needs the collectors' lock
            with ThreadPoolExecutor(2, name="c", registry=reg, sinks=[Failing()]) as pool:
                value = pool.submit(pow, 3, 3).result()
            return {{"value": value, "state": state(reg, "c")}}

        child_result = fork_and_report(child)
        release.set()
        holder.join()
        print(json.dumps(child_result))
        """,
        tmp_path,
    )
    assert result["value"] == 27
    assert result["state"] == {
        "submitted": 1,
        "finished": 1,
        "queued": 0,
        "running": 0,
        "workers": 0,
        "workers_max": 0,
    }


@pytest.mark.timeout(90)
def test_forked_child_in_multiprocess_mode_adds_only_its_own_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn --preload: a pool made before the fork must not leak ghost gauges into the
    child's files (the livesum over parent and child must equal the parent's own)."""
    directory = tmp_path / "prom"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))  # for the subprocess
    result = _run(
        """
        from prometheus_client.multiprocess import MultiProcessCollector
        gate = threading.Event()
        busy = ThreadPoolExecutor(3, name="p")
        futures = [busy.submit(gate.wait) for _ in range(5)]
        while sum(f.running() for f in futures) < 3:
            gate.wait(0.001)

        def child():
            with ThreadPoolExecutor(2, name="p") as pool:
                values = [f.result() for f in [pool.submit(pow, 2, i) for i in range(10)]]
            gc.collect()
            return values

        values = fork_and_report(child)
        scrape = CollectorRegistry()
        MultiProcessCollector(scrape)
        before = state(scrape, "p")
        gate.set()
        busy.shutdown()
        gc.collect()
        print(json.dumps({"values": values, "while_busy": before, "after": state(scrape, "p")}))
        """,
        tmp_path,
    )
    assert result["values"] == [2**i for i in range(10)]
    # The child's process files are not marked dead here: its gauges are all back to zero.
    assert result["while_busy"] == {
        "submitted": 15,
        "finished": 10,
        "queued": 2,
        "running": 3,
        "workers": 3,
        "workers_max": 3,
    }
    assert result["after"] == {
        "submitted": 15,
        "finished": 15,
        "queued": 0,
        "running": 0,
        "workers": 0,
        "workers_max": 0,
    }
