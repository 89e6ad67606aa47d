"""Chrome Trace Event / Perfetto JSON export of a timeline, and a structural validator.

Layout of the trace (open it in https://ui.perfetto.dev or chrome://tracing):

* one *process* per pool instance (``pool <label> #<id> (max_workers=N)``), with one named
  *thread* track per worker, sorted by birth; each task is a complete event (``ph: "X"``) on its
  worker with args ``task, pool, outcome, queue_wait_ms, cpu_ms`` (and the exception for
  failures); worker births, the pool's creation and shutdown are instant events;
* queue waits as async slices (``ph: "b"/"e"``, one id per task): waits overlap each other, and
  slices on one thread track must nest, so they cannot go on a thread track;
* a ``submitting threads`` process with one track per thread that submitted work, holding a short
  ``submit`` slice, and a flow arrow (``ph: "s"`` → ``"f"``, ``bp: "e"``) from it to the task's
  slice on the worker: flows bind to an enclosing slice, so both ends need one;
* counter tracks per pool: ``queue depth`` and ``busy workers`` (exact, from the spans, when the
  timeline holds every span of the pool; otherwise the recorder's time-weighted bin averages,
  which cover every span);
* ``otherData.tpe_insight.sample`` says which spans have slices: past the recorder's capacity,
  only a bounded sample does (the rule, :class:`~tpe_insight.profiler.aggregate.SampleRule`, is
  written there in words), so the file stays under about 20 MB whatever the task count.

Timestamps are microseconds (the format's unit) from the earliest recorded time. The recorded
timeline itself rides along under ``otherData.tpe_insight`` (``otherData`` is the format's
free-form metadata object), so ``tpe-insight report trace.json`` rebuilds exactly what was
recorded instead of re-parsing events.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tpe_insight.profiler.stats import counter_series
from tpe_insight.profiler.timeline import ERROR, Span, Timeline

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TraceError",
    "read_trace",
    "to_trace",
    "write_trace",
]

FORMAT = "tpe-insight-timeline"
FORMAT_VERSION = 1

#: The pid of the process that holds the submitting threads; pools are ``POOL_PID_BASE + id``.
CALLERS_PID = 1
POOL_PID_BASE = 1

#: tid for pool-level events (counters, instants, async queue slices) and for tasks run by a
#: thread the recorder never saw start (it cannot happen with the core executor; defensive).
#: Not 0: trace viewers treat tid 0 as the kernel's idle thread.
POOL_TID = 999_998
UNKNOWN_WORKER_TID = 999_999

#: Longest ``submit`` slice on a caller track (µs); shorter when the next submit comes sooner,
#: so consecutive submit slices never overlap (overlapping slices on a thread are invalid).
SUBMIT_SLICE_US = 1.0

#: Tolerance (µs) for float rounding when checking nesting and containment.
EPSILON_US = 1e-6


class TraceError(ValueError):
    """A trace file that cannot be read back (unreadable, not JSON, or not ours)."""


def _pid(pool_id: int) -> int:
    return POOL_PID_BASE + pool_id


def _origin(timeline: Timeline) -> float:
    times: list[float] = [p.created_at for p in timeline.pools]
    times.extend(w.started_at for w in timeline.workers)
    for span in timeline.spans:
        times.append(span.ended_at)
        if span.submitted_at is not None:
            times.append(span.submitted_at)
        if span.started_at is not None:
            times.append(span.started_at)
    return min(times, default=0.0)


def to_trace(timeline: Timeline) -> dict[str, Any]:
    """The trace as a JSON-ready dict (``{"traceEvents": [...], ...}``)."""
    meta, before, spans, after, other = _build(timeline, encode=False)
    events: list[dict[str, Any]] = before + spans + after
    events.sort(key=lambda e: e["ts"])
    return {"traceEvents": meta + events, "displayTimeUnit": "ms", "otherData": other}


def _build(
    timeline: Timeline, *, encode: bool
) -> tuple[list[dict[str, Any]], list[Any], list[Any], list[dict[str, Any]], Any]:
    """The trace's parts, in :func:`to_trace`'s order before its sort by time: metadata
    events, the events before the per-span ones (with ``encode``, the submit slices among them
    as ``(ts, JSON text)`` pairs), the per-span events (dicts, or with ``encode`` such pairs,
    see :func:`_encoded_span_events`), the events after them, and ``otherData``."""
    origin = _origin(timeline)

    def us(t: float) -> float:
        return round((t - origin) * 1e6, 3)

    events: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    labels = {p.pool_id: p.label for p in timeline.pools}

    # Processes and worker tracks.
    for pool in timeline.pools:
        pid = _pid(pool.pool_id)
        meta.append(_meta("process_name", pid, POOL_TID, name=_pool_title(pool.label, pool)))
        meta.append(_meta("process_sort_index", pid, POOL_TID, sort_index=pool.pool_id))
        events.append(_instant("pool created", pid, POOL_TID, us(pool.created_at), "p"))
        if pool.shutdown_at is not None:
            events.append(_instant("shutdown", pid, POOL_TID, us(pool.shutdown_at), "p"))
    for worker in timeline.workers:
        pid = _pid(worker.pool_id)
        meta.append(_meta("thread_name", pid, worker.worker_id, name=worker.thread_name))
        meta.append(_meta("thread_sort_index", pid, worker.worker_id, sort_index=worker.worker_id))
        events.append(_instant("worker started", pid, worker.worker_id, us(worker.started_at), "t"))
    known_workers = {w.worker_id for w in timeline.workers}

    # Submitting threads: one track per thread name, one slice per distinct submit instant.
    callers: dict[str, int] = {}
    for span in timeline.spans:
        if span.submitter is not None and span.submitter not in callers:
            callers[span.submitter] = len(callers) + 1
    if callers:
        meta.append(_meta("process_name", CALLERS_PID, POOL_TID, name="submitting threads"))
        meta.append(_meta("process_sort_index", CALLERS_PID, POOL_TID, sort_index=0))
        for name, tid in callers.items():
            meta.append(_meta("thread_name", CALLERS_PID, tid, name=name))
            meta.append(_meta("thread_sort_index", CALLERS_PID, tid, sort_index=tid))
        events.extend(_submit_slices(timeline.spans, callers, us, encode=encode))

    unknown_worker_pids: set[int] = set()
    span_events: list[Any]
    if encode:
        span_events = _encoded_span_events(timeline, us, labels, known_workers, callers)
        unknown_worker_pids = {
            _pid(span.pool_id)
            for span in timeline.spans
            if span.started_at is not None and span.worker_id not in known_workers
        }
    else:
        span_events = _span_events(timeline, us, labels, known_workers, callers)
        unknown_worker_pids = {
            event["pid"] for event in span_events if event.get("tid") == UNKNOWN_WORKER_TID
        }
    before, events = events, []
    for pid in sorted(unknown_worker_pids):
        meta.append(_meta("thread_name", pid, UNKNOWN_WORKER_TID, name="(unknown worker)"))

    for running in timeline.running:
        tid = running.worker_id if running.worker_id in known_workers else UNKNOWN_WORKER_TID
        pid = _pid(running.pool_id)
        if tid == UNKNOWN_WORKER_TID and pid not in unknown_worker_pids:
            unknown_worker_pids.add(pid)
            meta.append(_meta("thread_name", pid, tid, name="(unknown worker)"))
        events.append(
            _instant(
                f"still running: {running.task}",
                pid,
                tid,
                us(running.started_at + running.running_for),
                "t",
                args={"task": running.task, "seen_at": running.seen_at, "stack": running.stack},
            )
        )

    # Counter tracks, per pool.
    by_pool: dict[int, list[Span]] = {}
    for span in timeline.spans:
        by_pool.setdefault(span.pool_id, []).append(span)
    counts = {t.pool_id: 0 for t in timeline.task_totals()}
    for totals in timeline.task_totals():
        counts[totals.pool_id] += totals.total
    for pool_id in sorted(set(by_pool) | set(counts)):
        pid = _pid(pool_id)
        spans = by_pool.get(pool_id, [])
        activity = timeline.pool_activity(pool_id)
        if activity is not None and counts.get(pool_id, 0) > len(spans):
            # Only a sample has per-span detail: chart the exact bin averages instead (values
            # are the time-weighted mean over each bin, so they can be fractional).
            for time, queued_avg, busy_avg in activity.series():
                ts = max(0.0, us(time))
                events.append(_counter("queue depth", pid, ts, queued=round(queued_avg, 3)))
                events.append(_counter("busy workers", pid, ts, busy=round(busy_avg, 3)))
            continue
        for time, queued, busy in counter_series(spans):
            ts = us(time)
            events.append(_counter("queue depth", pid, ts, queued=queued))
            events.append(_counter("busy workers", pid, ts, busy=busy))

    other = {
        "tpe_insight": {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "sample": _sample_text(timeline),
            "timeline": timeline.to_dict(),
        }
    }
    return meta, before, span_events, events, other


def _span_events(
    timeline: Timeline,
    us: Callable[[float], float],
    labels: dict[int, str],
    known_workers: set[int],
    callers: dict[str, int],
) -> list[dict[str, Any]]:
    """Each span's events, as dicts: queue slice, task slice (or instant), flow arrow."""
    events: list[dict[str, Any]] = []
    for index, span in enumerate(timeline.spans):
        events.extend(_events_of_span(index, span, us, labels, known_workers, callers))
    return events


def _events_of_span(
    index: int,
    span: Span,
    us: Callable[[float], float],
    labels: dict[int, str],
    known_workers: set[int],
    callers: dict[str, int],
) -> list[dict[str, Any]]:
    """The events of the ``index``-th span (its flow id is ``index + 1``)."""
    events: list[dict[str, Any]] = []
    pid = _pid(span.pool_id)
    pool_label = labels.get(span.pool_id, "?")
    flow_id = index + 1
    if span.submitted_at is not None:
        queue_end = span.started_at if span.started_at is not None else span.ended_at
        queue_args: dict[str, Any] = {"task": span.task}
        if span.started_at is None:
            queue_args["outcome"] = span.outcome
        events.append(
            {
                "ph": "b",
                "cat": "queue",
                "name": "queued",
                "id": flow_id,
                "pid": pid,
                "tid": POOL_TID,
                "ts": us(span.submitted_at),
                "args": queue_args,
            }
        )
        events.append(
            {
                "ph": "e",
                "cat": "queue",
                "name": "queued",
                "id": flow_id,
                "pid": pid,
                "tid": POOL_TID,
                "ts": us(queue_end),
            }
        )
    if span.started_at is None:
        events.append(
            _instant(
                f"{span.outcome}: {span.task}",
                pid,
                POOL_TID,
                us(span.ended_at),
                "p",
                args={"task": span.task, "outcome": span.outcome},
            )
        )
        return events
    tid = span.worker_id if span.worker_id in known_workers else UNKNOWN_WORKER_TID
    start = us(span.started_at)
    args: dict[str, Any] = {
        "task": span.task,
        "pool": pool_label,
        "outcome": span.outcome,
        "queue_wait_ms": None if span.queue_wait is None else round(span.queue_wait * 1e3, 6),
        "cpu_ms": round(span.cpu_seconds * 1e3, 6),
    }
    if span.exception is not None:
        args["exception"] = span.exception
        if span.message is not None:
            args["message"] = span.message
    event: dict[str, Any] = {
        "ph": "X",
        "cat": "task",
        "name": span.task,
        "pid": pid,
        "tid": tid,
        "ts": start,
        "dur": round(us(span.ended_at) - start, 3),
        "args": args,
    }
    if span.outcome == ERROR:
        event["cname"] = "terrible"  # chrome://tracing's reserved red
    events.append(event)
    if span.submitter is not None and span.submitted_at is not None:
        common = {"cat": "flow", "name": "submit → start", "id": flow_id}
        events.append(
            {
                **common,
                "ph": "s",
                "pid": CALLERS_PID,
                "tid": callers[span.submitter],
                "ts": us(span.submitted_at),
            }
        )
        events.append({**common, "ph": "f", "bp": "e", "pid": pid, "tid": tid, "ts": start})
    return events


#: One encoder for the few events that are not pre-formatted (``json.dumps`` with options builds
#: a new encoder per call). ASCII output, no NaN: what :func:`write_trace` always wrote.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_FLOW_NAME = json.dumps("submit → start")


def _encoded_span_events(
    timeline: Timeline,
    us: Callable[[float], float],
    labels: dict[int, str],
    known_workers: set[int],
    callers: dict[str, int],
) -> list[tuple[float, str]]:
    """The events of :func:`_span_events` as ``(ts, JSON text)``, for :func:`write_trace`.

    Why: the sample's spans make most of a big trace (five events each), and building a dict
    per event for ``json.dumps`` to walk (it encodes every key again for every event) was most
    of the trace's cost. A span that ran is formatted here with f-strings: numbers through
    ``repr`` (what ``json`` writes for an int or a float), strings through ``json.dumps`` once
    per distinct string. A span that never ran, or one with a time that is not finite, takes
    the dict path (so a NaN still raises, as ``allow_nan=False`` did). ``tests/unit/test_trace.py``
    checks that the file parses to exactly :func:`to_trace`'s dict.
    """
    out: list[tuple[float, str]] = []
    append = out.append
    quoted: dict[str, str] = {}
    dumps = json.dumps
    isfinite = math.isfinite
    for index, span in enumerate(timeline.spans):
        submitted, started, ended = span.submitted_at, span.started_at, span.ended_at
        if (
            submitted is None
            or started is None
            or not isfinite(submitted + started + ended + span.cpu_seconds)
        ):
            for event in _events_of_span(index, span, us, labels, known_workers, callers):
                append((event["ts"], _ENCODER.encode(event)))
            continue
        pid = _pid(span.pool_id)
        flow_id = index + 1
        task = span.task
        name = quoted.get(task)
        if name is None:
            name = quoted[task] = dumps(task)
        pool_label = labels.get(span.pool_id, "?")
        pool = quoted.get(pool_label)
        if pool is None:
            pool = quoted[pool_label] = dumps(pool_label)
        outcome = quoted.get(span.outcome)
        if outcome is None:
            outcome = quoted[span.outcome] = dumps(span.outcome)
        tid = span.worker_id if span.worker_id in known_workers else UNKNOWN_WORKER_TID
        queued_at = us(submitted)
        start = us(started)
        dur = round(us(ended) - start, 3)
        queue_wait = span.queue_wait
        wait_ms = "null" if queue_wait is None else repr(round(queue_wait * 1e3, 6))
        cpu_ms = round(span.cpu_seconds * 1e3, 6)
        extra = ""
        if span.exception is not None:
            extra = f',"exception":{dumps(span.exception)}'
            if span.message is not None:
                extra += f',"message":{dumps(span.message)}'
        cname = ',"cname":"terrible"' if span.outcome == ERROR else ""
        append(
            (
                queued_at,
                f'{{"ph":"b","cat":"queue","name":"queued","id":{flow_id},"pid":{pid},'
                f'"tid":{POOL_TID},"ts":{queued_at!r},"args":{{"task":{name}}}}}',
            )
        )
        append(
            (
                start,
                f'{{"ph":"e","cat":"queue","name":"queued","id":{flow_id},"pid":{pid},'
                f'"tid":{POOL_TID},"ts":{start!r}}}',
            )
        )
        append(
            (
                start,
                f'{{"ph":"X","cat":"task","name":{name},"pid":{pid},"tid":{tid},"ts":{start!r},'
                f'"dur":{dur!r},"args":{{"task":{name},"pool":{pool},"outcome":{outcome},'
                f'"queue_wait_ms":{wait_ms},"cpu_ms":{cpu_ms!r}{extra}}}{cname}}}',
            )
        )
        if span.submitter is not None:
            append(
                (
                    queued_at,
                    f'{{"cat":"flow","name":{_FLOW_NAME},"id":{flow_id},"ph":"s",'
                    f'"pid":{CALLERS_PID},"tid":{callers[span.submitter]},"ts":{queued_at!r}}}',
                )
            )
            append(
                (
                    start,
                    f'{{"cat":"flow","name":{_FLOW_NAME},"id":{flow_id},"ph":"f","bp":"e",'
                    f'"pid":{pid},"tid":{tid},"ts":{start!r}}}',
                )
            )
    return out


def _sample_text(timeline: Timeline) -> str:
    """What the trace's slices cover, in one sentence (also shown by the report)."""
    if timeline.dropped == 0:
        return f"every one of the {len(timeline.spans)} spans recorded has its slice"
    rule = timeline.sample_rule
    how = rule.describe() if rule is not None else "the rest were dropped"
    return f"{len(timeline.spans)} of {timeline.recorded} spans recorded have their slices; {how}"


def _pool_title(label: str, pool: Any) -> str:
    return f"pool {label} #{pool.pool_id} (max_workers={pool.max_workers})"


def _meta(kind: str, pid: int, tid: int, **args: Any) -> dict[str, Any]:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": args}


def _instant(
    name: str,
    pid: int,
    tid: int,
    ts: float,
    scope: str,
    *,
    args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"ph": "i", "name": name, "s": scope, "pid": pid, "tid": tid, "ts": ts}
    if args:
        event["args"] = args
    return event


def _counter(name: str, pid: int, ts: float, **values: float) -> dict[str, Any]:
    return {"ph": "C", "name": name, "pid": pid, "tid": POOL_TID, "ts": ts, "args": values}


def _submit_slices(
    spans: Iterable[Span], callers: dict[str, int], us: Any, *, encode: bool = False
) -> list[Any]:
    """One short ``submit`` slice per distinct submit instant per caller thread (with
    ``encode``, as ``(ts, JSON text)`` pairs: one per sampled span, like the span events)."""
    instants: dict[int, dict[float, str]] = {}
    for span in spans:
        if span.submitter is None or span.submitted_at is None:
            continue
        per_thread = instants.setdefault(callers[span.submitter], {})
        per_thread.setdefault(us(span.submitted_at), span.task)
    events: list[Any] = []
    quoted: dict[str, str] = {}
    for tid, per_ts in instants.items():
        times = sorted(per_ts)
        for i, ts in enumerate(times):
            following = times[i + 1] if i + 1 < len(times) else math.inf
            dur = round(min(SUBMIT_SLICE_US, following - ts), 3)
            if encode and math.isfinite(ts):
                task = per_ts[ts]
                name = quoted.get(task)
                if name is None:
                    name = quoted[task] = json.dumps(task)
                text = (
                    f'{{"ph":"X","cat":"submit","name":"submit","pid":{CALLERS_PID},'
                    f'"tid":{tid},"ts":{ts!r},"dur":{dur!r},"args":{{"task":{name}}}}}'
                )
                events.append((ts, text))
                continue
            events.append(
                {
                    "ph": "X",
                    "cat": "submit",
                    "name": "submit",
                    "pid": CALLERS_PID,
                    "tid": tid,
                    "ts": ts,
                    "dur": dur,
                    "args": {"task": per_ts[ts]},
                }
            )
    return events


def write_trace(timeline: Timeline, path: Path) -> Path:
    """Write the trace JSON to ``path`` (ASCII, so any viewer reads it); return ``path``.

    The file is :func:`to_trace`'s dict, compact, with the per-span events formatted directly
    (see :func:`_encoded_span_events`); the events are in the same order (stable sort by time
    of the same sequence)."""
    meta, before, spans, after, other = _build(timeline, encode=True)
    keyed: list[tuple[float, Any]] = [
        event if isinstance(event, tuple) else (event["ts"], event) for event in before
    ]
    keyed.extend(spans)
    keyed.extend((event["ts"], event) for event in after)
    keyed.sort(key=operator.itemgetter(0))
    encode = _ENCODER.encode
    parts = [encode(event) for event in meta]
    parts.extend(text if isinstance(text, str) else encode(text) for _ts, text in keyed)
    with path.open("w", encoding="ascii") as file:
        file.write('{"traceEvents":[')
        file.write(",".join(parts))
        file.write('],"displayTimeUnit":"ms","otherData":')
        file.write(encode(other))
        file.write("}")
    return path


def read_trace(path: Path) -> Timeline:
    """The timeline saved in a trace written by :func:`write_trace`; TraceError otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TraceError(f"{path} is not JSON ({exc})") from None
    payload = data.get("otherData", {}).get("tpe_insight") if isinstance(data, dict) else None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TraceError(
            f"{path} is not a tpe-insight trace (no otherData.tpe_insight; was it written by "
            "tpe-insight run or profile().write_trace()?)"
        )
    if payload.get("version") != FORMAT_VERSION:
        raise TraceError(
            f"{path} is a tpe-insight trace of version {payload.get('version')!r}; this "
            f"version reads version {FORMAT_VERSION}"
        )
    timeline = payload.get("timeline")
    if not isinstance(timeline, dict):
        raise TraceError(f"{path}: otherData.tpe_insight.timeline is missing")
    try:
        return Timeline.from_dict(timeline)
    except ValueError as exc:
        raise TraceError(f"{path}: {exc}") from None
