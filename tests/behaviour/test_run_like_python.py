"""``tpe-insight run`` behaves like ``python script.py``: the cases of issue 9, item 9. Each one
keeps the program's exit code and writes the profile."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tpe_insight
from tpe_insight import cli
from tpe_insight.profiler.trace import read_trace

PACKAGE_ROOT = str(Path(cli.__file__).resolve().parents[1])


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    # As a user's shell would have it: stdout to a pipe is block-buffered.
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _launcher(tmp_path: Path) -> Path:
    """A launcher like the console script: its own directory is ``sys.path[0]``, not the
    current directory (``python -m tpe_insight.cli`` would put the cwd there and hide the
    ``run -m`` case)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "tpe_insight_launcher.py"
    launcher.write_text("import sys\nfrom tpe_insight.cli import main\nsys.exit(main())\n")
    return launcher


def _tpe(
    tmp_path: Path, *args: str, cwd: Path, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_launcher(tmp_path)), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


POOL_AND_EXIT = """
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(2, thread_name_prefix="worker") as pool:
    list(pool.map(abs, range(5)))
"""


def test_a_program_that_changes_directory_still_gets_its_profile(tmp_path: Path) -> None:
    """--out is resolved before the program runs; the exit code passes through."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = tmp_path / "wander.py"
    script.write_text(
        POOL_AND_EXIT + f"import os, sys\nos.chdir({str(elsewhere)!r})\nsys.exit(5)\n"
    )
    result = _tpe(tmp_path, "run", "--out", "out", "wander.py", cwd=tmp_path)
    assert result.returncode == 5, result.stderr
    assert read_trace(tmp_path / "out" / "trace.json").counts()["success"] == 5
    assert (tmp_path / "out" / "report.html").is_file()
    assert not (elsewhere / "out").exists()


def test_dunder_file_is_absolute_as_with_python(tmp_path: Path) -> None:
    """``__file__`` is absolute (what ``python script.py`` does since 3.9)."""
    script = tmp_path / "where.py"
    script.write_text(
        POOL_AND_EXIT + "import os\nprint(os.path.isabs(__file__), os.path.basename(__file__))\n"
    )
    plain = subprocess.run(
        [sys.executable, "where.py"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    result = _tpe(tmp_path, "run", "--out", "out", "where.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout == "True where.py\n", result.stderr
    assert (tmp_path / "out" / "trace.json").is_file()


def test_run_m_finds_a_module_in_the_current_directory(tmp_path: Path) -> None:
    """As ``python -m mymod`` does, even when the launcher's directory is sys.path[0]."""
    (tmp_path / "mymod.py").write_text(POOL_AND_EXIT + "import sys\nsys.exit(7)\n")
    result = _tpe(tmp_path, "run", "--out", "out", "-m", "mymod", cwd=tmp_path)
    assert result.returncode == 7, result.stderr
    assert read_trace(tmp_path / "out" / "trace.json").counts()["success"] == 5


def test_a_lone_surrogate_in_thread_names_does_not_change_the_exit_code(tmp_path: Path) -> None:
    """Worker and submitter thread names with lone surrogates: the outputs are written, the
    summary printed, and the exit code is the program's."""
    script = tmp_path / "surrogate.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, threading
            from concurrent.futures import ThreadPoolExecutor

            def submit_all():
                with ThreadPoolExecutor(2, thread_name_prefix="w\\udcff") as pool:
                    list(pool.map(abs, range(4)))

            thread = threading.Thread(target=submit_all, name="submitter\\ud800")
            thread.start()
            thread.join()
            sys.exit(3)
            """
        )
    )
    result = _tpe(tmp_path, "run", "--out", "out", "surrogate.py", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    timeline = read_trace(tmp_path / "out" / "trace.json")
    assert timeline.counts()["success"] == 4
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_a_closed_stdout_pipe_does_not_change_the_exit_code(tmp_path: Path) -> None:
    """The reader of stdout goes away (``| head``) before the program's buffered output is
    flushed: the exit code is still the program's, and the profile is written."""
    script = tmp_path / "chatty.py"
    script.write_text(
        POOL_AND_EXIT
        + textwrap.dedent(
            """
            import sys
            print("hello " * 100)  # buffered: stdout is a pipe
            sys.stdin.read()  # the gate: the test closes stdin once stdout's reader is gone
            sys.exit(4)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(_launcher(tmp_path)), "run", "--out", "out", "chatty.py"],
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.close()  # the reader is gone
    process.stdin.close()  # let the program finish
    try:
        code = process.wait(timeout=120)
        stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr is not None:
            process.stderr.close()
    assert code == 4, stderr
    assert read_trace(tmp_path / "out" / "trace.json").counts()["success"] == 5


def test_profile_records_stdlib_pools_by_default() -> None:
    """``tpe_insight.profile()`` records a pool created through ``concurrent.futures``."""
    # The attribute is looked up after profile() started, as a program's code would.
    with tpe_insight.profile() as prof, concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(abs, range(6)))
    assert not tpe_insight.installed()
    assert prof.timeline.counts()["success"] == 6
