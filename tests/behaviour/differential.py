"""Helpers of the differential suite: run one scenario with the stdlib class and with ours.

A scenario is a function of the pool class; it returns what a caller can observe (results,
exception types and messages, states). The suite asserts that both runs observe the same
thing, so the expectations follow the stdlib of whichever Python runs the tests instead of
being written by hand.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.thread import ThreadPoolExecutor as StdlibPool
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor

ROOT = Path(__file__).resolve().parents[2]

PoolFactory = Callable[..., StdlibPool]


def ours(registry: CollectorRegistry | None = None) -> PoolFactory:
    """Our class, exporting to its own registry (never the global one)."""
    return functools.partial(
        ThreadPoolExecutor, registry=registry if registry is not None else CollectorRegistry()
    )


def observe(future: Future[Any]) -> tuple[str, Any]:
    """What a caller can see of a finished future: result, or exception type and message."""
    if future.cancelled():
        return ("cancelled", None)
    exc = future.exception()
    if exc is None:
        return ("result", future.result())
    return ("exception", describe(exc))


def describe(exc: BaseException) -> tuple[type[BaseException], str]:
    """An exception as comparable data; never calls a user ``__str__`` that may raise."""
    try:
        message = str(exc)
    except Exception as err:  # an exception whose __str__ raises
        message = f"<str raised {type(err).__name__}>"
    return (type(exc), message)


def outcome_of(call: Callable[[], Any]) -> tuple[str, Any]:
    """The result of ``call()`` or the exception it raised, comparable across pools."""
    try:
        return ("result", call())
    except BaseException as exc:
        return ("raised", describe(exc))


def differential(scenario: Callable[[PoolFactory], Any]) -> Any:
    """Run ``scenario`` with the stdlib class and with ours; assert equal observations."""
    expected = scenario(StdlibPool)
    actual = scenario(ours())
    assert actual == expected
    return actual


# -- subprocesses, where exit behaviour matters ------------------------------------------------

PRELUDE = """\
import concurrent.futures
import tpe_insight
Pool = {pool}
"""

_OUR_FRAME = re.compile(
    r'^  File ".*[/\\]tpe_insight[/\\][^"]*", line \d+, in .*\n(    .*\n)*', re.M
)
_CARETS = re.compile(r"^\s*[~^]+\s*$\n", re.M)


def normalize(stderr: str) -> str:
    """Drop what legitimately differs: our wrapper frames in tracebacks (and their source and
    caret lines), and memory addresses."""
    text = _OUR_FRAME.sub("", stderr)
    text = _CARETS.sub("", text)
    return re.sub(r"0x[0-9a-f]+", "0x?", text)


def run_script(body: str, pool: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``body`` with ``Pool`` bound to ``pool`` (an expression) in a fresh interpreter."""
    script = PRELUDE.format(pool=pool) + body
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=environment,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


STDLIB_EXPR = "concurrent.futures.thread.ThreadPoolExecutor"
OURS_EXPR = "tpe_insight.ThreadPoolExecutor"


def run_both(
    body: str, env: dict[str, str] | None = None
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(stdlib, ours) runs of ``body``: exit code, stdout, normalized stderr."""
    std = run_script(body, STDLIB_EXPR, env)
    tpe = run_script(body, OURS_EXPR, env)
    return (std[0], std[1], normalize(std[2])), (tpe[0], tpe[1], normalize(tpe[2]))
