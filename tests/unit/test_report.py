"""The HTML report and the lints: hostile input is inert, nothing is fetched, numbers show."""

from __future__ import annotations

import html.parser
import re
import threading
import time
from pathlib import Path

import pytest

from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.profiler import lints
from tpe_insight.profiler._format import format_seconds
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.report import render_report, write_report
from tpe_insight.profiler.stats import analyse, percentile
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import PoolRecord, RunningTask, Span, Timeline, WorkerRecord

HOSTILE = (
    "<script>alert('x')</script>\"quoted\" & 'single'\nsecond line <img src=x onerror=alert(1)>"
)


class _Collector(html.parser.HTMLParser):
    """Every tag and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)


def _hostile_timeline() -> Timeline:
    recorder = Recorder()

    def explode() -> None:
        raise ValueError(HOSTILE)

    with ThreadPoolExecutor(
        2, name="pool \"<b>bold</b>\" & 'q'", metrics=False, sinks=[recorder]
    ) as pool:
        pool.submit(named(HOSTILE, time.sleep, 0.001))
        pool.submit(named(HOSTILE + "2", explode))
    return recorder.snapshot()


def test_hostile_names_and_messages_are_inert() -> None:
    """Task names, exception messages and pool labels cannot inject markup."""
    timeline = _hostile_timeline()
    assert any(s.message and "<script>" in s.message for s in timeline.spans)  # really hostile
    page = render_report(timeline, include_messages=True)
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    # The report's own <b> marks a lint's code (a lint fires or not with the machine's load);
    # none may come from the hostile names.
    assert "<b>bold" not in page
    assert set(re.findall(r"<b>([^<]*)</b>", page)) <= {
        lint.code for lint in lints.check(analyse(timeline))
    }
    assert not [name for name, _ in parser.attributes if name.startswith("on")]
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&quot;quoted&quot;" in page


def test_report_is_self_contained() -> None:
    """No script, no external resource, nothing that could reach the network."""
    timeline = _hostile_timeline()
    page = render_report(timeline)
    parser = _Collector()
    parser.feed(page)
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(parser.tags)
    for name, value in parser.attributes:
        if name in {"src", "href", "xlink:href", "action"}:
            assert value is not None
            assert value.startswith("#"), (name, value)
    assert not re.search(r"https?://", page)
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)
    assert "default-src 'none'" in page


def test_report_shows_the_headline_numbers(tmp_path: Path) -> None:
    """Lanes, lifecycles, percentiles, verdict, speedup and the what-if table are there."""
    recorder = Recorder()
    with ThreadPoolExecutor(4, name="sleepy", metrics=False, sinks=[recorder]) as pool:
        for _ in range(12):
            pool.submit(named("nap", time.sleep, 0.01))
        doomed = pool.submit(named("late", time.sleep, 0.01))
        doomed.cancel()
    timeline = recorder.snapshot()
    path = write_report(timeline, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for text in (
        "Worker lanes",
        "Task lifecycles",
        "Queue depth and busy workers",
        "What if max_workers were",
        "I/O-bound",
        "speedup vs serial",
        "(recorded)",
        "docs/profiler-model.md",
        "sleepy",
        "nap",
    ):
        assert text in page, text
    worker_names = {w.thread_name for w in timeline.workers}
    assert all(name in page for name in worker_names)
    analysis = analyse(timeline)
    (pool_stats,) = analysis.pools
    # The speedup shown is the model's (or its "cannot tell" range), never sum of runs / wall.
    assert pool_stats.model is not None
    claim = pool_stats.model.speedup
    if claim.value is not None:
        assert f"&#215;{claim.value:.2f}" in page
    else:
        assert f"&#215;{claim.low:.2f}" in page


def test_percentile_interpolates_between_ranks() -> None:
    """Linear interpolation between closest ranks; NaN when there is nothing."""
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == pytest.approx(4.8)
    assert percentile(values, 1.0) == 5.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN


# -- lints, on made-up timelines (deterministic: no clocks involved) ---------------------------


def _pool(pool_id: int, label: str = "p", max_workers: int = 4) -> PoolRecord:
    return PoolRecord(pool_id, label, max_workers, 0.0, None)


def _spans(
    n: int, *, wait: float, run: float, cpu: float = 0.0, workers: int = 1, pool_id: int = 1
) -> list[Span]:
    """``n`` tasks on ``workers`` back-to-back lanes, each queued ``wait`` s, running ``run`` s."""
    spans = []
    for i in range(n):
        lane, slot = i % workers, i // workers
        start = wait + slot * run
        spans.append(
            Span(pool_id, "t", "success", start - wait, start, start + run, cpu, lane + 1, "M")
        )
    return spans


def _codes(timeline: Timeline) -> list[str]:
    return [lint.code for lint in lints.check(analyse(timeline))]


def test_saturated_lint_fires_on_its_threshold_only() -> None:
    """Total wait >= run time over >= MIN_TASKS tasks fires; less wait or fewer tasks do not."""
    n = lints.MIN_TASKS
    assert "saturated" in _codes(Timeline([_pool(1)], spans=_spans(n, wait=1.0, run=1.0)))
    assert "saturated" not in _codes(Timeline([_pool(1)], spans=_spans(n, wait=0.5, run=1.0)))
    few = _spans(n - 1, wait=5.0, run=1.0)
    assert "saturated" not in _codes(Timeline([_pool(1)], spans=few))


def test_cpu_bound_lint() -> None:
    """GIL-bound work (four at a time, the pool at one core) on a multi-worker pool fires; the
    same work on one worker, and I/O-bound work, do not (more cases: tests/test_lints.py)."""
    gil_bound = _spans(8, wait=0.0, run=0.4, cpu=0.1, workers=4)
    assert "cpu-bound" in _codes(Timeline([_pool(1)], spans=gil_bound, cores=2))
    serial = _spans(3, wait=0.0, run=0.1, cpu=0.1)
    assert "cpu-bound" not in _codes(Timeline([_pool(1, max_workers=1)], spans=serial, cores=2))
    io = _spans(8, wait=0.0, run=0.1, cpu=0.001, workers=4)
    assert "cpu-bound" not in _codes(Timeline([_pool(1)], spans=io, cores=2))


def test_cpu_bound_lint_sees_through_gil_waits() -> None:
    """Four workers each 25% on CPU (the rest waiting for the GIL) keep one core busy: flagged.

    By CPU share alone (25%) this work would pass for I/O-bound; the core load (1.0) shows it.
    """
    gil_bound = _spans(8, wait=0.0, run=0.1, cpu=0.025, workers=4)
    analysis = analyse(Timeline([_pool(1)], spans=gil_bound, cores=2))
    (pool,) = analysis.pools
    assert pool.cpu_share == pytest.approx(0.25)
    assert pool.core_load == pytest.approx(1.0)
    assert pool.model is not None and pool.model.work_type == "gil"
    assert "cpu-bound" in [lint.code for lint in lints.check(analysis)]
    assert "GIL-bound CPU" in render_report(analysis)
    light = _spans(8, wait=0.0, run=0.1, cpu=0.005, workers=4)
    (light_pool,) = analyse(Timeline([_pool(1)], spans=light, cores=2)).pools
    assert light_pool.model is not None and light_pool.model.work_type == "io"


def test_oversized_lint() -> None:
    """32 workers for work that never ran more than 2 at once fires; 8 for 4 does not."""
    narrow = _spans(20, wait=0.0, run=0.1, workers=2)
    assert "oversized" in _codes(Timeline([_pool(1, max_workers=32)], spans=narrow))
    wide = _spans(20, wait=0.0, run=0.1, workers=4)
    assert "oversized" not in _codes(Timeline([_pool(1, max_workers=8)], spans=wide))


def test_pool_per_call_lint() -> None:
    """Five instances of one label fire; four do not."""
    many = Timeline([_pool(i, "handler") for i in range(1, 6)], pool_instances={"handler": 5})
    assert "pool-per-call" in _codes(many)
    few = Timeline([_pool(i, "handler") for i in range(1, 5)], pool_instances={"handler": 4})
    assert "pool-per-call" not in _codes(few)


def test_stuck_lint_shows_the_stack_in_summary_and_report() -> None:
    """A running task's stack appears, escaped, in both outputs."""
    stack = '  File "job.py", line 3, in <module>\n    wait_forever()\n'
    timeline = Timeline(
        [_pool(1)],
        workers=[WorkerRecord(1, 1, "w_0", 0.0)],
        running=[RunningTask(1, "job.wait", 1, "w_0", 0.0, 42.0, "end of profile", stack)],
    )
    assert _codes(timeline) == ["stuck"]
    assert "wait_forever()" in render_summary(timeline)
    page = render_report(timeline)
    assert "in &lt;module&gt;" in page
    assert "42.0 s after it started" in page


def test_no_lint_on_a_healthy_pool() -> None:
    """A well-sized I/O-bound pool with short waits is clean."""
    healthy = _spans(20, wait=0.001, run=0.1, workers=4)
    assert _codes(Timeline([_pool(1)], spans=healthy)) == []


def test_report_renders_with_nothing_recorded() -> None:
    """An empty profile still gives a valid page (no division by zero)."""
    page = render_report(Timeline())
    assert "No lint fired" in page
    assert render_summary(Timeline()).startswith("tpe-insight: 0 pool(s)")


def test_summary_is_what_profile_summary_returns() -> None:
    """prof.summary() is render_summary of its timeline."""
    recorder = Recorder()
    done = threading.Event()
    with ThreadPoolExecutor(1, name="same", metrics=False, sinks=[recorder]) as pool:
        pool.submit(done.set)
    timeline = recorder.snapshot()
    text = render_summary(timeline)
    assert "pool same #" in text
    assert "success 1" in text


def _failing_timeline() -> Timeline:
    """One pool with failures of two classes (messages hold 'user data'), one with no tasks."""
    spans = [
        Span(1, "load", "success", 0.0, 0.0, 0.01, 0.005, 1, "MainThread"),
        Span(1, "load", "error", 0.0, 0.01, 0.02, 0.005, 1, "MainThread", "KeyError", "k=42"),
        Span(1, "load", "error", 0.0, 0.02, 0.03, 0.0, 1, "MainThread", "KeyError", "k=43"),
        Span(1, "save", "error", 0.0, 0.03, 0.05, 0.0, 1, "MainThread", "OSError", "disk"),
    ]
    return Timeline(
        pools=[PoolRecord(1, "work", 2, 0.0, 0.06), PoolRecord(2, "idle", 4, 0.0, 0.06)],
        workers=[WorkerRecord(1, 1, "work_0", 0.0)],
        spans=spans,
    )


def test_exception_classes_with_counts_and_no_messages_by_default() -> None:
    """Per-task tables carry exception classes with counts; the messages stay out."""
    page = render_report(_failing_timeline())
    assert "KeyError <strong>&#215;2</strong>" in page
    assert "OSError <strong>&#215;1</strong>" in page
    assert "<h3>Failures</h3>" in page
    for message in ("k=42", "k=43", "disk"):
        assert message not in page
    assert "--include-messages" in page  # says how to get them


def test_include_messages_adds_example_messages() -> None:
    """With include_messages, the failures table and the hover titles show the messages."""
    page = render_report(_failing_timeline(), include_messages=True)
    assert "<code>k=42</code><br><code>k=43</code>" in page
    assert "OSError: disk" in page  # a span's hover title


def test_a_pool_with_no_tasks_says_so() -> None:
    """No "0 µs" cards for a pool that ran nothing: a sentence, in its section and the table."""
    page = render_report(_failing_timeline())
    idle = page[page.index('id="pool-2"') :]
    assert "This pool ran no tasks" in idle
    assert "0 µs" not in idle.split("</section>")[0]
    assert "no tasks ran in this pool" in page


def test_queue_depth_and_busy_workers_have_their_own_axes() -> None:
    """Two charts, each with its own scale: the busy chart tops at max_workers, the queue
    chart at the peak queue."""
    spans = [
        Span(1, "t", "success", 0.0, i * 0.01, i * 0.01 + 0.01, 0.0, 1, "M") for i in range(50)
    ]
    timeline = Timeline(
        pools=[PoolRecord(1, "deep", 2, 0.0, 1.0)],
        workers=[WorkerRecord(1, 1, "deep_0", 0.0)],
        spans=spans,
    )
    page = render_report(timeline)
    assert page.count('class="queue-area"') == 1
    assert page.count('class="busy-area"') == 1
    assert 'class="axis-name">queued<' in page
    assert 'class="axis-name">busy<' in page
    assert ">49</text>" in page  # the queue chart's own top: 49 waiting at t=0


def test_the_recorded_what_if_row_shows_the_measurement_even_where_the_model_cannot_tell() -> None:
    """At the recorded max_workers the wall was measured: the report and the summary show it,
    not "cannot tell", while the other rows keep the model's verdict."""
    from tpe_insight.profiler.model import WhatIf
    from tpe_insight.profiler.report import _model_whatif_table
    from tpe_insight.profiler.text import _what_if_row

    recorder = Recorder()
    with ThreadPoolExecutor(2, name="measured", metrics=False, sinks=[recorder]) as pool:
        for _ in range(6):
            pool.submit(named("nap", time.sleep, 0.001))
    (pool_stats,) = analyse(recorder.snapshot()).pools
    model = pool_stats.model
    assert model is not None
    model.what_if = [
        WhatIf(1, None, 0.5, 9.0, False),
        WhatIf(2, None, 0.25, 9.0, True),
    ]
    measured = format_seconds(pool_stats.wall)
    table = _model_whatif_table(pool_stats, model)
    rows = [r.split("</tr>")[0] for r in table.split("<tr")[1:]]
    recorded_row = next(r for r in rows if "(recorded)" in r)
    assert f"{measured} measured" in recorded_row
    assert "cannot tell" not in recorded_row
    other_row = next(r for r in rows if r.startswith("><td class=num>1<"))
    assert "cannot tell" in other_row
    line = _what_if_row(pool_stats, model)
    assert f"2*={measured}" in line
    assert "1=?(" in line
