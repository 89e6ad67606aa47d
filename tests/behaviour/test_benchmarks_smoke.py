"""Every benchmark runs once, tiny and untimed, so the suite cannot rot (``make test``).

The benchmarks run in a subprocess: they configure structlog globally and start many pools, and
must not leak that state into the other tests. No timing is asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / "benchmarks").is_dir(), reason="benchmarks/ not in this tree")
def test_every_benchmark_runs_once() -> None:
    """pytest on benchmarks/ with --benchmark-disable and TPE_BENCH_SMOKE=1 passes, quickly."""
    env = {**os.environ, "TPE_BENCH_SMOKE": "1"}
    for name in [n for n in env if n.startswith("TPE_BENCH_") and n != "TPE_BENCH_SMOKE"]:
        del env[name]  # sizes set for a real run must not make the smoke test long
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks",
            "--benchmark-disable",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout
    assert "tpe_insight benchmarks:" in proc.stdout  # the table printer ran on the records
