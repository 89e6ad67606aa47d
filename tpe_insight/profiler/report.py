"""The HTML report: one self-contained file, readable from ``file://`` with no network.

Why server-side SVG and no JavaScript: the report must work offline, from a mail attachment or a
CI artefact, and stay safe with hostile task names and exception messages. Every picture is
inline SVG drawn here; hovering a shape shows its details through SVG ``<title>`` elements.
There is no ``<script>``, no external stylesheet, font or image. Every user-provided string
(pool labels, task names, thread names, exception classes and messages, stacks) goes through
:func:`html.escape` (quotes included) before it is written, in text and in attributes alike.

Sections: headline numbers, lints, then per pool: worker lanes (tasks coloured by task name,
failures outlined red and crossed, cancels marked on the queue row, idle time as the lane's
empty background, worker birth as a green tick), queue-depth/busy-worker chart, per-task
lifecycles (queued segment, then running segment), percentiles per task, and the what-if table.
"""

from __future__ import annotations

import colorsys
import datetime
import hashlib
import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from tpe_insight.profiler import lints
from tpe_insight.profiler._format import format_ms, format_seconds
from tpe_insight.profiler.model import MODEL_STATEMENT, Estimate, PoolModel
from tpe_insight.profiler.stats import (
    Analysis,
    PoolStats,
    TaskStats,
    analyse,
    counter_series,
)
from tpe_insight.profiler.timeline import CANCELLED, ERROR, Span, Timeline
from tpe_insight.typing import CPU_BOUND, IO_BOUND, MIXED

__all__ = ["MAX_LIFECYCLE_ROWS", "MAX_POOLS", "MAX_SPANS_DRAWN", "render_report", "write_report"]

#: Spans drawn in the worker lanes of all pool sections together (split evenly between the
#: sections shown); beyond it, each pool's newest are drawn and the rest counted. About 300 bytes
#: each, so the report stays under 5 MB whatever the task count (a browser also slows down past
#: a few tens of thousands of SVG shapes).
MAX_SPANS_DRAWN = 8_000

#: Rows in a pool's per-task lifecycle view (the first tasks submitted).
MAX_LIFECYCLE_ROWS = 60

#: Pools given a full section; the rest are listed in the pool table.
MAX_POOLS = 12

#: Categorical palette (colour-blind friendly, Okabe-Ito + Tableau) for the first task names.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#8cd17d",
    "#a0cbe8",
    "#ffbe7d",
    "#d4a6c8",
)

# Geometry of the SVG charts (viewBox units; the SVG scales to the page width).
WIDTH = 1200
LEFT = 190
RIGHT = 20
LANE_H = 22
LANE_GAP = 6
AXIS_H = 24


def _e(value: object) -> str:
    """Escape anything for HTML text and attribute values (quotes included)."""
    return html.escape(str(value), quote=True)


class _Colours:
    """A stable colour per task name: palette order for the first names, then a hash hue."""

    def __init__(self, names: Iterable[str]) -> None:
        self._colours: dict[str, str] = {}
        for i, name in enumerate(sorted(set(names))):
            if i < len(PALETTE):
                self._colours[name] = PALETTE[i]

    def __call__(self, name: str) -> str:
        colour = self._colours.get(name)
        if colour is None:
            digest = hashlib.blake2s(name.encode("utf-8", "replace"), digest_size=2).digest()
            hue = int.from_bytes(digest, "big") / 65535
            r, g, b = colorsys.hls_to_rgb(hue, 0.55, 0.55)
            colour = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
            self._colours[name] = colour
        return colour


def _nice_step(span: float, target_ticks: int = 8) -> float:
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover


def _time_label(seconds: float, step: float) -> str:
    if step >= 1:
        return f"{seconds:.0f} s"
    if step >= 1e-3:
        decimals = max(0, -math.floor(math.log10(step * 1e3)))
        return f"{seconds * 1e3:.{decimals}f} ms"
    return f"{seconds * 1e6:.0f} µs"


class _Scale:
    """Maps pool-clock seconds to x in the chart area."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end if end > start else start + 1e-6
        self.width = WIDTH - LEFT - RIGHT

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) / (self.end - self.start) * self.width

    def axis(self, y: float, height: float) -> list[str]:
        step = _nice_step(self.end - self.start)
        parts = []
        tick = 0.0
        while self.start + tick <= self.end + step * 1e-9:
            x = self.x(self.start + tick)
            parts.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + height:.1f}" '
                'class="grid"/>'
                f'<text x="{x:.1f}" y="{y + height + 14:.1f}" class="tick">'
                f"{_e(_time_label(tick, step))}</text>"
            )
            tick += step
        return parts


def _span_title(span: Span, pool_label: str, include_messages: bool = False) -> str:
    lines = [f"{span.task} — {span.outcome}", f"pool {pool_label}"]
    if span.queue_wait is not None:
        lines.append(f"queued {format_seconds(span.queue_wait)}")
    if span.started_at is not None:
        lines.append(
            f"ran {format_seconds(span.run_seconds)}, CPU {format_seconds(span.cpu_seconds)}"
        )
    if span.submitter:
        lines.append(f"submitted by {span.submitter}")
    if span.exception:
        message = span.message if include_messages and span.message else None
        lines.append(span.exception + (f": {message}" if message else ""))
    return _e("\n".join(lines))


def _lanes_svg(
    pool: PoolStats,
    spans: list[Span],
    timeline: Timeline,
    colour: _Colours,
    *,
    budget: int = MAX_SPANS_DRAWN,
    include_messages: bool = False,
) -> str:
    """Worker lanes: one row per worker plus a queue row for tasks that never ran."""
    record = pool.record
    workers = [w for w in timeline.workers if w.pool_id == record.pool_id]
    lane_of = {w.worker_id: i for i, w in enumerate(workers)}
    never_ran = [s for s in spans if s.started_at is None]
    orphans = [s for s in spans if s.started_at is not None and s.worker_id not in lane_of]
    rows = [w.thread_name for w in workers]
    if orphans:
        lane_of[-1] = len(rows)
        rows.append("(unknown worker)")
    queue_row = len(rows) if never_ran else None
    if never_ran:
        rows.append("never ran")
    times = [t for s in spans for t in (s.submitted_at, s.started_at, s.ended_at) if t is not None]
    times.extend(w.started_at for w in workers)
    if not times:
        return ""
    scale = _Scale(min(times), max(times))
    height = AXIS_H + len(rows) * (LANE_H + LANE_GAP) + 10
    body: list[str] = []
    chart_h = len(rows) * (LANE_H + LANE_GAP)
    body.extend(scale.axis(4, chart_h))
    for i, name in enumerate(rows):
        y = 4 + i * (LANE_H + LANE_GAP)
        body.append(
            f'<rect x="{LEFT}" y="{y}" width="{scale.width}" height="{LANE_H}" class="lane"/>'
            f'<text x="{LEFT - 8}" y="{y + LANE_H / 2 + 4}" class="lane-label">'
            f"{_e(_clip(name, 26))}<title>{_e(name)}</title></text>"
        )
    drawn = spans[-budget:]
    for span in drawn:
        if span.started_at is None:
            continue
        lane = lane_of.get(span.worker_id if span.worker_id in lane_of else -1, 0)
        y = 4 + lane * (LANE_H + LANE_GAP)
        x0, x1 = scale.x(span.started_at), scale.x(span.ended_at)
        width = max(x1 - x0, 0.8)
        failed = span.outcome == ERROR
        cls = ' class="fail"' if failed else ""
        body.append(
            f'<rect x="{x0:.2f}" y="{y + 1}" width="{width:.2f}" height="{LANE_H - 2}" '
            f'fill="{colour(span.task)}"{cls}><title>'
            f"{_span_title(span, record.label, include_messages)}</title>"
            "</rect>"
        )
        if failed:
            cx, cy = x0 + width / 2, y + LANE_H / 2
            body.append(
                f'<path d="M{cx - 4:.1f},{cy - 4:.1f}L{cx + 4:.1f},{cy + 4:.1f}'
                f'M{cx - 4:.1f},{cy + 4:.1f}L{cx + 4:.1f},{cy - 4:.1f}" class="cross"/>'
            )
    for worker in workers:
        y = 4 + lane_of[worker.worker_id] * (LANE_H + LANE_GAP)
        x = scale.x(worker.started_at)
        body.append(
            f'<path d="M{x:.1f},{y - 2}L{x + 5:.1f},{y - 2}L{x:.1f},{y + 6}Z" class="birth">'
            f"<title>{_e(worker.thread_name)} started at "
            f"{_e(format_seconds(worker.started_at - scale.start))}</title></path>"
        )
    if queue_row is not None:
        y = 4 + queue_row * (LANE_H + LANE_GAP)
        # Tasks cancelled together (fail-fast, shutdown(cancel_futures=True)) share one mark;
        # a count next to it says how many.
        stacked: dict[int, int] = {}
        for span in never_ran:
            key = round(scale.x(span.ended_at) / 6)
            stacked[key] = stacked.get(key, 0) + 1
        for key, count in stacked.items():
            if count > 1:
                body.append(
                    f'<text x="{key * 6 + 8}" y="{y + LANE_H / 2 + 4}" class="count">{count}</text>'
                )
        for span in never_ran:
            x = scale.x(span.ended_at)
            mark = "cancel" if span.outcome == CANCELLED else "notrun"
            body.append(
                f'<path d="M{x - 5:.1f},{y + 5}L{x + 5:.1f},{y + LANE_H - 5}M{x - 5:.1f},'
                f'{y + LANE_H - 5}L{x + 5:.1f},{y + 5}" class="{mark}">'
                f"<title>{_span_title(span, record.label, include_messages)}</title></path>"
            )
    note = ""
    if pool.tasks_total > len(drawn):
        note = (
            f'<p class="note">Drawing {len(drawn)} of the pool\'s {pool.tasks_total} tasks: the '
            + (
                (
                    f"the {len(drawn)} that kept per-span detail"
                    if len(drawn) == len(spans)
                    else f"the newest {len(drawn)} of the {len(spans)} that kept per-span detail"
                )
                + " (see the sampling rule at the top)."
                if pool.tasks_total > len(spans)
                else "the newest ones."
            )
            + "</p>"
        )
    return _svg(height, body) + note


def _step_chart(
    series: Sequence[tuple[float, float]],
    start: float,
    end: float,
    peak: float,
    *,
    css: str,
    axis_label: str,
    limit: float | None = None,
) -> str:
    """One step chart with its own y axis (0..peak): queue depth and busy workers differ in
    scale by orders of magnitude (thousands queued, four busy), so they never share one."""
    scale = _Scale(start, end)
    chart_top, chart_h = 8, 56
    peak = max(peak, limit or 0, 1e-9)

    def y(value: float) -> float:
        return chart_top + chart_h - value / peak * chart_h

    body = scale.axis(chart_top, chart_h)
    body.append(
        f'<text x="{LEFT - 8}" y="{chart_top + 10}" class="lane-label">{_e(_count(peak))}</text>'
        f'<text x="{LEFT - 8}" y="{chart_top + chart_h}" class="lane-label">0</text>'
        f'<text x="{LEFT - 8}" y="{chart_top + chart_h / 2 + 4}" class="axis-name">'
        f"{_e(axis_label)}</text>"
    )
    if limit is not None:
        body.append(
            f'<line x1="{LEFT}" y1="{y(limit):.1f}" x2="{WIDTH - RIGHT}" y2="{y(limit):.1f}" '
            'class="limit"><title>max_workers</title></line>'
        )
    points = [f"{LEFT:.1f},{y(0):.1f}"]
    previous = 0.0
    for time, value in series:
        x = scale.x(time)
        points.append(f"{x:.1f},{y(previous):.1f}")
        previous = value
        points.append(f"{x:.1f},{y(previous):.1f}")
    points.append(f"{WIDTH - RIGHT:.1f},{y(previous):.1f}")
    points.append(f"{WIDTH - RIGHT:.1f},{y(0):.1f}")
    body.append(f'<polygon points="{" ".join(points)}" class="{css}"/>')
    return _svg(chart_top + chart_h + AXIS_H, body)


def _count(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _counter_svg(
    spans: list[Span],
    record_max: int,
    pool: PoolStats | None = None,
    timeline: Timeline | None = None,
) -> str:
    """Queue depth and busy workers over time, each on its own axis. Exact steps from the spans
    when the pool kept all of them; otherwise the recorder's time-weighted bin averages."""
    activity = (
        timeline.pool_activity(pool.record.pool_id)
        if pool is not None and timeline is not None and pool.sampled
        else None
    )
    if activity is not None:
        binned = activity.series()
        if len(binned) < 2:
            return ""
        start, end = binned[0][0], binned[-1][0] + activity.width
        queued: list[tuple[float, float]] = [(t, q) for t, q, _ in binned]
        busy: list[tuple[float, float]] = [(t, b) for t, _, b in binned]
        queued.append((end, 0.0))
        busy.append((end, 0.0))
    else:
        series = counter_series(spans)
        if len(series) < 2:
            return ""
        start, end = series[0][0], series[-1][0]
        queued = [(t, float(q)) for t, q, _ in series]
        busy = [(t, float(b)) for t, _, b in series]
    peak_queued = max(v for _, v in queued)
    peak_busy = max(v for _, v in busy)
    queue_chart = _step_chart(
        queued, start, end, peak_queued, css="queue-area", axis_label="queued"
    )
    busy_chart = _step_chart(
        busy, start, end, peak_busy, css="busy-area", axis_label="busy", limit=record_max
    )
    return queue_chart + busy_chart


def _lifecycle_svg(
    spans: list[Span],
    pool_label: str,
    colour: _Colours,
    total: int | None = None,
    include_messages: bool = False,
) -> str:
    """Per-task rows: queued segment (pale, hatched) then running segment (solid)."""
    ordered = sorted(
        (s for s in spans if s.submitted_at is not None),
        key=lambda s: s.submitted_at if s.submitted_at is not None else 0.0,
    )[:MAX_LIFECYCLE_ROWS]
    if not ordered:
        return ""
    start = min(s.submitted_at for s in ordered if s.submitted_at is not None)
    end = max(s.ended_at for s in ordered)
    scale = _Scale(start, end)
    row_h, gap = 12, 3
    chart_h = len(ordered) * (row_h + gap)
    body = scale.axis(4, chart_h)
    for i, span in enumerate(ordered):
        assert span.submitted_at is not None
        y = 4 + i * (row_h + gap)
        colour_of = colour(span.task)
        queue_end = span.started_at if span.started_at is not None else span.ended_at
        x0, xq, x1 = scale.x(span.submitted_at), scale.x(queue_end), scale.x(span.ended_at)
        title = _span_title(span, pool_label, include_messages)
        body.append(
            f'<text x="{LEFT - 8}" y="{y + row_h - 2}" class="row-label">'
            f"{_e(_clip(span.task, 30))}</text>"
            f'<rect x="{x0:.2f}" y="{y}" width="{max(xq - x0, 0.5):.2f}" height="{row_h}" '
            f'class="queued"><title>{title}</title></rect>'
        )
        if span.started_at is not None:
            cls = ' class="fail"' if span.outcome == ERROR else ""
            body.append(
                f'<rect x="{xq:.2f}" y="{y}" width="{max(x1 - xq, 0.8):.2f}" height="{row_h}" '
                f'fill="{colour_of}"{cls}><title>{title}</title></rect>'
            )
        else:
            body.append(
                f'<path d="M{xq - 4:.1f},{y + 1}L{xq + 4:.1f},{y + row_h - 1}M{xq - 4:.1f},'
                f'{y + row_h - 1}L{xq + 4:.1f},{y + 1}" class="cancel"><title>{title}</title>'
                "</path>"
            )
    total = len(spans) if total is None else total
    if total > len(spans):
        note = (
            f'<p class="note">How these rows were chosen: the {len(ordered)} earliest-submitted '
            f"of the {len(spans)} tasks of this pool that kept per-span detail, out of {total} "
            "recorded (see the sampling rule at the top).</p>"
        )
    elif len(spans) > len(ordered):
        note = (
            f'<p class="note">How these rows were chosen: the first {len(ordered)} of '
            f"{len(spans)} tasks, in submit order.</p>"
        )
    else:
        note = f'<p class="note">All {len(ordered)} tasks of this pool, in submit order.</p>'
    return _svg(chart_h + AXIS_H + 8, body) + note


def _svg(height: float, body: Sequence[str]) -> str:
    # In a scrolling box with a minimum width: on a narrow screen the chart keeps a readable
    # scale (its text is in viewBox units) and scrolls sideways instead of shrinking to 6 px.
    return (
        f'<div class="chart"><svg viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'preserveAspectRatio="xMinYMin meet">{"".join(body)}</svg></div>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _speedup(value: float) -> str:
    return "&#8211;" if math.isnan(value) else f"&#215;{value:.2f}"


def _pct(value: float) -> str:
    return "&#8211;" if math.isnan(value) else f"{value:.0%}"


def _verdict_badge(share: float, verdict: str, core_load: float = math.nan) -> str:
    cls = {IO_BOUND: "io", CPU_BOUND: "cpu", MIXED: "mixed"}.get(verdict, "none")
    load = "" if math.isnan(core_load) else f" · {core_load:.2f} cores"
    return (
        f'<span class="badge {cls}">{_e(verdict)}</span> '
        f'<span class="dim">CPU {_pct(share)}{load}</span>'
    )


def _task_table(tasks: Sequence[TaskStats], colour: _Colours, with_pool: bool) -> str:
    head = "<th>pool</th>" if with_pool else ""
    rows = []
    for task in tasks:
        n = sum(task.counts.values())
        outcomes = " ".join(
            f'<span class="o-{name}">{count} {name}</span>'
            for name, count in task.counts.items()
            if count
        )
        pool_cell = f"<td>{_e(task.pool)}</td>" if with_pool else ""
        rows.append(
            f'<tr>{pool_cell}<td class="task"><i style="background:{colour(task.task)}"></i>'
            f"{_e(task.task)}</td><td class=num>{n}</td><td>{outcomes}</td>"
            + "".join(
                f"<td class=num>{format_ms(value)}</td>"
                for value in (
                    task.wait.p50,
                    task.wait.p95,
                    task.wait.p99,
                    task.run.p50,
                    task.run.p95,
                    task.run.p99,
                )
            )
            + f"<td class=num>{_pct(task.cpu_share)}</td>"
            f"<td>{_exceptions_cell(task.exceptions)}</td></tr>"
        )
    return (
        '<div class="scroll"><table class="grid-table"><thead><tr>'
        f"{head}<th>task</th><th>n</th><th>outcomes</th>"
        "<th>wait p50 ms</th><th>p95</th><th>p99</th><th>run p50 ms</th><th>p95</th><th>p99</th>"
        f"<th>CPU share</th><th>exceptions</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div>"
    )


def _exceptions_cell(exceptions: dict[str, int]) -> str:
    """Exception classes with their counts (never messages: the report is meant to be shared;
    messages appear only with ``include_messages``, in the failures table)."""
    if not exceptions:
        return ""
    return " ".join(
        f'<span class="exc">{_e(name)} <strong>&#215;{count}</strong></span>'
        for name, count in exceptions.items()
    )


#: Distinct messages shown per (task, exception class) with ``include_messages``.
MESSAGES_PER_EXCEPTION = 3


def _failures_table(pool: PoolStats, spans: list[Span], include_messages: bool) -> str:
    """Failures of one pool by task and exception class, with counts over every span;
    with ``include_messages``, up to a few distinct messages from the spans kept."""
    rows = []
    messages: dict[tuple[str, str], list[str]] = {}
    if include_messages:
        for span in spans:
            if span.exception is None or span.message is None:
                continue
            seen = messages.setdefault((span.task, span.exception), [])
            if span.message not in seen and len(seen) < MESSAGES_PER_EXCEPTION:
                seen.append(span.message)
    for task in pool.tasks:
        for name, count in task.exceptions.items():
            cell = ""
            if include_messages:
                cell = (
                    "<td>"
                    + "<br>".join(
                        f"<code>{_e(m)}</code>" for m in messages.get((task.task, name), [])
                    )
                    + "</td>"
                )
            rows.append(
                f'<tr><td class="task">{_e(task.task)}</td><td>{_e(name)}</td>'
                f"<td class=num>{count}</td>{cell}</tr>"
            )
    if not rows:
        return ""
    head = "<th>messages (examples)</th>" if include_messages else ""
    hint = (
        ""
        if include_messages
        else "<p class=hint>Exception messages are left out (they may hold user data); "
        "<code>--include-messages</code> adds examples.</p>"
    )
    return (
        "<h3>Failures</h3>" + hint + '<div class="scroll"><table class="grid-table">'
        f"<thead><tr><th>task</th><th>exception</th><th>count</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


#: How the report names the model's work types, and the badge colour of each.
_WORK_TYPES = {
    "io": ("I/O-bound", "io"),
    "gil": ("GIL-bound CPU", "cpu"),
    "cpu_parallel": ("CPU in GIL-free code", "cpu"),
    "mixed": ("mixed CPU and waiting", "mixed"),
    "unknown": ("cannot tell", "none"),
}


def _claim(estimate: Estimate, ratio: bool) -> str:
    """A model claim: its value, or "cannot tell" with the range (docs/profiler-model.md)."""

    def fmt(value: float) -> str:
        return _speedup(value) if ratio else _e(format_seconds(value))

    if estimate.value is not None:
        return fmt(estimate.value)
    if math.isnan(estimate.low) or math.isnan(estimate.high):
        return "cannot tell"
    return f"cannot tell <span class=dim>({fmt(estimate.low)}&#8211;{fmt(estimate.high)})</span>"


def _model_badge(model: PoolModel) -> str:
    name, cls = _WORK_TYPES[model.work_type]
    return f'<span class="badge {cls}">{_e(name)}</span>'


def _headline_claims(analysis: Analysis) -> list[str]:
    """The top cards: one pool's claims when one pool did the work, else "per pool" (a sum of
    run times over pools would be the very claim the model replaces)."""
    busy = [p for p in analysis.pools if p.run.count]
    if len(busy) == 1 and busy[0].model is not None:
        model = busy[0].model
        name, cls = _WORK_TYPES[model.work_type]
        return [
            _card(
                "speedup vs serial",
                _claim(model.speedup, ratio=True),
                f"serial {_claim(model.serial_seconds, ratio=False)} (the model)",
            ),
            _card(
                "work type",
                f'<span class="badge big {cls}">{_e(name)}</span>',
                f"CPU share {_pct(analysis.cpu_share)} · core load "
                + ("&#8211;" if math.isnan(analysis.core_load) else f"{analysis.core_load:.2f}"),
            ),
        ]
    return [
        _card("speedup vs serial", "per pool", "see each pool: the model's claim"),
        _card("work type", "per pool", f"CPU share {_pct(analysis.cpu_share)} overall"),
    ]


def _model_whatif_table(pool: PoolStats, model: PoolModel) -> str:
    """The model's what-if: contention- and dependency-aware, "cannot tell" with a range."""
    worst = max((w.high for w in model.what_if if not math.isnan(w.high)), default=1.0) or 1.0
    rows = []
    for row in model.what_if:
        shown = row.predicted_wall_seconds if row.predicted_wall_seconds is not None else row.high
        bar = shown / worst * 100 if not math.isnan(shown) else 0.0
        mark = ' class="recorded"' if row.recorded else ""
        label = f"{row.max_workers}" + (" (recorded)" if row.recorded else "")
        if row.recorded:
            # The recorded size was measured, not predicted: show the measurement even where
            # the model cannot tell what another run of the same size would take.
            value = f"{_e(format_seconds(pool.wall))} measured"
        elif row.predicted_wall_seconds is not None:
            value = _e(format_seconds(row.predicted_wall_seconds))
        else:
            value = "cannot tell"
        rows.append(
            f"<tr{mark}><td class=num>{label}</td><td class=num>{value}</td>"
            f"<td class=num>{_e(format_seconds(row.low))}&#8211;"
            f"{_e(format_seconds(row.high))}</td>"
            f'<td class="bar-cell"><div class="bar" style="width:{bar:.1f}%"></div></td></tr>'
        )
    return (
        '<table class="grid-table whatif"><thead><tr><th>max_workers</th><th>predicted wall</th>'
        f"<th>range</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p class=note>Measured {_e(format_seconds(pool.wall))} at the recorded max_workers; the "
        f"replay there is scaled to it (calibration &#215;{model.calibration:.2f}). "
        f"{_e(MODEL_STATEMENT)}. See docs/profiler-model.md; where it says cannot tell, "
        "<code>tpe-insight sweep</code> measures.</p>"
    )


def _work_type_card(share: float, verdict: str, core_load: float) -> str:
    cls = {IO_BOUND: "io", CPU_BOUND: "cpu", MIXED: "mixed"}.get(verdict, "none")
    load = "&#8211;" if math.isnan(core_load) else f"{core_load:.2f}"
    return _card(
        "work type",
        f'<span class="badge big {cls}">{_e(verdict)}</span>',
        f"CPU share {_pct(share)} · core load {load}",
    )


def _card(label: str, value: str, sub: str = "") -> str:
    return (
        f'<div class="card"><div class="card-label">{label}</div>'
        f'<div class="card-value">{value}</div><div class="card-sub">{sub}</div></div>'
    )


def _pool_section(
    pool: PoolStats,
    analysis: Analysis,
    colour: _Colours,
    budget: int = MAX_SPANS_DRAWN,
    include_messages: bool = False,
) -> str:
    record = pool.record
    spans = [s for s in analysis.timeline.spans if s.pool_id == record.pool_id]
    counts = " · ".join(f"{n} {name}" for name, n in pool.counts.items() if n) or "no tasks"
    heading = (
        f'<section class="pool" id="pool-{record.pool_id}">'
        f"<h2>pool <code>{_e(record.label)}</code> <span class=dim>#{record.pool_id} · "
        f"max_workers={record.max_workers} · {pool.workers_started} worker(s) started</span></h2>"
    )
    if pool.tasks_total == 0:
        return (
            heading
            + '<p class="empty">This pool ran no tasks: it was created (and '
            + ("shut down" if record.shutdown_at is not None else "not shut down")
            + ") without a task being submitted to it, so it has no timings.</p></section>"
        )
    model = pool.model
    if model is not None:
        speedup_card = _card(
            "speedup vs serial",
            _claim(model.speedup, ratio=True),
            f"serial {_claim(model.serial_seconds, ratio=False)} (the model)",
        )
        name, cls = _WORK_TYPES[model.work_type]
        work_card = _card(
            "work type",
            f'<span class="badge big {cls}">{_e(name)}</span>',
            f"{_e(model.reason)} · CPU share {_pct(pool.cpu_share)}",
        )
    else:
        speedup_card = _card(
            "speedup vs serial",
            "cannot tell",
            "the model did not read this pool",
        )
        work_card = _work_type_card(pool.cpu_share, pool.verdict, pool.core_load)
    parts = [
        heading,
        '<div class="cards">',
        _card("tasks", str(pool.tasks_total), _e(counts)),
        _card("wall", _e(format_seconds(pool.wall)), "first submit → last end"),
        speedup_card,
        _card("utilisation", _pct(pool.utilisation), f"peak {pool.peak_busy} running"),
        work_card,
        _card(
            "queue", f"{pool.peak_queued}", f"peak queued · p95 wait {format_ms(pool.wait.p95)} ms"
        ),
        "</div>",
    ]
    lanes = _lanes_svg(
        pool,
        spans,
        analysis.timeline,
        colour,
        budget=budget,
        include_messages=include_messages,
    )
    if lanes:
        parts.append(
            "<h3>Worker lanes</h3><p class=hint>One row per worker thread; a box is a task run "
            "(hover for details), empty lane is idle time, the green tick is the worker's birth, "
            "red outline and cross a failure, grey cross a task that never ran.</p>" + lanes
        )
    chart = _counter_svg(spans, record.max_workers, pool, analysis.timeline)
    if chart:
        how = (
            "time-weighted averages over equal time bins, covering every task (only a sample "
            "kept its own detail)"
            if pool.sampled
            else "exact, from every task"
        )
        parts.append(
            "<h3>Queue depth and busy workers</h3><p class=hint><span class=key-queue></span>"
            "queued tasks (top), <span class=key-busy></span>busy workers (bottom, "
            f"<span class=key-limit></span>max_workers), each on its own axis; {how}.</p>" + chart
        )
    lifecycle = _lifecycle_svg(spans, record.label, colour, pool.tasks_total, include_messages)
    if lifecycle:
        parts.append(
            "<h3>Task lifecycles</h3><p class=hint>Each row is one task: hatched while queued "
            "(submitted, waiting for a worker), solid while running.</p>" + lifecycle
        )
    if pool.tasks:
        parts.append("<h3>Per task</h3>" + _task_table(pool.tasks, colour, with_pool=False))
        parts.append(_failures_table(pool, spans, include_messages))
    if model is not None and model.what_if:
        sampled_note = (
            "<p class=note>Only a sample of this pool's spans kept their detail "
            f"({len(spans)} of {pool.tasks_total}), and the replay needs every task: the model "
            "read the exact totals and gives ranges, not numbers. <code>tpe-insight sweep</code> "
            "measures other max_workers instead.</p>"
            if pool.sampled
            else ""
        )
        parts.append(
            "<h3>What if max_workers were…</h3>" + sampled_note + _model_whatif_table(pool, model)
        )
    parts.append("</section>")
    return "".join(parts)


def _lints_section(found: Sequence[lints.Lint]) -> str:
    if not found:
        return '<section><h2>Lints</h2><p class="ok">No lint fired.</p></section>'
    items = []
    for lint in found:
        detail = f"<pre>{_e(lint.detail.rstrip())}</pre>" if lint.detail.strip() else ""
        items.append(
            f'<li class="lint lint-{_e(lint.code)}"><b>{_e(lint.code)}</b> '
            f"<code>{_e(lint.pool)}</code> {_e(lint.message)}{detail}</li>"
        )
    return f"<section><h2>Lints</h2><ul class=lints>{''.join(items)}</ul></section>"


def _pools_table(analysis: Analysis) -> str:
    rows = []
    for pool in analysis.pools:
        r = pool.record
        if pool.tasks_total == 0:
            rows.append(
                f'<tr><td><a href="#pool-{r.pool_id}">{_e(r.label)}</a></td>'
                f"<td class=num>#{r.pool_id}</td><td class=num>{r.max_workers}</td>"
                '<td class=num>0</td><td colspan=6 class="dim">no tasks ran in this pool</td></tr>'
            )
            continue
        if pool.model is not None:
            speedup = _claim(pool.model.speedup, ratio=True)
            badge = _model_badge(pool.model)
        else:
            speedup = "cannot tell"
            badge = _verdict_badge(pool.cpu_share, pool.verdict, pool.core_load)
        rows.append(
            f'<tr><td><a href="#pool-{r.pool_id}">{_e(r.label)}</a></td>'
            f"<td class=num>#{r.pool_id}</td>"
            f"<td class=num>{r.max_workers}</td><td class=num>{pool.tasks_total}</td>"
            f"<td class=num>{_e(format_seconds(pool.wall))}</td>"
            f"<td class=num>{speedup}</td>"
            f"<td class=num>{_pct(pool.utilisation)}</td>"
            f"<td class=num>{format_ms(pool.wait.p95)}</td>"
            f"<td class=num>{format_ms(pool.run.p95)}</td>"
            f"<td>{badge}</td></tr>"
        )
    return (
        '<div class="scroll"><table class="grid-table pools-table"><thead><tr><th>pool</th>'
        "<th>id</th>"
        "<th>max_workers</th>"
        "<th>tasks</th><th>wall</th><th>speedup</th><th>utilisation</th><th>wait p95 ms</th>"
        f"<th>run p95 ms</th><th>work type</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div>"
    )


#: Shared SVG definitions (the hatch of queued segments), referenced by id from every chart.
DEFS = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eceff3"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#c3c9d2" stroke-width="2"/></pattern>'
    "</defs></svg>"
)

CSS = """
:root{--fg:#1f2328;--dim:#656d76;--line:#d0d7de;--bg:#f6f8fa;--card:#fff;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1260px;margin:0 auto;padding:24px 28px 60px}
@media (max-width:900px){main{padding:12px 10px 40px}section{padding:14px 12px}}
@media (min-width:1800px){main{max-width:1760px}}
.chart{overflow-x:auto}.chart svg{min-width:940px}
header h1{font-size:24px;margin:0 0 2px}header p{margin:0;color:var(--dim)}
h2{font-size:18px;margin:0 0 12px}h3{font-size:14px;margin:22px 0 4px;color:#333}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;
margin:18px 0;box-shadow:0 1px 2px rgba(0,0,0,.04)}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff1f3;
padding:1px 5px;border-radius:4px}
.dim{color:var(--dim);font-weight:normal;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fbfcfd}
.card-label{font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
.card-value{font-size:22px;font-weight:600;margin:2px 0}.card-sub{font-size:12px;color:var(--dim)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.big{font-size:16px;padding:2px 10px;margin:3px 0}
.badge.io{background:#dafbe1;color:#116329}.badge.cpu{background:#ffebe9;color:#a40e26}
.badge.mixed{background:#fff8c5;color:#7d4e00}.badge.none{background:#eee;color:#666}
.hint,.note{color:var(--dim);font-size:12.5px;margin:2px 0 6px}
svg{display:block;margin:4px 0 8px;font:13px system-ui,sans-serif}
.lane{fill:#f3f4f6;stroke:#e5e7eb}.lane-label,.row-label{text-anchor:end;fill:#444}
.row-label{font-size:11px}.grid{stroke:#e5e7eb;stroke-dasharray:2 3}
.tick{fill:#777;text-anchor:middle;font-size:12px}.count{fill:#555;font-size:11px;font-weight:600}
rect.fail{stroke:#d62728;stroke-width:2}.cross{stroke:#fff;stroke-width:2}
.birth{fill:#2ca02c}.cancel{stroke:#7f7f7f;stroke-width:2}.notrun{stroke:#d62728;stroke-width:2}
.queued{fill:url(#hatch);stroke:#c9ced6;stroke-width:.5}
.queue-area{fill:rgba(242,142,43,.25);stroke:#f28e2b;stroke-width:1}
.busy-line{fill:none;stroke:#4e79a7;stroke-width:1.8}.limit{stroke:#a40e26;stroke-dasharray:5 4}
.key-queue,.key-busy,.key-limit{display:inline-block;width:14px;height:8px;margin:0 4px 0 10px;
vertical-align:middle}.key-queue{background:rgba(242,142,43,.35);border:1px solid #f28e2b}
.key-busy{border-top:2px solid #4e79a7}.key-limit{border-top:2px dashed #a40e26}
table.grid-table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
.grid-table th{text-align:left;font-weight:600;color:var(--dim);border-bottom:1px solid var(--line);
padding:5px 8px;white-space:nowrap}
.grid-table td{border-bottom:1px solid #eef0f2;padding:5px 8px;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.task{min-width:14em;overflow-wrap:anywhere}.pools-table td:last-child{white-space:nowrap}
td.task i{display:inline-block;width:10px;height:10px;
border-radius:2px;margin-right:6px}
.o-error,.o-not_run{color:#a40e26}.o-cancelled{color:#666}
.whatif{max-width:760px}.whatif tr.recorded td{font-weight:700;background:#f0f6ff}
.bar-cell{width:45%}.bar{height:10px;background:#4e79a7;border-radius:2px;opacity:.75}
ul.lints{margin:0;padding:0;list-style:none}
.lint{border-left:4px solid #bf8700;background:#fff8e6;padding:8px 12px;margin:8px 0;
border-radius:0 6px 6px 0}.lint-stuck,.lint-cpu-bound{border-color:#cf222e;background:#fff0ef}
.lint pre{background:#1f2328;color:#e6edf3;padding:10px;border-radius:6px;overflow:auto;
font-size:12px;max-height:320px;white-space:pre-wrap}
.scroll{overflow-x:auto}.exc{white-space:nowrap;margin-right:8px}
.empty{color:var(--dim);font-style:italic}.axis-name{text-anchor:end;fill:#888;font-size:10px}
.busy-area{fill:rgba(78,121,167,.25);stroke:#4e79a7;stroke-width:1.2}
.ok{color:#116329}.warn{color:#a40e26}footer{color:var(--dim);font-size:12px;margin-top:24px}
"""


def render_report(
    timeline: Timeline | Analysis,
    *,
    title: str = "tpe-insight report",
    include_messages: bool = False,
) -> str:
    """The whole report as one HTML string. Exception messages are left out unless
    ``include_messages`` (the report is meant to be shared; classes and counts always show)."""
    analysis = timeline if isinstance(timeline, Analysis) else analyse(timeline)
    colour = _Colours(s.task for s in analysis.timeline.spans)
    counts = analysis.counts
    total = sum(counts.values())
    found = list(lints.check(analysis))
    ranked = sorted(analysis.pools, key=lambda p: (-p.run_total, -p.tasks_total))[:MAX_POOLS]
    shown = sorted(ranked, key=lambda p: p.record.pool_id)
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    outcome_text = " · ".join(f"{n} {name}" for name, n in counts.items() if n) or "no tasks"
    dropped = analysis.timeline.dropped
    cards = [
        _card(
            "pools", str(len(analysis.pools)), f"{len(analysis.timeline.workers)} workers started"
        ),
        _card("tasks", str(total), _e(outcome_text)),
        _card("wall", _e(format_seconds(analysis.wall)), "first submit → last end"),
        *_headline_claims(analysis),
        _card(
            "per-span detail",
            f"{len(analysis.timeline.spans)}",
            f"of {analysis.timeline.recorded} tasks recorded"
            + (f" · {dropped} counted only" if dropped else " · all of them"),
        ),
    ]
    verdict_text = (
        "CPU share is thread CPU time ÷ run time; core load is CPU time ÷ the time at least one "
        "task ran (cores kept busy). The work type, serial time, speedup and what-if are the "
        "model's claims (docs/profiler-model.md): a task's run time under concurrency includes "
        "waiting for the GIL and for a core, so the sum of run times is not the serial time. "
        f"{MODEL_STATEMENT}."
    )
    body = [
        "<header><h1>",
        _e(title),
        f"</h1><p>{len(analysis.pools)} pool(s) · {total} task(s) · generated {_e(generated)}"
        "</p></header>",
        f'<section><div class="cards">{"".join(cards)}</div>'
        f"<p class=note>{_e(verdict_text)}</p>{_sample_note(analysis.timeline)}</section>",
        _lints_section(found),
        f"<section><h2>Pools</h2>{_pools_table(analysis)}</section>" if analysis.pools else "",
    ]
    budget = max(200, MAX_SPANS_DRAWN // max(1, len(shown)))
    body.extend(_pool_section(pool, analysis, colour, budget, include_messages) for pool in shown)
    if len(analysis.pools) > len(shown):
        body.append(
            f"<p class=note>{len(analysis.pools) - len(shown)} smaller pool(s) have no section; "
            "they are in the pool table.</p>"
        )
    if analysis.tasks:
        body.append(
            "<section><h2>All tasks, by pool label</h2>"
            + _task_table(analysis.tasks, colour, with_pool=True)
            + "</section>"
        )
    body.append(
        "<footer>Times are the pools' clocks (time.perf_counter). Open trace.json in "
        "ui.perfetto.dev or chrome://tracing for the zoomable timeline with flow arrows from "
        "submitter to worker.</footer>"
    )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        # Belt and braces for "no network": even a bug that emitted a URL could not fetch it.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{DEFS}<main>"
        + "".join(body)
        + "</main></body></html>\n"
    )


def write_report(
    timeline: Timeline | Analysis, path: Path, *, include_messages: bool = False
) -> Path:
    """Write the report to ``path`` (UTF-8); return ``path``."""
    path.write_text(render_report(timeline, include_messages=include_messages), encoding="utf-8")
    return path


def _sample_note(timeline: Timeline) -> str:
    """Which tasks the pictures show, when they do not show every one."""
    if timeline.dropped == 0:
        return ""
    rule = timeline.sample_rule
    how = rule.describe() if rule is not None else "the others were dropped"
    return (
        f'<p class="note sample"><strong>Sampled detail.</strong> {len(timeline.spans)} of '
        f"{timeline.recorded} tasks kept their own timings (lanes, lifecycles, trace slices): "
        f"{_e(how)}.</p>"
    )
