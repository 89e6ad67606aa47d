"""``make demo``: the motivating case, on an embedded SQLite database the demo generates
(``make demo-postgres`` / ``--dsn``: on a PostgreSQL server, see :mod:`tpe_insight.demo_postgres`).

A data job builds a model's variables by running independent queries, then merges their results
per customer. It runs them three times:

1. serially (the baseline);
2. on an instrumented pool, merging results as they complete;
3. on an instrumented pool with one broken query, where ``fail_fast`` cancels the queries that
   have not started yet (at the moment of the failure) and re-raises the database error; a
   backend that can stop running queries (PostgreSQL) does so from ``fail_fast``'s hook.

Then it prints what the metrics say (read back from the Prometheus registry; ``--serve`` keeps
``/metrics`` up afterwards for a scraper), the measured speedup of the concurrent run over the
serial one, and beside it what the profiler infers from the recorded spans alone.

The data is generated in Python from ``--seed`` (not with the database's ``random()``), so both
backends hold the same rows, and the queries are written so that both give the same values.

``--latency`` (SQLite only) adds a *simulated* network/server round trip to each query (default
0.15 s). SQLite runs in this process, so without it every query is CPU work in its worker thread
(sqlite3 releases the GIL while it steps, so two cores still help); with it, each query mostly
*waits*, as queries to a real database server do. On PostgreSQL nothing is simulated.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from tpe_insight import demo_postgres, demo_verdict
from tpe_insight.demo_data import (
    BROKEN_QUERY,
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DEFAULT_TRANSACTIONS,
    QUERIES,
    SCHEMA_VERSION,
    DemoError,
    Runner,
    VariableQuery,
    Variables,
    customer_rows,
    meta_rows,
    to_variables,
    transaction_rows,
)
from tpe_insight.executor import ThreadPoolExecutor
from tpe_insight.futures import fail_fast, named
from tpe_insight.metrics.readback import PoolStats, TaskStats, read_metrics
from tpe_insight.metrics.server import start_metrics_server
from tpe_insight.profiler.session import Profile

# -- the database -----------------------------------------------------------------------------


def default_db_path() -> Path:
    return Path(tempfile.gettempdir()) / f"tpe_insight_demo_v{SCHEMA_VERSION}.sqlite"


def ensure_database(path: Path, customers: int, transactions: int, seed: int = 7) -> float:
    """Create the demo database if it is missing or of another size; return seconds spent."""
    start = time.perf_counter()
    wanted = meta_rows(customers, transactions, seed)
    if path.exists():
        try:
            with closing(sqlite3.connect(path)) as conn:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta == wanted:
                return 0.0
        except sqlite3.Error:
            pass
        path.unlink()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with closing(sqlite3.connect(tmp)) as conn:
        conn.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE customers (
                id INTEGER PRIMARY KEY, segment TEXT, country TEXT, signup_day INTEGER);
            CREATE TABLE transactions (
                id INTEGER PRIMARY KEY, customer_id INTEGER, day INTEGER, hour INTEGER,
                amount INTEGER, merchant INTEGER, channel TEXT);
            """
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)", customer_rows(customers, seed)
        )
        conn.executemany(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)",
            transaction_rows(customers, transactions, seed),
        )
        conn.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
        conn.commit()
    tmp.rename(path)
    return time.perf_counter() - start


# -- the model variables ----------------------------------------------------------------------


class VariableRunner:
    """Runs one :class:`VariableQuery` on its own connection (sqlite3 connections are per
    thread), after a simulated round trip to the database server."""

    def __init__(self, db: Path, latency: float) -> None:
        self.db = db
        self.latency = latency

    def __call__(self, query: VariableQuery) -> tuple[str, Variables]:
        if self.latency:
            time.sleep(self.latency)  # the network and the server's queue, simulated
        conn = sqlite3.connect(self.db)
        try:
            rows = conn.execute(query.sql).fetchall()
        finally:
            conn.close()
        return query.name, to_variables(query, rows)


def merge(into: Variables, part: Variables) -> Variables:
    """Left-join ``part`` into ``into`` on the customer id (the talk's ``merge(how="left")``)."""
    for customer, values in part.items():
        into.setdefault(customer, {}).update(values)
    return into


def build_serially(runner: Runner, queries: Sequence[VariableQuery]) -> Variables:
    result: Variables = {}
    for query in queries:
        merge(result, runner(query)[1])
    return result


def build_concurrently(
    pool: ThreadPoolExecutor,
    runner: Runner,
    queries: Sequence[VariableQuery],
    on_failure: Callable[[BaseException], object] | None = None,
) -> Variables:
    """Run every query on ``pool``; merge as results arrive; stop at the first failure
    (``on_failure``: see :func:`~tpe_insight.futures.fail_fast`)."""
    futures: list[Future[tuple[str, Variables]]] = [
        pool.submit(named(q.name, runner, q)) for q in queries
    ]
    result: Variables = {}
    for _name, part in fail_fast(futures, on_failure=on_failure):
        merge(result, part)
    return result


# -- the report -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def _outcome(task: TaskStats) -> str:
    parts = [f"{int(n)} {name}" for name, n in task.finished.items() if n]
    return ", ".join(parts) or "-"


def format_pool(stats: PoolStats) -> list[str]:
    """Per pool: outcomes and the queue wait and run time p50/p95 (the per-pool histograms); per
    task: outcome, mean queue wait and run time (the per-task summaries), CPU share."""
    wait = f"{_ms(stats.wait_quantile(0.5))}/{_ms(stats.wait_quantile(0.95))}"
    run = f"{_ms(stats.run_quantile(0.5))}/{_ms(stats.run_quantile(0.95))}"
    lines = [
        f"  pool {stats.pool!r}: {stats.outcome('success')} succeeded, "
        f"{stats.outcome('error')} failed, {stats.outcome('cancelled')} cancelled; "
        f"{int(stats.values.get('tpe_workers_started_total', 0))} worker threads started; "
        f"queue wait p50/p95 {wait} ms, run time p50/p95 {run} ms",
        f"    {'task':24} {'outcome':12} {'wait mean ms':>12} {'run mean ms':>11} {'CPU share':>9}",
    ]
    for name, task in sorted(stats.tasks.items()):
        share = task.cpu_share
        cpu = "-" if math.isnan(share) else f"{share:.0%}"
        wait_mean = "-" if math.isnan(task.wait_mean) else _ms(task.wait_mean)
        run_mean = "-" if math.isnan(task.run_mean) else _ms(task.run_mean)
        lines.append(
            f"    {name[-24:]:24} {_outcome(task):12} {wait_mean:>12} {run_mean:>11} {cpu:>9}"
        )
    return lines


class Backend(Protocol):
    """What the demo needs from a database (SQLite here, PostgreSQL in ``demo_postgres``)."""

    #: What the run measures and what, if anything, it simulates: printed before the runs.
    description: list[str]
    #: The exception class the broken query raises.
    broken_error: type[BaseException]
    runner: Runner

    def begin_run(self) -> None:
        """Called before each pool run (a failed run's cancel must not leak into the next)."""

    def cancel_running(self, exc: BaseException) -> object:
        """``fail_fast``'s ``on_failure``: stop the queries still running, if the backend can."""

    def failure_note(self) -> str:
        """What the cancel did, for the failing run's line ('' when there is nothing to say)."""

    def close(self) -> None: ...


class SqliteBackend:
    """The embedded database: the queries run in this process, in the worker threads."""

    broken_error: type[BaseException] = sqlite3.OperationalError

    def __init__(self, args: argparse.Namespace, out: Callable[[str], None]) -> None:
        db = args.db or default_db_path()
        built = ensure_database(db, args.customers, args.transactions, args.seed)
        out(
            f"database: {db} ({args.customers} customers, {args.transactions} transactions,"
            f" seed {args.seed}" + (f", generated in {built:.1f} s)" if built else ", reused)")
        )
        self.runner: Runner = VariableRunner(db, args.latency)
        cores = os.cpu_count() or 1
        self.description = [
            "backend:  SQLite, embedded: every query is CPU work in this process, in its worker",
            "          thread (sqlite3 releases the GIL while it steps), so threads help up to the",
            f"          {cores} cores of this machine, not beyond.",
            (
                f"simulated: a {args.latency:g} s sleep before each query stands in for the"
                " network and a server's queue (--latency 0 turns it off); that part of the"
                " speedup is waiting, not work."
                if args.latency
                else "simulated: nothing (--latency 0): the speedup is CPU work on the cores."
            ),
        ]

    def begin_run(self) -> None:
        pass

    def cancel_running(self, exc: BaseException) -> object:
        return None  # a running sqlite3 step cannot be stopped from another thread here

    def failure_note(self) -> str:
        return "running queries run to their end (SQLite has no server to cancel them on)"

    def close(self) -> None:
        pass


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="tpe-insight demo",
        description="Build a model's variables from SQL queries (embedded SQLite, or "
        "PostgreSQL with --dsn / --local-server): serially, on an instrumented pool, and with "
        "a failing query that cancels the rest.",
    )
    parser.add_argument("--db", type=Path, default=None, help="SQLite database file (generated)")
    parser.add_argument(
        "--dsn",
        default=None,
        help="run on this PostgreSQL server instead (postgresql://user:password@host:port/db;"
        " needs tpe-insight[postgres])",
    )
    parser.add_argument(
        "--local-server",
        action="store_true",
        help="start a throwaway PostgreSQL server (initdb in a temp dir, 127.0.0.1, a free"
        " port), run on it, stop it (what `make demo-postgres` does)",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="PostgreSQL: create (or replace) the demo tables in schema tpe_insight_demo",
    )
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--transactions", type=int, default=DEFAULT_TRANSACTIONS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data generator seed")
    parser.add_argument("--workers", type=int, default=4, help="max_workers of the pool")
    parser.add_argument(
        "--latency",
        type=float,
        default=None,
        help="SQLite only: simulated server round trip per query (s, default 0.15)",
    )
    parser.add_argument("--port", type=int, default=9464, help="port for /metrics (0 = any)")
    parser.add_argument(
        "--serve", action="store_true", help="serve /metrics after the run until Ctrl-C"
    )
    args = parser.parse_args(argv)
    for option in ("customers", "transactions", "workers"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    if args.transactions > 20_000 * args.customers:
        parser.error("--transactions must be at most 20000 per customer (exact integer sums)")
    postgres = args.dsn is not None or args.local_server
    if args.latency is not None and postgres:
        parser.error("--latency simulates a server for SQLite; on PostgreSQL the wait is real")
    args.latency = 0.15 if args.latency is None else args.latency
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")

    backend: Backend | None = None
    try:
        # open_backend raises DemoError, naming the extra, when psycopg is not installed.
        backend = demo_postgres.open_backend(args, out) if postgres else SqliteBackend(args, out)
        return _run(args, backend, out)
    except DemoError as exc:
        print(f"tpe-insight demo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the finally below still stops a throwaway server
        print("tpe-insight demo: interrupted", file=sys.stderr)
        return 130
    finally:
        if backend is not None:
            backend.close()


def _run(args: argparse.Namespace, backend: Backend, out: Callable[[str], None]) -> int:
    for line in backend.description:
        out(line)
    registry = CollectorRegistry()
    runner = backend.runner

    start = time.perf_counter()
    serial = build_serially(runner, QUERIES)
    serial_wall = time.perf_counter() - start
    out(f"\n1. serial:     {len(QUERIES)} queries in {serial_wall:6.2f} s")

    backend.begin_run()
    with (
        Profile() as prof,
        ThreadPoolExecutor(args.workers, name="model_variables", registry=registry) as pool,
    ):
        start = time.perf_counter()
        concurrent = build_concurrently(pool, runner, QUERIES, backend.cancel_running)
        concurrent_wall = time.perf_counter() - start
    if concurrent != serial:
        out("error: the concurrent run built different variables than the serial one")
        return 1
    speedup = serial_wall / concurrent_wall
    out(
        f"2. concurrent: {len(QUERIES)} queries in {concurrent_wall:6.2f} s on {args.workers}"
        f" workers: speedup x{speedup:.2f}, {len(concurrent)} customers x"
        f" {len(next(iter(concurrent.values())))} variables, same result as serial"
    )

    failing = [BROKEN_QUERY if q.name == BROKEN_QUERY.name else q for q in QUERIES]
    failed_at: list[float] = []

    def on_failure(exc: BaseException) -> None:
        failed_at.append(time.perf_counter())  # in the failing worker, at the failure
        backend.cancel_running(exc)

    backend.begin_run()
    # A smaller pool, so that several queries are still queued when the broken one fails.
    with ThreadPoolExecutor(2, name="model_variables_failing", registry=registry) as pool:
        start = time.perf_counter()
        try:
            build_concurrently(pool, runner, failing, on_failure)
        except backend.broken_error as exc:
            failed_wall = time.perf_counter() - start
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            out(f"3. failing:    stopped after {failed_wall:6.2f} s: {message}")
        else:  # pragma: no cover - the broken query always fails
            out("error: the broken query did not fail")
            return 1
    idle_after = time.perf_counter() - failed_at[0] if failed_at else math.nan
    out(
        f"                pool idle {idle_after * 1000:.0f} ms after the failure;"
        f" {backend.failure_note()}"
    )

    out(
        "\nwhat the metrics say (read back from the Prometheus registry; the pool's quantiles are"
        " interpolated within its histogram buckets, as PromQL's histogram_quantile does; the"
        " per-task means are exact):"
    )
    pools = read_metrics(registry)
    for label in ("model_variables", "model_variables_failing"):
        for line in format_pool(pools[label]):
            out(line)
    failing_stats = pools["model_variables_failing"]
    out(
        f"\nmeasured: speedup x{speedup:.2f} of the concurrent run over the serial one"
        f" ({serial_wall:.2f} s -> {concurrent_wall:.2f} s on {args.workers} workers)"
    )
    for line in demo_verdict.profiler_conclusion(prof.timeline, "model_variables", speedup):
        out(line)
    out(
        f"fail-fast: cancelled {failing_stats.outcome('cancelled')} of {len(failing)} queries"
        f" before they started; {failing_stats.outcome('error')} ended with an error"
        " (the broken one, and any cancelled on the server)."
    )
    if args.serve:
        server = _serve(args.port, registry)
        out(f"\nmetrics: serving http://127.0.0.1:{server.server_port}/metrics until Ctrl-C")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    else:
        out("metrics: not served after the run; add --serve to scrape /metrics until Ctrl-C")
    return 0


def _serve(port: int, registry: CollectorRegistry) -> Any:
    try:
        server, _thread = start_metrics_server(port, registry=registry)
    except OSError:  # the port is taken: any free one
        server, _thread = start_metrics_server(0, registry=registry)
    return server


if __name__ == "__main__":
    sys.exit(main())
