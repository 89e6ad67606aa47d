"""The Perfetto/Chrome trace: passes the structural validator, uses µs, round-trips exactly."""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import ERROR, Timeline
from tpe_insight.profiler.trace import (
    TraceError,
    read_trace,
    to_trace,
    write_trace,
)
from tpe_insight.testing import validate_trace


class ManualClock:
    """A clock that only moves when a task moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> Callable[[], None]:
        def task() -> None:
            self.now += seconds

        return task


def _busy_timeline() -> Timeline:
    """Two pools, two submitting threads, successes, failures and cancels."""
    recorder = Recorder()
    gate = threading.Event()

    def work(i: int) -> int:
        gate.wait(10)
        if i % 5 == 0:
            raise RuntimeError(f"task {i} failed")
        return i

    with (
        ThreadPoolExecutor(3, name="alpha", metrics=False, sinks=[recorder]) as alpha,
        ThreadPoolExecutor(2, name="beta", metrics=False, sinks=[recorder]) as beta,
    ):
        futures: list[concurrent.futures.Future[int]] = []

        def submit_some(pool: ThreadPoolExecutor, n: int) -> None:
            futures.extend(pool.submit(work, i) for i in range(n))

        other = threading.Thread(target=submit_some, args=(beta, 12), name="other-submitter")
        other.start()
        submit_some(alpha, 15)
        other.join()
        cancelled = [alpha.submit(work, 1) for _ in range(3)]
        for future in cancelled:
            future.cancel()
        gate.set()
        concurrent.futures.wait(futures)
    return recorder.snapshot()


def test_trace_of_a_real_run_passes_the_validator() -> None:
    """Every structural rule holds on a trace with failures, cancels and two submitters."""
    timeline = _busy_timeline()
    trace = to_trace(timeline)
    assert validate_trace(trace) == []
    events = trace["traceEvents"]
    phases = {e["ph"] for e in events}
    assert {"M", "X", "b", "e", "s", "f", "C", "i"} <= phases
    # One named, sorted track per worker, in each pool's process.
    thread_names = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    sort_indexes = [e for e in events if e["ph"] == "M" and e["name"] == "thread_sort_index"]
    worker_tracks = {(w.pool_id + 1, w.worker_id) for w in timeline.workers}
    assert worker_tracks <= {(e["pid"], e["tid"]) for e in thread_names}
    assert worker_tracks <= {(e["pid"], e["tid"]) for e in sort_indexes}
    submitters = {e["args"]["name"] for e in thread_names if e["pid"] == 1}
    assert submitters == {threading.current_thread().name, "other-submitter"}
    # One task slice per task that ran, one flow per task that ran, counters present.
    ran = [s for s in timeline.spans if s.started_at is not None]
    task_slices = [e for e in events if e["ph"] == "X" and e.get("cat") == "task"]
    assert len(task_slices) == len(ran) == 27
    assert len([e for e in events if e["ph"] == "s"]) == len(ran)
    assert {e["args"]["outcome"] for e in task_slices} == {"success", "error"}
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {"queue depth", "busy workers"}
    json.dumps(trace, allow_nan=False)  # serialisable as strict JSON


def test_times_are_microseconds() -> None:
    """Under an injected clock a 0.25 s task is a 250000 µs slice at the right offset."""
    clock = ManualClock()
    recorder = Recorder()
    gate = threading.Event()

    def first() -> None:
        gate.wait(10)  # both are submitted before the clock moves
        clock.now += 0.5

    with ThreadPoolExecutor(1, name="us", metrics=False, sinks=[recorder], clock=clock) as pool:
        pool.submit(named("first", first))
        pool.submit(named("second", clock.work(0.25)))
        gate.set()
    trace = to_trace(recorder.snapshot())
    assert validate_trace(trace) == []
    slices = {e["name"]: e for e in trace["traceEvents"] if e.get("cat") == "task"}
    assert (slices["first"]["ts"], slices["first"]["dur"]) == (0.0, 500_000.0)
    assert (slices["second"]["ts"], slices["second"]["dur"]) == (500_000.0, 250_000.0)
    assert slices["second"]["args"]["queue_wait_ms"] == 500.0
    queued = [e for e in trace["traceEvents"] if e["ph"] == "e" and e["cat"] == "queue"]
    assert sorted(e["ts"] for e in queued) == [0.0, 500_000.0]


def _problems_after(mutate: Callable[[list[dict[str, Any]]], None]) -> list[str]:
    clock = ManualClock()
    recorder = Recorder()
    with ThreadPoolExecutor(1, name="v", metrics=False, sinks=[recorder], clock=clock) as pool:
        for _ in range(3):
            pool.submit(clock.work(0.1))
    trace = copy.deepcopy(to_trace(recorder.snapshot()))
    assert validate_trace(trace) == []
    mutate(trace["traceEvents"])
    return validate_trace(trace)


def _first(events: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(e for e in events if all(e.get(k) == v for k, v in match.items()))


def _worker_name(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["name"] == "thread_name" and e["pid"] != 1)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda ev: _first(ev, ph="X", cat="task").update(dur=150_000.0), "without nesting"),
        (lambda ev: _first(ev, ph="X", cat="task").update(ph="Z"), "unknown ph"),
        (lambda ev: _first(ev, ph="X", cat="task").update(ts=-1), "ts must be"),
        (lambda ev: ev.remove(_first(ev, ph="e", cat="queue")), "expected one b and one e"),
        (lambda ev: _first(ev, ph="f").update(ts=10**13), "not inside any slice"),
        (lambda ev: _first(ev, ph="f").update(bp="n"), "bp 'e'"),
        (lambda ev: ev.remove(_first(ev, ph="s")), "expected one s and one f"),
        (lambda ev: ev.remove(_worker_name(ev)), "no thread_name"),
        (lambda ev: _first(ev, ph="C").update(args={"queued": "many"}), "numeric args"),
    ],
)
def test_validator_catches_broken_traces(
    mutate: Callable[[list[dict[str, Any]]], None], expected: str
) -> None:
    """The validator is not a rubber stamp: each broken rule is reported."""
    problems = _problems_after(mutate)
    assert any(expected in problem for problem in problems), problems


def test_validator_rejects_a_non_trace() -> None:
    """Something that is not a trace object fails at the top."""
    assert validate_trace([1, 2]) != []
    assert validate_trace({"traceEvents": "no"}) != []


def test_trace_file_round_trips_exactly(tmp_path: Path) -> None:
    """write_trace then read_trace gives back the same timeline and the same summary."""
    timeline = _busy_timeline()
    path = write_trace(timeline, tmp_path / "trace.json")
    loaded = read_trace(path)
    assert loaded == timeline
    assert render_summary(loaded) == render_summary(timeline)
    assert validate_trace(json.loads(path.read_text())) == []


def test_reading_something_else_is_a_trace_error(tmp_path: Path) -> None:
    """Missing, non-JSON, foreign and future-version files are TraceErrors, not crashes."""
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(TraceError, match="not JSON"):
        read_trace(garbage)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"traceEvents": [], "otherData": {"version": "x"}}))
    with pytest.raises(TraceError, match="not a tpe-insight trace"):
        read_trace(foreign)
    future = tmp_path / "future.json"
    future.write_text(
        json.dumps(
            {"otherData": {"tpe_insight": {"format": "tpe-insight-timeline", "version": 99}}}
        )
    )
    with pytest.raises(TraceError, match="version 99"):
        read_trace(future)
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "otherData": {
                    "tpe_insight": {
                        "format": "tpe-insight-timeline",
                        "version": 1,
                        "timeline": {"pools": 3},
                    }
                }
            }
        )
    )
    with pytest.raises(TraceError, match="malformed"):
        read_trace(broken)


def test_the_written_file_is_exactly_the_trace_dict(tmp_path: Path) -> None:
    """write_trace formats the per-span events itself (for speed); the file must parse to
    exactly to_trace's dict, same events in the same order: successes, failures with odd
    messages, cancels, a worker the recorder never saw start, a span without a submitter."""
    timeline = _busy_timeline()
    spans = list(timeline.spans)
    ran = next(span for span in spans if span.started_at is not None)
    spans.append(
        dataclasses.replace(
            ran,
            outcome=ERROR,
            exception="Odd\u2192Error",
            message='quote " backslash \\ tab \t bell \x07 snow \u2603 surrogate \udcff',
        )
    )
    spans.append(dataclasses.replace(ran, worker_id=424242, submitter=None))
    spans.append(dataclasses.replace(ran, task="naïve task", cpu_seconds=0.0))
    odd = dataclasses.replace(timeline, spans=spans)
    path = write_trace(odd, tmp_path / "trace.json")
    text = path.read_text(encoding="ascii")
    # What the file used to be: json.dumps of the dict (tuples become lists on the way).
    assert json.loads(text) == json.loads(json.dumps(to_trace(odd), allow_nan=False))
    assert validate_trace(json.loads(text)) == []


def test_a_time_that_is_not_finite_still_refuses_to_write(tmp_path: Path) -> None:
    """No NaN in the file: the formatted path hands such a span to json, which refuses."""
    timeline = _busy_timeline()
    ran = next(span for span in timeline.spans if span.started_at is not None)
    broken = dataclasses.replace(ran, ended_at=math.nan)
    odd = dataclasses.replace(timeline, spans=[*timeline.spans, broken])
    with pytest.raises(ValueError, match="JSON compliant"):
        write_trace(odd, tmp_path / "trace.json")
