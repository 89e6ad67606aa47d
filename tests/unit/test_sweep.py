"""``tpe-insight sweep``: structure and counts of ``sweep.json``, forced max_workers, the
program's output kept out of the table, failures reported. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tpe_insight import cli
from tpe_insight.profiler.sweep import SCHEMA, VERSION, parse_workers
from tpe_insight.profiler.trace import read_trace

SLEEPY = textwrap.dedent(
    """
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    def nap(i):
        time.sleep(0.002)  # 8 x 2 ms: over the model's 10 ms floor for a claim
        return i

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="nappers") as pool:
        total = sum(pool.map(nap, range(8)))
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="others") as other:
        list(other.map(abs, range(3)))
    print("PROGRAM-OUTPUT", total)
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """
)


def _tpe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "tpe_insight.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_sweep_writes_sweep_json_for_the_requested_worker_counts(tmp_path: Path) -> None:
    """Two counts x two repeats: every run measured, max_workers forced for the chosen pool
    only, the program's stdout in files and not in the table."""
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    result = _tpe(
        "sweep", "--workers", "1,2", "--repeat", "2", "--pool", "nappers", "--out", "sw",
        "sleepy.py", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert (data["schema"], data["version"]) == (SCHEMA, VERSION)
    assert data["pool"] == "nappers"
    assert data["repeat"] == 2
    assert [r["max_workers"] for r in data["results"]] == [1, 2]
    for entry in data["results"]:
        assert len(entry["pool_wall_seconds"]) == 2
        assert all(isinstance(w, float) and w > 0 for w in entry["pool_wall_seconds"])
        assert len(entry["program_wall_seconds"]) == 2
        assert entry["exit_codes"] == [0, 0]
        assert isinstance(entry["median_pool_wall_seconds"], float)
        # Predicted from the run at 1 worker: a value there, unless the model's replay did not
        # explain that run (16 ms of naps: a loaded machine's thread start-up can put the
        # calibration out of bounds), which the note then says with the range; at 2, more
        # workers than ever ran at once, it may say "cannot tell" (null) instead of a number.
        predicted = entry["predicted_wall_seconds"]
        if entry["max_workers"] == 1 and predicted is None:
            assert "cannot tell (range) at 1:" in data["prediction_note"], data["prediction_note"]
        assert predicted is None or isinstance(predicted, float)
    assert data["failures"] == []
    assert data["recommendation"]["max_workers"] in (1, 2)
    assert "PROGRAM-OUTPUT" not in result.stdout
    assert "recommendation: max_workers=" in result.stdout
    for k in (1, 2):
        run_dir = tmp_path / "sw" / "runs" / f"workers-{k}-repeat-1"
        assert "PROGRAM-OUTPUT 28" in (run_dir / "stdout.txt").read_text()
        pools = {p.label: p.max_workers for p in read_trace(run_dir / "trace.json").pools}
        assert pools == {"nappers": k, "others": 5}  # forced for the chosen label only


def test_sweep_reports_a_failing_program(tmp_path: Path) -> None:
    """Exit code 9 in every run: listed as failures in the table and sweep.json, exit 1."""
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    result = _tpe(
        "sweep", "--workers", "2", "--repeat", "1", "--out", "sw", "sleepy.py", "9",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "FAILED max_workers=2 repeat 1: exit code 9" in result.stdout
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [(f["max_workers"], f["exit_code"]) for f in data["failures"]] == [(2, 9)]
    (entry,) = data["results"]
    assert entry["exit_codes"] == [9]
    # Every pool forced when no --pool is given.
    pools = read_trace(tmp_path / "sw" / "runs" / "workers-2-repeat-1" / "trace.json").pools
    assert {p.max_workers for p in pools} == {2}


def test_sweep_runs_a_module(tmp_path: Path) -> None:
    """``sweep -m module`` finds the module in the current directory, like ``run -m``."""
    (tmp_path / "sleepymod.py").write_text(SLEEPY)
    result = _tpe(
        "sweep", "--workers", "1", "--repeat", "1", "--out", "sw", "-m", "sleepymod",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert data["program"] == ["-m", "sleepymod"]
    assert data["results"][0]["exit_codes"] == [0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--workers", "1,x", "p.py"], "'x' is not an integer"),
        (["sweep", "--workers", "0", "p.py"], "not a positive worker count"),
        (["sweep", "--repeat", "0", "p.py"], "--repeat must be at least 1"),
        (["sweep", "missing.py"], "no such script"),
        (["sweep"], "sweep needs a script"),
    ],
)
def test_sweep_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.py").write_text("")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(argv) == 2
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_parse_workers_keeps_order_and_drops_repeats() -> None:
    assert parse_workers("4, 1,4,2") == [4, 1, 2]
