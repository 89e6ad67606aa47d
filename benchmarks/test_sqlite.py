"""The motivating case: the demo's model-variable SQLite queries, serially and on 1-8 workers.

This one is about the pool, not the instrumentation's overhead: it draws the speedup curve of
the stdlib pool and of tpe_insight's (default options) over the serial run, on the demo's own
database, queries and runner (``tpe_insight.demo``). With no simulated latency every query is
CPU work in SQLite (which releases the GIL while it steps), so the curve is bounded by the
cores; with a simulated server round trip per query, the queries mostly wait, as against a real
database server, and the curve follows the number of workers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, record, rounds
from benchmarks.speedup import speedup_values
from tpe_insight.demo import (
    QUERIES,
    VariableRunner,
    ensure_database,
)


@pytest.fixture(scope="module")
def database() -> Path:
    customers = env_int("TPE_BENCH_SQLITE_CUSTOMERS", 2_000, 50)
    transactions = env_int("TPE_BENCH_SQLITE_TRANSACTIONS", 200_000, 1_000)
    path = Path(tempfile.gettempdir()) / f"tpe_bench_{customers}_{transactions}.sqlite"
    ensure_database(path, customers, transactions)
    return path


@pytest.mark.parametrize("latency_ms", [0, 50])
def test_sqlite_speedup(run_workload: RunWorkload, database: Path, latency_ms: int) -> None:
    runner = VariableRunner(database, latency_ms / 1000)

    def workload() -> Record:
        values = speedup_values(runner, rounds())
        return record(
            f"sqlite_{latency_ms}ms",
            f"demo SQLite: {len(QUERIES)} queries, simulated round trip {latency_ms} ms/query;"
            " ratio = time / serial (speedup = 1 / ratio)",
            "ms/run",
            values,
            baseline="serial",
            params={"latency_ms": latency_ms, "queries": len(QUERIES), "db": database.name},
            compare="speedup",
        )

    run_workload(workload)
