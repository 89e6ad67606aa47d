"""Shared fixture: run one workload under pytest-benchmark and keep its interleaved record.

Each workload is one timed call for pytest-benchmark (``pedantic``, one round): the statistics
that matter are the per-configuration rounds inside it, which are stored in
``benchmark.extra_info["tpe"]`` (saved by ``--benchmark-json``) and printed as one table at the
end of the session (see ``benchmarks/report.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from benchmarks import report
from benchmarks.harness import Record, smoke

_records: list[Record] = []

RunWorkload = Callable[[Callable[[], Record]], Record]


@pytest.fixture
def run_workload(benchmark: Any) -> RunWorkload:
    """Call ``workload()`` once under ``benchmark`` and keep the record it returns."""

    def run(workload: Callable[[], Record]) -> Record:
        holder: list[Record] = []
        errors: list[BaseException] = []

        def call() -> None:
            # A failure is re-raised after pedantic() returns: pytest-benchmark cannot save its
            # JSON (and the session's table would be lost) for a benchmark without timings.
            try:
                holder.append(workload())
            except Exception as exc:
                errors.append(exc)

        benchmark.pedantic(call, rounds=1, iterations=1, warmup_rounds=0)
        if errors:
            raise errors[0]
        result = holder[-1]
        benchmark.extra_info["tpe"] = result
        _records.append(result)
        return result

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A full workload runs for minutes: lift the suite-wide 120 s timeout of pyproject.toml."""
    if not smoke():
        for item in items:
            item.add_marker(pytest.mark.timeout(3600))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # With --benchmark-json, `make bench` prints the table from the file (with the machine).
    if _records and not config.getoption("benchmark_json", None):
        terminalreporter.write_line("")
        for line in report.format_records(_records):
            terminalreporter.write_line(line)
