"""``tpe-insight``: run a stdlib-only program, re-render its trace, fail cleanly on bad input."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tpe_insight import cli
from tpe_insight.profiler.trace import read_trace
from tpe_insight.testing import validate_trace

# A program that knows nothing of tpe_insight: it imports the stdlib class by name, uses two pools
# (one of them twice), prints, and exits with a code of its own.
PROGRAM = textwrap.dedent(
    """
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    def fetch(i):
        time.sleep(0.002)
        if i == 3:
            raise ValueError("no luck")
        return i * i

    def main():
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="fetcher") as pool:
            futures = [pool.submit(fetch, i) for i in range(8)]
            results = [f.result() for f in futures if f.exception() is None]
        with ThreadPoolExecutor(2) as other:
            total = sum(other.map(abs, range(-5, 5)))
        print("results", results, "total", total)
        print("argv", sys.argv[1:])
        return 3

    if __name__ == "__main__":
        sys.exit(main())
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
        timeout=120,
        check=False,
    )


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return path


def test_run_profiles_a_stdlib_program_and_preserves_stdout_and_exit_code(
    tmp_path: Path, program: Path
) -> None:
    """Its pools are recorded, its stdout is untouched, its exit code passes through."""
    plain = subprocess.run(
        [sys.executable, str(program), "--flag", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = tmp_path / "out"
    result = _tpe("run", "--out", str(out), str(program), "--flag", "x", cwd=tmp_path)
    assert result.returncode == plain.returncode == 3, result.stderr
    assert result.stdout == plain.stdout
    assert "argv ['--flag', 'x']" in result.stdout
    assert "tpe-insight: 2 pool(s)" in result.stderr
    assert "success 17, error 1" in result.stderr
    timeline = read_trace(out / "trace.json")
    assert sorted(p.label for p in timeline.pools) == ["__main__:main", "fetcher"]
    assert timeline.counts()["success"] == 17
    assert validate_trace(json.loads((out / "trace.json").read_text())) == []
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "fetcher" in page
    assert "__main__.fetch" in page


def test_run_module_and_report_round_trip(tmp_path: Path) -> None:
    """run -m works like python -m; report re-renders the same summary from the trace."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "job.py").write_text(PROGRAM)
    out = tmp_path / "out"
    result = _tpe("run", "--out", str(out), "-m", "mypkg.job", "a", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "argv ['a']" in result.stdout
    run_summary = result.stderr.split("\ntpe-insight: wrote")[0]

    (out / "report.html").unlink()
    again = _tpe("report", str(out / "trace.json"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\ntpe-insight: wrote")[0] == run_summary
    assert (out / "report.html").is_file()


def test_a_crashing_program_exits_1_with_its_traceback(tmp_path: Path) -> None:
    """An uncaught exception is reported as the interpreter would, and the report still written."""
    script = tmp_path / "crash.py"
    script.write_text("raise SystemError('kaboom')\n")
    result = _tpe("run", "--out", str(tmp_path / "o"), str(script), cwd=tmp_path)
    assert result.returncode == 1
    assert "SystemError: kaboom" in result.stderr
    assert (tmp_path / "o" / "report.html").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a command is required"),
        (["frobnicate"], "invalid choice"),
        (["run"], "run needs a script"),
        (["run", "missing_script.py"], "no such script"),
        (["run", "-m"], "-m needs a module"),
        (["run", "-m", "no_such_module_xyz"], "no module named"),
        (["run", "--capacity", "0", "x.py"], "--capacity"),
        (["run", "--bogus", "x.py"], "unrecognized arguments"),
        (["report"], "required"),
        (["report", "missing_trace.json"], "cannot read"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Usage errors: exit code 2, a single error line on stderr, no traceback."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1, err
    assert message in error_lines[0]
    assert "Traceback" not in err


def test_foreign_and_broken_traces_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace from another tool, or not JSON at all, is refused in one line."""
    foreign = tmp_path / "chrome.json"
    foreign.write_text(json.dumps({"traceEvents": [{"ph": "X", "name": "x"}]}))
    assert cli.main(["report", str(foreign)]) == 2
    assert "not a tpe-insight trace" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("[[[")
    assert cli.main(["report", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "not JSON" in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_out_dir_is_refused_before_running(
    tmp_path: Path, program: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output directory that cannot be created fails fast: the program never runs."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli.main(["run", "--out", str(blocker / "sub"), str(program)]) == 2
    captured = capsys.readouterr()
    assert "not writable" in captured.err
    assert "results" not in captured.out


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"]])
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints usage and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_demo_writes_trace_and_report_and_says_where(tmp_path: Path) -> None:
    """tpe-insight demo (small database, short latency) writes both files and names them."""
    out = tmp_path / "demo-out"
    result = _tpe(
        "demo",
        "--out",
        str(out),
        "--db",
        str(tmp_path / "demo.sqlite"),
        "--customers",
        "50",
        "--transactions",
        "2000",
        "--latency",
        "0.01",
        "--port",
        "0",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert str(out / "trace.json") in result.stdout
    assert str(out / "report.html") in result.stdout
    timeline = read_trace(out / "trace.json")
    assert {p.label for p in timeline.pools} == {"model_variables", "model_variables_failing"}
    # How many queries fail-fast cancels depends on how far the other worker got when the broken
    # query failed (real time; a loaded machine can let it drain the queue). The books do not:
    # exactly one error, and every query of the failing run is accounted for. The stop-at-once
    # behaviour itself is proven with gates in tests/unit/test_futures.py.
    failing = timeline.counts(
        next(p.pool_id for p in timeline.pools if p.label.endswith("failing"))
    )
    assert failing["error"] == 1
    assert failing["error"] + failing["cancelled"] + failing["success"] == 8
    assert f"fail-fast: cancelled {failing['cancelled']} of 8 queries" in result.stdout

    demo_help = _tpe("demo", "--help", cwd=tmp_path)
    assert demo_help.returncode == 0
    assert "--out DIR" in demo_help.stdout
    assert "--latency" in demo_help.stdout
    assert not (tmp_path / "tpe-insight-out").exists()  # --help writes nothing


# Reads its own pool's tpe_* counter from the default registry: None when the pool exports no
# metrics. The task is recorded by the profile either way.
METRICS_PROBE = textwrap.dedent(
    """
    from concurrent.futures import ThreadPoolExecutor
    from prometheus_client import REGISTRY

    with ThreadPoolExecutor(1, thread_name_prefix="probe") as pool:
        pool.submit(abs, -1).result()
    print(REGISTRY.get_sample_value("tpe_tasks_submitted_total", {"pool": "probe"}))
    """
)


@pytest.mark.parametrize(
    ("options", "exported"),
    [([], "None"), (["--metrics"], "1"), (["--serve", "0"], "1")],
)
def test_run_exports_metrics_only_when_asked(
    tmp_path: Path, options: list[str], exported: str
) -> None:
    """Under ``run`` the instrumented pools feed the profile but no Prometheus metrics, unless
    ``--metrics`` or ``--serve`` asks for them (design note 36); the profile is the same."""
    program = tmp_path / "probe.py"
    program.write_text(METRICS_PROBE)
    out = tmp_path / "out"
    result = _tpe("run", *options, "--out", str(out), str(program), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == exported
    assert read_trace(out / "trace.json").counts()["success"] == 1
    serving = "tpe-insight: serving metrics on http://127.0.0.1:" in result.stderr
    assert serving == ("--serve" in options)


def test_run_refuses_a_bad_serve_port(tmp_path: Path, program: Path) -> None:
    result = _tpe("run", "--serve", "70000", str(program), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("tpe-insight: error: --serve needs a port")


GC_PROBE = textwrap.dedent(
    """
    import gc

    class Node:
        pass

    def main():
        node = Node()
        node.self = node  # a cycle: only the collector frees it
        del node
        print("frozen", gc.get_freeze_count() > 0, "collected", gc.collect() > 0)

    main()
    """
)


def test_run_freezes_what_exists_before_the_program_and_hands_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While the program runs, the objects that were there before it are frozen (the collector
    skips them), its own garbage is still collected, and unfreeze() restores the state."""
    program = tmp_path / "gc_probe.py"
    program.write_text(GC_PROBE)
    gc.unfreeze()  # what an earlier in-process tool froze (mypy's build does) is not ours
    assert gc.get_freeze_count() == 0
    assert cli.main(["run", "--out", str(tmp_path / "out"), str(program)]) == 0
    assert capsys.readouterr().out.strip() == "frozen True collected True"
    assert gc.get_freeze_count() == 0


def test_run_leaves_objects_someone_else_froze_frozen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Objects frozen before `run` (a sitecustomize, mypy in process) are not thawed by it:
    they are still frozen after the program."""
    program = tmp_path / "gc_probe.py"
    program.write_text(GC_PROBE)
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        assert before > 0
        assert cli.main(["run", "--out", str(tmp_path / "out"), str(program)]) == 0
        assert capsys.readouterr().out.strip() == "frozen True collected True"
        # Still frozen (a thaw empties the permanent generation); refcounting may have freed a
        # few of them meanwhile, so the count is not compared exactly.
        assert gc.get_freeze_count() > before // 2
    finally:
        gc.unfreeze()
