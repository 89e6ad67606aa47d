"""Hostile names: whatever a program calls its pools, functions and exceptions, the exposition
stays valid (prometheus_client's parser and ``promtool check metrics`` accept it), label values
stay short, and JSON log lines stay valid JSON.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tpe_insight import ThreadPoolExecutor
from tpe_insight.labels import MAX_LABEL_LENGTH

HOSTILE = [
    'quote"d',
    "single'quote",
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    "tab\tbed",
    "nul\x00byte",
    "{brace}",
    "} # HELP fake",
    "<script>alert(1)</script>",
    "x" * 10_000,
    "lone \ud800 surrogate",
    "other lone \udfff",
    "é中文🙂",
    "line\u2028separator",
    '=",\\n"',
    "",
    " ",
]
IDS = [repr(h)[:30] for h in HOSTILE]


def _task_named(qualname: str, module: str) -> Callable[[], str]:
    def task() -> str:
        return "ok"

    task.__qualname__ = qualname
    task.__module__ = module
    return task


def _error_named(name: str, module: str) -> type[Exception]:
    cls = type("Hostile", (Exception,), {"__module__": module})
    cls.__qualname__ = name  # what the exception label is made of, with the module
    return cls


def _raise(cls: type[Exception]) -> None:
    raise cls("message")


def _exposition(reg: CollectorRegistry) -> str:
    return generate_latest(reg).decode("utf-8")  # strict: must be valid UTF-8


def _check_exposition(text: str) -> None:
    samples = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples += 1
            for value in sample.labels.values():
                assert len(value) <= MAX_LABEL_LENGTH
                assert "\n" not in value
    assert samples > 0
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required (the prometheus package provides it)")
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def _json_logs() -> io.StringIO:
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=out),
    )
    return out


def _check_json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events
    # The lines must also survive being written to a UTF-8 file (lone surrogates would not).
    out.getvalue().encode("utf-8")
    return events


@pytest.fixture(autouse=True)
def _reset_structlog() -> Any:
    yield
    structlog.reset_defaults()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_everything(hostile: str) -> None:
    """Pool (via thread_name_prefix), task qualname and module, exception class name and
    module all hostile at once."""
    out = _json_logs()
    reg = CollectorRegistry()
    task = _task_named(hostile, hostile)
    error = _error_named(hostile, hostile)
    prefix = hostile or "fallback"  # an empty prefix means "no prefix" to the stdlib
    with ThreadPoolExecutor(
        2, thread_name_prefix=prefix, registry=reg, logs=True, log_tasks=True
    ) as pool:
        assert pool.submit(task).result() == "ok"
        assert isinstance(pool.submit(_raise, error).exception(), error)
        cancelled_gate = pool.submit(task)
        cancelled_gate.result()
    text = _exposition(reg)
    _check_exposition(text)
    events = _check_json_lines(out)
    assert {"pool_created", "task_failed", "pool_shutdown"} <= {e["event"] for e in events}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_explicit_pool_name_is_accepted_or_refused_clearly(hostile: str) -> None:
    """``name=`` is validated rather than mangled: printable names within the length cap are
    used as they are; anything else raises ValueError naming the option."""
    reg = CollectorRegistry()
    acceptable = bool(hostile.strip()) and hostile.isprintable() and len(hostile) <= 120
    if not acceptable:
        with pytest.raises(ValueError, match="name"):
            ThreadPoolExecutor(1, name=hostile, registry=reg)
        return
    pool = ThreadPoolExecutor(1, name=hostile, registry=reg)
    with pool:
        pool.submit(pow, 2, 2).result()
    assert pool.pool_label == hostile
    _check_exposition(_exposition(reg))
