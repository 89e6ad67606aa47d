"""Differential suite, in subprocesses: exit codes, stdout and stderr of whole programs.

Each program runs twice in a fresh interpreter, with ``Pool`` bound to the stdlib class and to
ours; the exit code, stdout and stderr must match (stderr with our wrapper frames and memory
addresses taken out, see ``differential.normalize``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.behaviour.differential import run_both

PROGRAMS = {
    "exit-with-queued-work": """
import atexit, threading
done = []
atexit.register(lambda: print("ran", len(done)))
gate = threading.Event()
pool = Pool(2)
pool.submit(gate.wait)
for i in range(20):
    pool.submit(done.append, i)
gate.set()
print("leaving")
""",
    "exit-after-shutdown-without-wait": """
import threading
gate = threading.Event()
pool = Pool(1)
f = pool.submit(gate.wait, 30)
pool.shutdown(wait=False)
gate.set()
print("bye")
""",
    "uncaught-task-exception": """
class Boom(Exception):
    pass
def fail(x):
    raise Boom(f"bad {x}")
with Pool(1) as pool:
    pool.submit(fail, 1).result()
""",
    "system-exit-in-a-task": """
import sys
with Pool(1) as pool:
    f = pool.submit(sys.exit, 4)
    print(type(f.exception()).__name__, f.exception().code)
print("still here")
""",
    "exit-from-the-main-thread-while-tasks-run": """
import sys, threading
gate = threading.Event()
pool = Pool(2)
pool.submit(gate.wait, 30)
pool.submit(print, "task output")
threading.Timer(0, gate.set).start()
sys.exit(3)
""",
    "submit-after-interpreter-shutdown": """
import atexit
pool = Pool(1)
def late():
    try:
        pool.submit(print, "never")
    except RuntimeError as exc:
        print("refused:", exc)
import threading
threading._register_atexit(late)
print("main done")
""",
    "failing-done-callback": """
with Pool(1) as pool:
    f = pool.submit(abs, -1)
    f.result()
    f.add_done_callback(lambda fut: 1 / 0)
print("survived")
""",
    "shutdown-from-a-callback": """
pool = Pool(1)
f = pool.submit(abs, -3)
f.add_done_callback(lambda fut: pool.shutdown(wait=False))
print(f.result())
pool.shutdown()
try:
    pool.submit(abs, 1)
except RuntimeError as exc:
    print("refused:", exc)
""",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_behaves_as_with_the_stdlib(name: str) -> None:
    stdlib, ours = run_both(PROGRAMS[name])
    assert ours == stdlib


def test_python_dash_m_tpe_insight_runs_the_cli() -> None:
    import subprocess

    module = subprocess.run(
        [sys.executable, "-m", "tpe_insight", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert "usage:" in module.stdout
    assert "tpe-insight" in module.stdout


# -- 1. PROMETHEUS_MULTIPROC_DIR pointing nowhere ----------------------------------------------

WITH_POOL = """
with Pool(2) as pool:
    print(pool.submit(pow, 2, 3).result(), list(pool.map(abs, [-1, -2])))
with Pool(1) as pool:
    pool.submit(abs, 1)
print("done")
"""


@pytest.mark.parametrize("where", ["missing", "under-a-file"])
def test_1_a_bad_multiprocess_dir_degrades_to_no_metrics(tmp_path: Path, where: str) -> None:
    target = tmp_path / "missing" / "dir"
    if where == "under-a-file":
        (tmp_path / "file").write_text("")
        target = tmp_path / "file" / "dir"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(target)}
    (std_rc, std_out, std_err), (rc, out, err) = run_both(WITH_POOL, env)
    assert (rc, out) == (std_rc, std_out) == (0, "8 [1, 2]\ndone\n")
    assert std_err == ""
    # Ours says why there are no metrics, once, in one line.
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "PROMETHEUS_MULTIPROC_DIR" in lines[0]
    assert str(target) in lines[0]
    assert "without metrics" in lines[0]
