"""``make bench-profiler``: the profiler's price at scale, against the plain run, same session.

For each task count, rounds alternate ``python noop_tasks.py N`` (plain) and
``tpe-insight run --out DIR noop_tasks.py N`` (profiled), each a fresh interpreter; per run it
measures the wall time (parent's clock, start to exit), the child's peak RSS (``os.wait4``'s
``ru_maxrss``: per child, not the max over all children), and for the profiled runs the
post-processing time (from the moment the program's last stdout line arrives, which
``tpe-insight run`` flushes as soon as the program returns, to exit) and the sizes of
``trace.json`` and ``report.html``. Prints medians and the ratio profiled ÷ plain and writes
``.benchmarks/profiler-scale.json``.

Targets (issue 9): 50k no-op tasks within 2x the plain wall and under 150 MB RSS; any count:
trace.json <= 20 MB, report.html <= 5 MB, memory bounded (1M tasks).

    python -m benchmarks.profiler_scale [--tasks 50000,1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROGRAM = Path(__file__).resolve().parent / "programs" / "noop_tasks.py"
ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``; wall, peak RSS (MB), and when its last stdout line arrived."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    last_line_at: list[float] = [started]
    stderr_chunks: list[bytes] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for _line in process.stdout:
            last_line_at[0] = time.perf_counter()

    def read_stderr() -> None:
        assert process.stderr is not None
        stderr_chunks.append(process.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    ended = time.perf_counter()
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(
            f"{command} exited {process.returncode}: {b''.join(stderr_chunks)[-2000:]!r}"
        )
    return {
        "wall_seconds": ended - started,
        "rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        # The child's CPU time (user + system): on a loaded machine, steadier than the wall.
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "after_last_line_seconds": ended - last_line_at[0],
    }


def measure(tasks: int, rounds: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)
    # As on a user's machine: imports read cached bytecode (compiled once, below) instead of
    # compiling tpe_insight, prometheus_client and structlog in every run (about 0.5 s here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "tpe_insight")], env=env, check=True
    )
    plain: list[dict[str, Any]] = []
    profiled: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tpe-bench-profiler-") as tmp:
        out = Path(tmp) / "out"
        for r in range(rounds):
            # Alternate which goes first, so a drift of the machine hits both alike.
            order = ("plain", "profiled") if r % 2 == 0 else ("profiled", "plain")
            for which in order:
                if which == "plain":
                    plain.append(_run([sys.executable, str(PROGRAM), str(tasks)], env))
                else:
                    command = [sys.executable, "-m", "tpe_insight.cli", "run", "--out", str(out)]
                    result = _run([*command, str(PROGRAM), str(tasks)], env)
                    result["trace_mb"] = (out / "trace.json").stat().st_size / 2**20
                    result["report_mb"] = (out / "report.html").stat().st_size / 2**20
                    profiled.append(result)
    ratios = [p["wall_seconds"] / q["wall_seconds"] for p, q in zip(profiled, plain, strict=True)]
    cpu_ratios = [p["cpu_seconds"] / q["cpu_seconds"] for p, q in zip(profiled, plain, strict=True)]

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    return {
        "tasks": tasks,
        "rounds": rounds,
        "plain": plain,
        "profiled": profiled,
        "median": {
            "plain_wall_seconds": med(plain, "wall_seconds"),
            "profiled_wall_seconds": med(profiled, "wall_seconds"),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "plain_cpu_seconds": med(plain, "cpu_seconds"),
            "profiled_cpu_seconds": med(profiled, "cpu_seconds"),
            "cpu_ratio": statistics.median(cpu_ratios),
            "cpu_ratio_min": min(cpu_ratios),
            "cpu_ratio_max": max(cpu_ratios),
            "plain_rss_mb": med(plain, "rss_mb"),
            "profiled_rss_mb": med(profiled, "rss_mb"),
            "post_processing_seconds": med(profiled, "after_last_line_seconds"),
            "trace_mb": med(profiled, "trace_mb"),
            "report_mb": med(profiled, "report_mb"),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="50000,1000000", help="comma-separated task counts")
    parser.add_argument("--rounds", type=int, default=3, help="plain/profiled pairs per count")
    parser.add_argument("--json", type=Path, default=ROOT / ".benchmarks" / "profiler-scale.json")
    args = parser.parse_args(argv)
    results = []
    print(
        f"{'tasks':>9}  {'plain':>8}  {'profiled':>8}  {'ratio (min-max)':>17}  "
        f"{'CPU ratio (min-max)':>19}  {'RSS plain':>9}  {'RSS prof':>8}  {'post-proc':>9}  "
        f"{'trace':>8}  {'report':>8}"
    )
    for tasks in (int(t) for t in args.tasks.split(",")):
        result = measure(tasks, args.rounds)
        results.append(result)
        m = result["median"]
        print(
            f"{tasks:>9}  {m['plain_wall_seconds']:>6.2f} s  {m['profiled_wall_seconds']:>6.2f} s  "
            f"x{m['ratio']:.2f} ({m['ratio_min']:.2f}-{m['ratio_max']:.2f})  "
            f"x{m['cpu_ratio']:.2f} ({m['cpu_ratio_min']:.2f}-{m['cpu_ratio_max']:.2f})  "
            f"{m['plain_rss_mb']:>6.0f} MB  {m['profiled_rss_mb']:>5.0f} MB  "
            f"{m['post_processing_seconds']:>7.2f} s  {m['trace_mb']:>5.1f} MB  "
            f"{m['report_mb']:>5.2f} MB",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nmedians of {args.rounds} round(s); raw runs in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
