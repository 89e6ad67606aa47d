"""``tpe-insight sweep``: measure a program at several ``max_workers`` instead of predicting.

For each requested worker count, and each repeat, the program is started afresh as
``tpe-insight run`` in a child interpreter with ``max_workers`` forced through the environment
(:mod:`tpe_insight._forced`) for one pool label, or for every pool. Rounds are interleaved
(repeat 1 at every count, then repeat 2, ...) so a drift of the machine hits every count alike.
Two wall times per run:

* **pool wall**: the active span of the chosen pools in the run's own profile, first submit to
  last end (all pools when no ``--pool`` is given);
* **program wall**: the child process from start to exit, as the parent measures it (includes
  interpreter start-up and the profiler's post-processing).

The table shows each count's median pool wall and its spread (min-max over the repeats) beside
the prediction made from the profile of the first run at the first count (the model's what-if,
:func:`tpe_insight.profiler.model.model_pool`: the one source of every prediction the outputs
show), and recommends the fewest workers whose median is within :data:`GOOD_ENOUGH` of the
fastest. The program's stdout and stderr go to files beside each run's profile (never into the
table); a run that exits non-zero or leaves no profile is reported, with the tail of its stderr.
Everything is written to ``sweep.json`` (schema: :data:`SCHEMA`, version :data:`VERSION`).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tpe_insight._forced import ENV_MAX_WORKERS, ENV_POOL
from tpe_insight.profiler.model import model_pool
from tpe_insight.profiler.stats import PoolStats, analyse
from tpe_insight.profiler.timeline import Timeline
from tpe_insight.profiler.trace import TraceError, read_trace

__all__ = [
    "DEFAULT_WORKERS",
    "GOOD_ENOUGH",
    "SCHEMA",
    "SWEEP_FILE",
    "VERSION",
    "RunResult",
    "SweepResult",
    "parse_workers",
    "pool_wall",
    "predict_wall",
    "run_sweep",
]

SCHEMA = "tpe-insight-sweep"
SWEEP_FILE = "sweep.json"
VERSION = 1

DEFAULT_WORKERS = (1, 2, 4, 8)

#: A worker count is recommended when its median pool wall is within this fraction of the
#: fastest median: fewer threads for (nearly) the same time.
GOOD_ENOUGH = 0.05

#: Lines of a failed run's stderr shown in the table's failure notes.
STDERR_TAIL = 5


def parse_workers(text: str) -> list[int]:
    """``"1,2,4,8"`` -> ``[1, 2, 4, 8]``; ValueError naming the bad item."""
    values: list[int] = []
    for raw in text.split(","):
        item = raw.strip()
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"--workers: {item!r} is not an integer") from None
        if value < 1:
            raise ValueError(f"--workers: {value} is not a positive worker count")
        if value not in values:
            values.append(value)
    if not values:
        raise ValueError("--workers needs at least one worker count")
    return values


@dataclass
class RunResult:
    """One run of the program at one worker count."""

    max_workers: int
    repeat: int
    exit_code: int | None  # None: it timed out
    program_wall_seconds: float
    pool_wall_seconds: float | None  # None: no profile, or no matching pool ran a task
    out_dir: Path
    stderr_tail: str = ""

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or self.pool_wall_seconds is None


@dataclass
class SweepResult:
    """Every run, grouped per worker count, plus the predictions and the recommendation."""

    program: list[str]
    pool: str | None
    workers: list[int]
    repeat: int
    runs: list[RunResult] = field(default_factory=list)
    predicted: dict[int, float | None] = field(default_factory=dict)
    predicted_from: int | None = None
    prediction_note: str = ""

    def of(self, max_workers: int) -> list[RunResult]:
        return [r for r in self.runs if r.max_workers == max_workers]

    def median(self, max_workers: int) -> float | None:
        walls = [
            r.pool_wall_seconds for r in self.of(max_workers) if r.pool_wall_seconds is not None
        ]
        return statistics.median(walls) if walls else None

    def recommendation(self) -> tuple[int | None, str]:
        medians = {k: m for k in self.workers if (m := self.median(k)) is not None}
        if not medians:
            return None, "no run measured the pool: see the failures"
        best = min(medians.values())
        for k in sorted(medians):
            if medians[k] <= best * (1 + GOOD_ENOUGH):
                fastest = min(medians, key=lambda w: medians[w])
                if k == fastest:
                    return k, "the fastest median"
                return k, (
                    f"the fewest workers within {GOOD_ENOUGH:.0%} of the fastest median "
                    f"(max_workers={fastest})"
                )
        return None, "no recommendation"  # pragma: no cover - best is always within

    def to_dict(self) -> dict[str, Any]:
        recommended, reason = self.recommendation()
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "program": self.program,
            "pool": self.pool,
            "repeat": self.repeat,
            "predicted_from_max_workers": self.predicted_from,
            "prediction_note": self.prediction_note,
            "results": [
                {
                    "max_workers": k,
                    "pool_wall_seconds": [r.pool_wall_seconds for r in self.of(k)],
                    "program_wall_seconds": [r.program_wall_seconds for r in self.of(k)],
                    "exit_codes": [r.exit_code for r in self.of(k)],
                    "median_pool_wall_seconds": self.median(k),
                    "predicted_wall_seconds": self.predicted.get(k),
                }
                for k in self.workers
            ],
            "failures": [
                {
                    "max_workers": r.max_workers,
                    "repeat": r.repeat,
                    "exit_code": r.exit_code,
                    "profile": str(r.out_dir),
                    "stderr_tail": r.stderr_tail,
                }
                for r in self.runs
                if r.failed
            ],
            "recommendation": {"max_workers": recommended, "reason": reason},
        }


def _matching(stats: Sequence[PoolStats], pool: str | None) -> list[PoolStats]:
    return [p for p in stats if pool is None or p.record.label == pool]


def pool_wall(timeline: Timeline, pool: str | None) -> float | None:
    """First submit to last end over the pools labelled ``pool`` (every pool when None) that
    ran a task; None when none did."""
    chosen = [p for p in _matching(analyse(timeline).pools, pool) if p.run.count]
    if not chosen:
        return None
    chosen_ids = {p.record.pool_id for p in chosen}
    starts: list[float] = []
    ends: list[float] = []
    for totals in timeline.task_totals():
        if totals.pool_id in chosen_ids and totals.run.count:
            starts.append(totals.first_submit)
            ends.append(totals.last_end)
    return max(ends) - min(starts) if starts else None


def predict_wall(
    timeline: Timeline, pool: str | None, workers: Sequence[int]
) -> tuple[dict[int, float | None], str]:
    """Predicted pool wall per worker count from one recorded run, and a note saying how.

    The prediction is the model's what-if (:mod:`tpe_insight.profiler.model`,
    docs/profiler-model.md) for the busiest matching pool (most run time); None where the model
    cannot tell (the note then gives the range).
    """
    chosen = [p for p in _matching(analyse(timeline).pools, pool) if p.run.count]
    if not chosen:
        return dict.fromkeys(workers), "cannot tell: the recorded run has no matching pool"
    busiest = max(chosen, key=lambda p: p.run_total)
    spans = [
        s
        for s in timeline.spans
        if s.pool_id == busiest.record.pool_id and s.started_at is not None
    ]
    # A sampled pool too: the model then reads the totals and gives ranges (cannot tell).
    made = model_pool(timeline, busiest.record, spans, workers=list(workers)).what_if
    by_workers = {w.max_workers: w.predicted_wall_seconds for w in made}
    note = (
        f"predicted by the model for pool {busiest.record.label!r} #{busiest.record.pool_id} "
        f"from the run at max_workers={busiest.record.max_workers}"
    )
    ranges = [
        f"{w.max_workers}: {w.low:.3g}-{w.high:.3g} s"
        for w in made
        if w.predicted_wall_seconds is None
    ]
    if ranges:
        note += "; cannot tell (range) at " + ", ".join(ranges)
    if busiest.sampled:
        note += " (only a sample of its spans kept their detail: the model read the totals)"
    if len(chosen) > 1:
        note += f" (the busiest of {len(chosen)} matching pools)"
    return {k: by_workers.get(k) for k in workers}, note


def _tail(path: Path, lines: int = STDERR_TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run_once(
    program: list[str],
    max_workers: int,
    repeat: int,
    *,
    pool: str | None,
    out: Path,
    timeout: float | None,
) -> RunResult:
    run_dir = out / "runs" / f"workers-{max_workers}-repeat-{repeat}"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, ENV_MAX_WORKERS: str(max_workers), ENV_POOL: pool or ""}
    # The child must import this tpe_insight, wherever the parent found it.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
    )
    command = [sys.executable, "-m", "tpe_insight.cli", "run", "--out", str(run_dir), *program]
    exit_code: int | None
    with (
        (run_dir / "stdout.txt").open("wb") as stdout,
        (run_dir / "stderr.txt").open("wb") as stderr,
    ):
        started = time.perf_counter()
        try:
            exit_code = subprocess.run(
                command, stdout=stdout, stderr=stderr, env=env, timeout=timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            exit_code = None
        wall = time.perf_counter() - started
    measured: float | None = None
    try:
        measured = pool_wall(read_trace(run_dir / "trace.json"), pool)
    except TraceError:
        measured = None
    result = RunResult(max_workers, repeat, exit_code, wall, measured, run_dir)
    if result.failed:
        result.stderr_tail = _tail(run_dir / "stderr.txt")
    return result


def run_sweep(
    program: list[str],
    *,
    workers: Sequence[int] = DEFAULT_WORKERS,
    repeat: int = 3,
    pool: str | None = None,
    out: Path,
    timeout: float | None = None,
    progress: TextIO | None = None,
) -> SweepResult:
    """Run ``program`` (``script.py args…`` or ``-m module args…``) ``repeat`` times at each
    worker count; write ``out/sweep.json`` and return the result."""
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")
    out.mkdir(parents=True, exist_ok=True)
    result = SweepResult(list(program), pool, list(workers), repeat)
    for r in range(1, repeat + 1):
        for k in workers:
            if progress is not None:
                print(
                    f"tpe-insight sweep: max_workers={k}, repeat {r}/{repeat}…",
                    file=progress,
                    flush=True,
                )
            run = _run_once(list(program), k, r, pool=pool, out=out, timeout=timeout)
            result.runs.append(run)
    baseline = next((run for run in result.runs if not run.failed), None)
    if baseline is not None:
        try:
            timeline = read_trace(baseline.out_dir / "trace.json")
            result.predicted, result.prediction_note = predict_wall(timeline, pool, workers)
            result.predicted_from = baseline.max_workers
        except TraceError as exc:
            result.prediction_note = f"cannot tell: {exc}"
    else:
        result.predicted = dict.fromkeys(workers)
        result.prediction_note = "cannot tell: no run succeeded"
    (out / SWEEP_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result


def _seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1e3:.1f} ms"


def render_table(result: SweepResult) -> str:
    """The table ``tpe-insight sweep`` prints (its own stdout; the program's is in files)."""
    target = f"pool {result.pool!r}" if result.pool else "all pools"
    lines = [
        f"tpe-insight sweep: {' '.join(result.program)} — {target}, "
        f"{result.repeat} repeat(s) per max_workers",
        f"  {'max_workers':>11}  {'pool wall (median)':>18}  {'spread (min-max)':>19}  "
        f"{'program wall':>12}  {'predicted':>10}  {'failed':>6}",
    ]
    for k in result.workers:
        runs = result.of(k)
        walls = [r.pool_wall_seconds for r in runs if r.pool_wall_seconds is not None]
        spread = f"{_seconds(min(walls))}-{_seconds(max(walls))}" if walls else "-"
        programs = statistics.median(r.program_wall_seconds for r in runs) if runs else None
        failed = sum(1 for r in runs if r.failed)
        lines.append(
            f"  {k:>11}  {_seconds(result.median(k)):>18}  {spread:>19}  "
            f"{_seconds(programs):>12}  {_seconds(result.predicted.get(k)):>10}  {failed:>6}"
        )
    lines.append(f"  predictions: {result.prediction_note}")
    recommended, reason = result.recommendation()
    if recommended is not None:
        lines.append(f"recommendation: max_workers={recommended} ({reason})")
    else:
        lines.append(f"recommendation: none ({reason})")
    for run in result.runs:
        if run.failed:
            why = (
                "timed out"
                if run.exit_code is None
                else f"exit code {run.exit_code}"
                if run.exit_code
                else "no matching pool ran a task"
            )
            lines.append(
                f"FAILED max_workers={run.max_workers} repeat {run.repeat}: {why} "
                f"(output in {run.out_dir})"
            )
            lines.extend(f"    {line}" for line in run.stderr_tail.splitlines())
    return "\n".join(lines)
