"""Run CPython's own thread-pool tests against ``tpe_insight.ThreadPoolExecutor``.

For every pyenv CPython 3.10-3.13 whose install ships the ``test`` package with
``test.test_concurrent_futures``, this runs test_thread_pool, test_shutdown, test_wait,
test_as_completed, test_init and FutureTests (on 3.10 they live in one module: its ``ThreadPool*``
classes and ``FutureTests``) twice: once with the stdlib class, so that a failure of the stdlib
itself is told apart, and once with ours swapped in.

Why a throwaway virtualenv per Python: ``script_helper.assert_python_ok`` starts child
interpreters in isolated mode (``-I``), which ignores ``PYTHONPATH`` and ``sitecustomize`` on the
user path. It does keep ``sys.executable``'s own ``site-packages``, so a ``.pth`` file there is
the one shim every child picks up. The venv is made with ``--without-pip`` (about a second) and
points at the project and at the dependencies installed in ``.venv`` / ``.venv-3.X``.

The swap happens in that ``.pth`` file, before any test module is imported (``util.py`` binds
``futures.ThreadPoolExecutor`` at import time). Each test has a watchdog
(``faulthandler.dump_traceback_later(exit=True)``): a hang prints every thread's stack and ends
the run instead of blocking ``make test``. A run fails on any failure or error that the stdlib
run does not also have, and on any dangling-thread warning from ``threading_helper``.

Usage: ``python scripts/cpython_suite.py [--only 3.10] [--timeout SECONDS]``. Prints one summary
line per version and which versions ran; exits 1 if any failed or none ran.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MINORS = ("3.10", "3.11", "3.12", "3.13")
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
ENV_MODE = "TPE_CPYTHON_SUITE_CLASS"

#: Test modules on Pythons where ``test_concurrent_futures`` is a package (3.12+ layout).
PACKAGE_MODULES = (
    "test_thread_pool",
    "test_shutdown",
    "test_wait",
    "test_as_completed",
    "test_init",
    "test_future",
)

# Imported by the .pth line in the throwaway venv, in the test runner and in every child
# interpreter that script_helper starts. It must never fail the interpreter's start-up.
SHIM = '''\
"""Swap tpe_insight.ThreadPoolExecutor into concurrent.futures (CPython-suite runner)."""
import os

if os.environ.get("TPE_CPYTHON_SUITE_CLASS") == "tpe":
    import concurrent.futures
    import concurrent.futures.thread

    import tpe_insight

    concurrent.futures.ThreadPoolExecutor = tpe_insight.ThreadPoolExecutor
    concurrent.futures.thread.ThreadPoolExecutor = tpe_insight.ThreadPoolExecutor
'''

# Runs inside the throwaway venv: selects the classes, runs them with a watchdog per test and
# prints one JSON line (prefixed) with the counts.
DRIVER = """\
import faulthandler
import importlib
import json
import sys
import time
import unittest
import concurrent.futures

from test import support

TIMEOUT = float(sys.argv[1])
MODULES = sys.argv[2].split(",")
MODE = sys.argv[3]

expected = "tpe_insight" if MODE == "tpe" else "concurrent.futures"
actual = concurrent.futures.ThreadPoolExecutor.__module__
if not actual.startswith(expected):
    print(f"driver: concurrent.futures.ThreadPoolExecutor is from {actual}, expected {expected}")
    sys.exit(3)

warnings = []
_print_warning = support.print_warning


def print_warning(msg):
    warnings.append(msg)
    _print_warning(msg)


support.print_warning = print_warning


class WatchdogResult(unittest.TextTestResult):
    def startTest(self, test):
        faulthandler.dump_traceback_later(TIMEOUT, exit=True)
        super().startTest(test)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)


suite = unittest.TestSuite()
loader = unittest.TestLoader()
seen = set()
for name in MODULES:
    module = importlib.import_module(name)
    for attr, obj in sorted(vars(module).items()):
        if not (isinstance(obj, type) and issubclass(obj, unittest.TestCase)):
            continue
        if not (attr.startswith("ThreadPool") or attr == "FutureTests") or obj in seen:
            continue
        seen.add(obj)
        suite.addTests(loader.loadTestsFromTestCase(obj))

started = time.monotonic()
result = unittest.TextTestRunner(
    stream=sys.stderr, verbosity=2, resultclass=WatchdogResult
).run(suite)
wall = time.monotonic() - started
cleanup = [w for w in warnings if "threading_cleanup" in w]
dangling = [w for w in warnings if "threading_cleanup" in w or "angling" in w]
# A leading newline: support.verbose timings end their line with a space, not a newline.
print("\\nCPYTHON-SUITE " + json.dumps({
    "total": result.testsRun,
    "failures": [t.id() for t, _ in result.failures],
    "errors": [t.id() for t, _ in result.errors],
    "unexpected_successes": [t.id() for t in result.unexpectedSuccesses],
    "skipped": len(result.skipped),
    "dangling": len(dangling),
    "cleanup_warnings": len(cleanup),
    "dangling_samples": dangling[:5],
    "wall": wall,
}), flush=True)
"""


def find_pythons(only: str | None) -> list[tuple[str, Path, str]]:
    """(minor, interpreter, why-not) for each 3.10-3.13 pyenv Python; why-not empty if usable."""
    found = []
    for minor in MINORS:
        if only and minor != only:
            continue
        versions = sorted(
            glob.glob(str(PYENV_ROOT / "versions" / f"{minor}.*")),
            key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).name)],
        )
        versions = [v for v in versions if re.fullmatch(rf"{re.escape(minor)}\.\d+", Path(v).name)]
        if not versions:
            found.append((minor, Path(), "not installed"))
            continue
        prefix = Path(versions[-1])
        python = prefix / "bin" / "python"
        test_dir = prefix / "lib" / f"python{minor}" / "test"
        if not glob.glob(str(test_dir / "test_concurrent_futures*")):
            found.append((minor, python, "its install has no test.test_concurrent_futures"))
            continue
        found.append((minor, python, ""))
    return found


def deps_site_packages(minor: str) -> Path:
    """The site-packages of the project's venv for ``minor`` (.venv or .venv-3.X)."""
    for venv in (ROOT / f".venv-{minor}", ROOT / ".venv"):
        matches = glob.glob(str(venv / "lib" / f"python{minor}" / "site-packages"))
        if matches:
            return Path(matches[0])
    raise SystemExit(
        f"error: no virtualenv with the project's dependencies for Python {minor} "
        f"(.venv-{minor}); run scripts/test-matrix.sh (make test) first"
    )


def make_venv(python: Path, minor: str, where: Path, project: Path) -> Path:
    subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True
    )
    venv_python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    site = Path(purelib)
    (site / "_tpe_cpython_shim.py").write_text(SHIM)
    (site / "_tpe_cpython_suite.pth").write_text(
        f"{project}\n{deps_site_packages(minor)}\nimport _tpe_cpython_shim\n"
    )
    (where / "driver.py").write_text(DRIVER)
    return venv_python


def modules_for(python: Path, minor: str) -> list[str]:
    package = python.parent.parent / "lib" / f"python{minor}" / "test" / "test_concurrent_futures"
    if package.is_dir():
        return [f"test.test_concurrent_futures.{m}" for m in PACKAGE_MODULES]
    return ["test.test_concurrent_futures"]


def run_once(
    venv_python: Path, modules: list[str], mode: str, timeout: float, log: Path
) -> dict[str, Any]:
    env = dict(os.environ, **{ENV_MODE: mode})
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [
                str(venv_python),
                "-X",
                "faulthandler",
                str(venv_python.parent.parent / "driver.py"),
                str(timeout),
                ",".join(modules),
                mode,
            ],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            env=env,
            cwd=venv_python.parent.parent,
            check=False,
        )
    wall = time.monotonic() - started
    for line in proc.stdout.splitlines():
        if "CPYTHON-SUITE " in line:
            data: dict[str, Any] = json.loads(line.partition("CPYTHON-SUITE ")[2])
            data["rc"] = proc.returncode
            return data
    # No summary: the watchdog fired or the interpreter died.
    return {
        "total": 0,
        "failures": [],
        "errors": [f"run ended without a summary (exit code {proc.returncode}); see {log}"],
        "unexpected_successes": [],
        "skipped": 0,
        "dangling": 0,
        "cleanup_warnings": 0,
        "dangling_samples": [],
        "wall": wall,
        "rc": proc.returncode,
        "stdout": proc.stdout[-2000:],
    }


def bad(data: dict[str, Any]) -> set[str]:
    return set(data["failures"]) | set(data["errors"]) | set(data["unexpected_successes"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=MINORS, help="run one Python version")
    parser.add_argument("--timeout", type=float, default=300.0, help="watchdog per test (s)")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="checkout whose tpe_insight is tested"
    )
    parser.add_argument("--logs", type=Path, default=ROOT / ".cpython-suite", help="log folder")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)

    ran: list[str] = []
    failed: list[str] = []
    lines: list[str] = []
    for minor, python, why_not in find_pythons(args.only):
        if why_not:
            lines.append(f"python {minor}: not run ({why_not})")
            continue
        with tempfile.TemporaryDirectory(prefix=f"tpe-cpython-{minor}-") as tmp:
            venv_python = make_venv(python, minor, Path(tmp) / "venv", args.project.resolve())
            modules = modules_for(python, minor)
            results = {}
            for mode in ("stdlib", "tpe"):
                log = args.logs / f"{minor}-{mode}.log"
                print(f"=== CPython {minor} suite, {mode} class (log: {log}) ===", flush=True)
                results[mode] = run_once(venv_python, modules, mode, args.timeout, log)
        std, ours = results["stdlib"], results["tpe"]
        ours_bad = bad(ours)
        stdlib_bad = bad(std) & ours_bad
        own_bad = ours_bad - bad(std)
        passed = ours["total"] - len(ours_bad)
        ratio = ours["wall"] / std["wall"] if std["wall"] else float("nan")
        ok = not own_bad and ours["dangling"] == 0 and ours["total"] > 0 and std["total"] > 0
        (ran if ok else failed).append(minor)
        lines.append(
            f"python {minor}: {passed}/{ours['total']} passed, {ours['dangling']} dangling-thread"
            f" warnings ({ours['cleanup_warnings']} threading_cleanup failures),"
            f" wall {ours['wall']:.1f} s vs stdlib {std['wall']:.1f} s"
            f" ({ratio:.2f}x; stdlib {std['total'] - len(bad(std))}/{std['total']} passed,"
            f" {std['dangling']} dangling) {'OK' if ok else 'FAILED'}"
        )
        for test in sorted(own_bad):
            lines.append(f"    failed with tpe_insight only: {test}")
        for test in sorted(stdlib_bad):
            lines.append(f"    fails with the stdlib class too (not ours): {test}")
        for sample in ours["dangling_samples"]:
            lines.append(f"    warning: {sample}")
        if "stdout" in ours:
            lines.append(textwrap.indent(ours["stdout"], "    "))
    print("=== CPython thread-pool suite summary ===")
    for line in lines:
        print(line)
    print(f"ran: {' '.join(ran + failed) or 'none'}; failed: {' '.join(failed) or 'none'}")
    if not ran and not failed:
        print("error: no Python here ships test.test_concurrent_futures; nothing ran")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
