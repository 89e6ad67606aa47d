"""Helpers for testing code that uses tpe_insight, as ``structlog.testing`` does for structlog.

``capture_events()`` records every event of the pools created inside the ``with`` block as plain
dicts, so a test can assert what its pools did without a Prometheus registry::

    with capture_events() as events:
        with ThreadPoolExecutor(2, name="jobs") as pool:
            pool.submit(job).result()
    assert [e["event"] for e in events if e["event"].startswith("task")] == [...]

The ``event`` key is the sink method's name (:data:`tpe_insight.events.EVENTS`): one vocabulary
for sinks and tests. ``reset()`` puts tpe_insight's process-wide state back (global sinks,
``install()``, the once-per-component failure log) for a test fixture's teardown;
``validate_trace()`` checks a trace file against the Trace Event Format's structural rules.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tpe_insight import _fanout, patch
from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.labels import exception_label
from tpe_insight.profiler.trace import EPSILON_US
from tpe_insight.typing import CANCELLED, ERROR, SUCCESS, RejectReason

__all__ = ["CaptureSink", "capture_events", "reset", "validate_trace"]


class CaptureSink(Sink):
    """A sink that keeps every event as a dict (``event``, ``pool``, and the event's fields).

    Exceptions are recorded by class name only, like the metrics. Thread-safe. Tests assert on
    :attr:`events` after the pool is done, never inside a callback: the pool isolates a sink's
    exceptions, so an assert there would be swallowed.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _add(self, event: str, pool: PoolInfo, **fields: Any) -> None:
        with self._lock:
            self.events.append({"event": event, "pool": pool.label, **fields})

    def pool_created(self, pool: PoolInfo) -> None:
        self._add("pool_created", pool, max_workers=pool.max_workers)

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        self._add("worker_started", pool, thread=thread_name)

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._add("initializer_failed", pool, exception=exception_label(exc))

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        self._add("task_submitted", task.pool, task=task.name)

    def task_rejected(self, pool: PoolInfo, reason: RejectReason, exc: BaseException) -> None:
        self._add("task_rejected", pool, reason=reason)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        self._add("task_started", task.pool, task=task.name, queue_wait=started_at - submitted_at)

    def task_finished(
        self,
        task: TaskInfo,
        submitted_at: float,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
        submitter: int,
    ) -> None:
        self._add(
            "task_finished",
            task.pool,
            task=task.name,
            outcome=SUCCESS if exc is None else ERROR,
            exception=None if exc is None else exception_label(exc),
            run=ended_at - started_at,
        )

    def task_not_run(
        self, task: TaskInfo, cancelled: bool, exc: BaseException | None, ended_at: float
    ) -> None:
        self._add(
            "task_not_run",
            task.pool,
            task=task.name,
            outcome=CANCELLED if cancelled else ERROR,
            exception=None if exc is None else exception_label(exc),
            run=None,
        )

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._add("callback_failed", pool, exception=exception_label(exc))

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        self._add("pool_shutdown", pool, wait=wait, cancel_futures=cancel_futures)


@contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Record the events of every pool constructed inside the block (see the module doc)."""
    sink = CaptureSink()
    _fanout.add(sink)
    try:
        yield sink.events
    finally:
        _fanout.remove(sink)


def reset() -> None:
    """Put tpe_insight's process-wide state back as after import: no global sinks (a profile or
    capture left open), ``uninstall()``, and the once-per-component failure log forgotten.

    Pools already constructed keep their sinks; metric series live in their registries (tests
    pass their own ``CollectorRegistry``, as prometheus_client's do).
    """
    _fanout.clear()
    while patch.installed():  # install() calls nest
        patch.uninstall()
    _fanout.forget_reported()


# -- the validator ------------------------------------------------------------------------------

_PHASES = {"X", "B", "E", "i", "I", "b", "e", "n", "s", "t", "f", "C", "M"}
_METADATA = {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_trace(data: object) -> list[str]:
    """Check ``data`` against the Trace Event Format's structural rules; return the problems.

    Checked: the top-level object, each event's phase and required fields (µs ``ts`` ≥ 0,
    ``dur`` ≥ 0 on complete events, instant scope), metadata events, proper nesting of slices
    per thread (the rule Perfetto enforces), async begin/end pairing, flow pairing (one ``s``
    and one ``f`` per id, ``f`` not before ``s``, ``bp: "e"``) and that each flow end lies inside
    a slice on its thread (otherwise the arrow binds to nothing), counters with numeric args,
    and a name for every process and thread that carries slices.
    """
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        return ["top level must be an object with a traceEvents list"]
    if data.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        problems.append("displayTimeUnit must be 'ms' or 'ns'")
    slices: dict[tuple[int, int], list[tuple[float, float, str]]] = {}
    asyncs: dict[tuple[int, str, str, object], list[tuple[str, float]]] = {}
    flows: dict[tuple[str, str, object], list[dict[str, Any]]] = {}
    named_processes: set[int] = set()
    named_threads: set[tuple[int, int]] = set()
    for n, event in enumerate(data["traceEvents"]):
        where = f"event {n}"
        if not isinstance(event, dict):
            problems.append(f"{where}: not an object")
            continue
        ph = event.get("ph")
        if ph not in _PHASES:
            problems.append(f"{where}: unknown ph {ph!r}")
            continue
        if not isinstance(event.get("name"), str):
            problems.append(f"{where}: name must be a string")
        pid, tid = event.get("pid"), event.get("tid")
        if not isinstance(pid, int) or not isinstance(tid, int):
            problems.append(f"{where}: pid and tid must be integers")
            continue
        if ph == "M":
            name = event.get("name")
            args = event.get("args")
            if name not in _METADATA or not isinstance(args, dict):
                problems.append(f"{where}: unsupported metadata event {name!r}")
            elif name.endswith("_name"):
                if not isinstance(args.get("name"), str):
                    problems.append(f"{where}: {name} needs args.name")
                elif name == "process_name":
                    named_processes.add(pid)
                else:
                    named_threads.add((pid, tid))
            elif not isinstance(args.get("sort_index"), int):
                problems.append(f"{where}: {name} needs an integer args.sort_index")
            continue
        ts = event.get("ts")
        if not _number(ts) or ts < 0:  # type: ignore[operator]
            problems.append(f"{where}: ts must be a finite number of µs >= 0, got {ts!r}")
            continue
        assert isinstance(ts, (int, float))
        if ph == "X":
            dur = event.get("dur")
            if not _number(dur) or dur < 0:  # type: ignore[operator]
                problems.append(f"{where}: complete event needs dur >= 0, got {dur!r}")
                continue
            assert isinstance(dur, (int, float))
            slices.setdefault((pid, tid), []).append((ts, ts + dur, where))
        elif ph in ("i", "I"):
            if event.get("s", "t") not in ("g", "p", "t"):
                problems.append(f"{where}: instant scope must be g, p or t")
        elif ph in ("b", "e", "n"):
            if "id" not in event or not isinstance(event.get("cat"), str):
                problems.append(f"{where}: async event needs cat and id")
                continue
            key = (pid, event["cat"], str(event.get("name")), event["id"])
            asyncs.setdefault(key, []).append((ph, ts))
        elif ph in ("s", "t", "f"):
            if "id" not in event or not isinstance(event.get("cat"), str):
                problems.append(f"{where}: flow event needs cat and id")
                continue
            if ph == "f" and event.get("bp") != "e":
                problems.append(f"{where}: flow end should bind to its enclosing slice (bp 'e')")
            flows.setdefault((event["cat"], str(event.get("name")), event["id"]), []).append(
                {**event, "_where": where}
            )
        elif ph == "C":
            args = event.get("args")
            if not isinstance(args, dict) or not args or not all(_number(v) for v in args.values()):
                problems.append(f"{where}: counter needs numeric args")
        elif ph in ("B", "E"):
            problems.append(f"{where}: B/E events are not used by this exporter")

    for spans in slices.values():
        spans.sort()
    for (pid, tid), spans in slices.items():
        if (pid, tid) not in named_threads:
            problems.append(f"thread {pid}/{tid} has slices but no thread_name")
        if pid not in named_processes:
            problems.append(f"process {pid} has slices but no process_name")
        stack: list[tuple[float, float, str]] = []
        for start, end, where in sorted(spans, key=lambda s: (s[0], -s[1])):
            while stack and start >= stack[-1][1] - EPSILON_US:
                stack.pop()
            if stack and end > stack[-1][1] + EPSILON_US:
                problems.append(
                    f"{where}: slice [{start}, {end}] overlaps {stack[-1][2]} on thread "
                    f"{pid}/{tid} without nesting"
                )
            stack.append((start, end, where))
    for key, phases in asyncs.items():
        begins = [ts for ph, ts in phases if ph == "b"]
        ends = [ts for ph, ts in phases if ph == "e"]
        if len(begins) != 1 or len(ends) != 1:
            problems.append(f"async slice {key}: expected one b and one e, got {phases}")
        elif ends[0] < begins[0]:
            problems.append(f"async slice {key}: ends before it begins")
    for flow_key, flow_events in flows.items():
        starts = [e for e in flow_events if e["ph"] == "s"]
        finishes = [e for e in flow_events if e["ph"] == "f"]
        if len(starts) != 1 or len(finishes) != 1:
            problems.append(f"flow {flow_key}: expected one s and one f")
            continue
        if finishes[0]["ts"] < starts[0]["ts"]:
            problems.append(f"flow {flow_key}: ends before it starts")
        for flow_end in (starts[0], finishes[0]):
            on_thread = slices.get((flow_end["pid"], flow_end["tid"]), [])
            if not _inside_slice(on_thread, flow_end["ts"]):
                problems.append(
                    f"{flow_end['_where']}: flow {flow_end['ph']} is not inside any slice"
                )
    return problems


def _inside_slice(spans: list[tuple[float, float, str]], ts: float) -> bool:
    """Whether ``ts`` lies in one of ``spans`` (sorted by start). Looks back from the last slice
    that starts at or before ``ts``; a bounded look-back keeps the check linear-ish on big
    traces, and our tracks hold no deep nesting."""
    index = bisect.bisect_right(spans, (ts + EPSILON_US, math.inf, "")) - 1
    for start, end, _ in reversed(spans[max(0, index - 64) : index + 1]):
        if start - EPSILON_US <= ts <= end + EPSILON_US:
            return True
    return False
