"""The talk's case on a real server: the demo's queries on PostgreSQL, serial vs 1-8 workers, and
how long a failed run keeps the pool (and the server) busy, with and without the cancel.

The server is a throwaway local cluster (``tests/postgres_fixture.py``, loaded by the root
conftest) on this same machine: its query processes compete with the client for the same cores,
so the speedup is bounded by the cores, not by the pool, once the server is busy. Each query
runs in one server process (``max_parallel_workers_per_gather = 0``, see
``tpe_insight.demo_postgres``).

``postgres_speedup``: serial (one connection, the caller's thread) vs the stdlib pool and
tpe_insight's (default options) on 1, 2, 4, 8 workers; psycopg_pool connections are opened once,
outside the timed section. ``postgres_fail_to_idle``: 4 workers, the broken query submitted
fourth, so three long queries are running on the server when it fails; the time from the
failure (``fail_fast``'s ``on_failure``, in the failing worker) until every future is done, i.e.
the pool is idle: without the server-side cancel the three run to their end; with it they end
with ``QueryCanceled``. The queued queries are cancelled in both (``fail_fast``'s callback).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, wait

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, interleave, record, rounds
from benchmarks.speedup import WORKER_COUNTS, speedup_values
from tpe_insight import ThreadPoolExecutor, demo_postgres, fail_fast, named
from tpe_insight.demo import (
    BROKEN_QUERY,
    QUERIES,
    Variables,
)
from tpe_insight.pgcluster import ThrowawayCluster


@pytest.fixture(scope="module")
def runner(postgres: ThrowawayCluster) -> Iterator[demo_postgres.PostgresRunner]:
    customers = env_int("TPE_BENCH_PG_CUSTOMERS", 4_000, 50)
    transactions = env_int("TPE_BENCH_PG_TRANSACTIONS", 600_000, 2_000)
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench")
        conn.execute("CREATE DATABASE bench")
    dsn = postgres.dsn("bench")
    with demo_postgres.connect(dsn) as conn:
        demo_postgres.load_data(conn, customers, transactions, 7)
    pool = demo_postgres.open_pool(dsn, max(WORKER_COUNTS))
    try:
        yield demo_postgres.PostgresRunner(pool)
    finally:
        pool.close()


def test_postgres_speedup(run_workload: RunWorkload, runner: demo_postgres.PostgresRunner) -> None:
    runner.begin_run()  # nothing may fail here; a previous failing run must not stop this one

    def workload() -> Record:
        values = speedup_values(runner, rounds(5))
        return record(
            "postgres_speedup",
            f"demo PostgreSQL (local server, same 2 cores): {len(QUERIES)} queries;"
            " ratio = time / serial (speedup = 1 / ratio)",
            "ms/run",
            values,
            baseline="serial",
            params={"queries": len(QUERIES)},
            compare="speedup",
        )

    run_workload(workload)


#: Three long queries first, then the broken one: all four start at once on 4 workers.
FAILING = [
    *(q for q in QUERIES if q.name in ("merchant_diversity", "monthly_volatility", "segment_rank")),
    BROKEN_QUERY,
    *(q for q in QUERIES if q.name not in ("merchant_diversity", "monthly_volatility",
                                           "segment_rank", BROKEN_QUERY.name)),
]  # fmt: skip


def test_postgres_fail_to_idle(
    run_workload: RunWorkload, runner: demo_postgres.PostgresRunner
) -> None:
    cancelled: dict[str, list[int]] = {"no server cancel": [], "server cancel": []}

    def run_once(name: str) -> float:
        failed_at: list[float] = []

        def on_failure(exc: BaseException) -> None:
            failed_at.append(time.perf_counter())
            if name == "server cancel":
                runner.cancel_running(exc)

        runner.begin_run()
        with ThreadPoolExecutor(4, name="bench", registry=CollectorRegistry(), logs=False) as pool:
            futures: list[Future[tuple[str, Variables]]] = [
                pool.submit(named(q.name, runner, q)) for q in FAILING
            ]
            with pytest.raises(psycopg.errors.UndefinedColumn):
                for _ in fail_fast(futures, on_failure=on_failure):
                    pass
            wait(futures)
            idle_at = time.perf_counter()
        cancelled_on_server = sum(
            isinstance(f.exception(), psycopg.errors.QueryCanceled)
            for f in futures
            if not f.cancelled()
        )
        if name == "no server cancel":
            assert cancelled_on_server == 0
        cancelled[name].append(cancelled_on_server)
        return (idle_at - failed_at[0]) * 1e3

    def workload() -> Record:
        values = interleave(["no server cancel", "server cancel"], run_once, rounds(9))
        return record(
            "postgres_fail_to_idle",
            "demo PostgreSQL, 4 workers, broken query 4th: failure -> idle pool",
            "ms",
            values,
            baseline="no server cancel",
            params={"workers": 4, "running_at_failure": 3},
            extra={
                "queries cancelled on the server per run (server cancel)": ", ".join(
                    map(str, cancelled["server cancel"])
                )
            },
        )

    run_workload(workload)
