"""``make demo``: the motivating case, on an embedded SQLite database the demo generates.

A data job builds a model's variables by running independent queries, then merges their results
per customer. It runs them three times:

1. serially (the baseline);
2. on an instrumented pool, merging results as they complete;
3. on an instrumented pool with one broken query, where ``fail_fast`` cancels the queries that
   have not started yet and re-raises the database error.

Then it prints what the metrics say (read back from the Prometheus registry it serves on
127.0.0.1 while it runs) and the speedup of the concurrent run over the serial one.

``--latency`` adds a simulated network/server round trip to each query (default 0.15 s). SQLite
runs in this process, so without it every query is CPU work in its worker thread (sqlite3
releases the GIL while it steps, so two cores still help); with it, each query mostly *waits*,
as queries to a real database server do, which is the case threads are for.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from tpe_insight.executor import ThreadPoolExecutor
from tpe_insight.futures import fail_fast, named
from tpe_insight.metrics.readback import PoolStats, TaskStats, read_metrics
from tpe_insight.metrics.server import start_metrics_server

SCHEMA_VERSION = 1
DEFAULT_CUSTOMERS = 4_000
DEFAULT_TRANSACTIONS = 600_000

#: Finer buckets than the library's default around 0.1-2 s, where these queries land, so the
#: percentiles read back from the histograms are worth printing (``buckets=`` is an option).
DEMO_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
    0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip

Row = tuple[object, ...]
Variables = dict[int, dict[str, object]]


# -- the database -----------------------------------------------------------------------------


def default_db_path() -> Path:
    return Path(tempfile.gettempdir()) / f"tpe_insight_demo_v{SCHEMA_VERSION}.sqlite"


def ensure_database(path: Path, customers: int, transactions: int) -> float:
    """Create the demo database if it is missing or of another size; return seconds spent."""
    start = time.perf_counter()
    if path.exists():
        try:
            with sqlite3.connect(path) as conn:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta == {"customers": str(customers), "transactions": str(transactions)}:
                return 0.0
        except sqlite3.Error:
            pass
        path.unlink()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(
            f"""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE customers (
                id INTEGER PRIMARY KEY, segment TEXT, country TEXT, signup_day INTEGER);
            CREATE TABLE transactions (
                id INTEGER PRIMARY KEY, customer_id INTEGER, day INTEGER, hour INTEGER,
                amount REAL, merchant INTEGER, channel TEXT);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})
            INSERT INTO customers
            SELECT i, CASE abs(random()) % 3 WHEN 0 THEN 'retail' WHEN 1 THEN 'sme' ELSE 'corp' END,
                   CASE abs(random()) % 4 WHEN 0 THEN 'ES' WHEN 1 THEN 'NL' WHEN 2 THEN 'DE'
                        ELSE 'FR' END,
                   abs(random()) % 3650
            FROM n;
            WITH RECURSIVE n(i) AS (
                SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {transactions})
            INSERT INTO transactions
            SELECT i, 1 + abs(random()) % {customers}, abs(random()) % 730, abs(random()) % 24,
                   round(abs(random()) % 100000 / 100.0, 2), abs(random()) % 5000,
                   CASE abs(random()) % 3 WHEN 0 THEN 'card' WHEN 1 THEN 'online'
                        ELSE 'transfer' END
            FROM n;
            INSERT INTO meta VALUES ('customers', '{customers}'),
                                    ('transactions', '{transactions}');
            """
        )
    tmp.rename(path)
    return time.perf_counter() - start


# -- the model variables ----------------------------------------------------------------------


@dataclass(frozen=True)
class VariableQuery:
    """One set of model variables: a query keyed by customer id, and the names of its columns."""

    name: str
    sql: str
    columns: tuple[str, ...]


QUERIES: tuple[VariableQuery, ...] = (
    VariableQuery(
        "spend_totals",
        "SELECT customer_id, COUNT(*), SUM(amount) FROM transactions GROUP BY customer_id",
        ("txn_count", "txn_amount"),
    ),
    VariableQuery(
        "avg_ticket_by_channel",
        "SELECT customer_id, AVG(CASE WHEN channel = 'card' THEN amount END),"
        " AVG(CASE WHEN channel = 'online' THEN amount END)"
        " FROM transactions GROUP BY customer_id",
        ("avg_card_ticket", "avg_online_ticket"),
    ),
    VariableQuery(
        "recency",
        "SELECT customer_id, MAX(day), MIN(day) FROM transactions GROUP BY customer_id",
        ("last_day", "first_day"),
    ),
    VariableQuery(
        "merchant_diversity",
        "SELECT customer_id, COUNT(DISTINCT merchant) FROM transactions GROUP BY customer_id",
        ("distinct_merchants",),
    ),
    VariableQuery(
        "night_activity",
        "SELECT customer_id, AVG(CASE WHEN hour >= 22 OR hour < 6 THEN 1.0 ELSE 0.0 END)"
        " FROM transactions GROUP BY customer_id",
        ("night_share",),
    ),
    VariableQuery(
        "large_payments",
        "SELECT customer_id, SUM(amount > 900), MAX(amount) FROM transactions GROUP BY customer_id",
        ("large_count", "max_amount"),
    ),
    VariableQuery(
        "monthly_volatility",
        "SELECT customer_id, AVG(m * m) - AVG(m) * AVG(m) FROM ("
        " SELECT customer_id, day / 30 AS month, SUM(amount) AS m FROM transactions"
        " GROUP BY customer_id, month) GROUP BY customer_id",
        ("monthly_variance",),
    ),
    VariableQuery(
        "segment_rank",
        "SELECT t.customer_id, c.segment, SUM(t.amount) FROM transactions t"
        " JOIN customers c ON c.id = t.customer_id GROUP BY t.customer_id",
        ("segment", "segment_spend"),
    ),
)

#: The query used for the failing run: a typo'd column, as in a real refactoring accident.
BROKEN_QUERY = VariableQuery(
    "recency",
    "SELECT customer_id, MAX(dya) FROM transactions GROUP BY customer_id",
    ("last_day",),
)


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
        variables: Variables = {}
        for row in rows:
            variables[int(row[0])] = dict(zip(query.columns, row[1:], strict=True))
        return query.name, variables


def merge(into: Variables, part: Variables) -> Variables:
    """Left-join ``part`` into ``into`` on the customer id (the talk's ``merge(how="left")``)."""
    for customer, values in part.items():
        into.setdefault(customer, {}).update(values)
    return into


def build_serially(runner: VariableRunner, queries: Sequence[VariableQuery]) -> Variables:
    result: Variables = {}
    for query in queries:
        merge(result, runner(query)[1])
    return result


def build_concurrently(
    pool: ThreadPoolExecutor, runner: VariableRunner, queries: Sequence[VariableQuery]
) -> Variables:
    """Run every query on ``pool``; merge as results arrive; stop at the first failure."""
    futures: list[Future[tuple[str, Variables]]] = [
        pool.submit(named(q.name, runner, q)) for q in queries
    ]
    result: Variables = {}
    for _name, part in fail_fast(futures):
        merge(result, part)
    return result


# -- the report -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def _outcome(task: TaskStats) -> str:
    parts = [f"{int(n)} {name}" for name, n in task.finished.items() if n]
    return ", ".join(parts) or "-"


def format_pool(stats: PoolStats) -> list[str]:
    """Per task: outcome, queue wait and run time p50/p95, CPU share, read from the metrics."""
    lines = [
        f"  pool {stats.pool!r}: {stats.outcome('success')} succeeded, "
        f"{stats.outcome('error')} failed, {stats.outcome('cancelled')} cancelled; "
        f"{int(stats.values.get('tpe_workers_started_total', 0))} worker threads started",
        f"    {'task':24} {'outcome':12} {'wait p50/p95 ms':>16} {'run p50/p95 ms':>16} "
        f"{'run mean ms':>11} {'CPU share':>9}",
    ]
    for name, task in sorted(stats.tasks.items()):
        share = task.cpu_share
        wait = f"{_ms(task.wait_quantile(0.5))}/{_ms(task.wait_quantile(0.95))}"
        run = f"{_ms(task.run_quantile(0.5))}/{_ms(task.run_quantile(0.95))}"
        cpu = "-" if math.isnan(share) else f"{share:.0%}"
        mean = _ms(task.run_sum / task.started) if task.started else "-"
        lines.append(
            f"    {name[-24:]:24} {_outcome(task):12} {wait:>16} {run:>16} {mean:>11} {cpu:>9}"
        )
    return lines


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="tpe-insight demo",
        description="Build a model's variables from SQLite queries: serially, on an "
        "instrumented pool, and with a failing query that cancels the rest.",
    )
    parser.add_argument("--db", type=Path, default=None, help="database file (generated)")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--transactions", type=int, default=DEFAULT_TRANSACTIONS)
    parser.add_argument("--workers", type=int, default=4, help="max_workers of the pool")
    parser.add_argument(
        "--latency", type=float, default=0.15, help="simulated server round trip per query (s)"
    )
    parser.add_argument("--port", type=int, default=9464, help="port for /metrics (0 = any)")
    parser.add_argument(
        "--serve", action="store_true", help="keep serving /metrics after the run (Ctrl-C stops)"
    )
    args = parser.parse_args(argv)
    for option in ("customers", "transactions", "workers"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")

    db = args.db or default_db_path()
    built = ensure_database(db, args.customers, args.transactions)
    out(
        f"database: {db} ({args.customers} customers, {args.transactions} transactions"
        + (f", generated in {built:.1f} s)" if built else ", reused)")
    )

    registry = CollectorRegistry()
    try:
        server, _thread = start_metrics_server(args.port, registry=registry)
    except OSError:
        server, _thread = start_metrics_server(0, registry=registry)
    out(f"metrics:  http://127.0.0.1:{server.server_port}/metrics")
    runner = VariableRunner(db, args.latency)

    start = time.perf_counter()
    serial = build_serially(runner, QUERIES)
    serial_wall = time.perf_counter() - start
    out(f"\n1. serial:     {len(QUERIES)} queries in {serial_wall:6.2f} s")

    with ThreadPoolExecutor(
        args.workers, name="model_variables", registry=registry, buckets=DEMO_BUCKETS
    ) as pool:
        start = time.perf_counter()
        concurrent = build_concurrently(pool, runner, QUERIES)
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
    # A smaller pool, so that several queries are still queued when the broken one fails.
    with ThreadPoolExecutor(
        2, name="model_variables_failing", registry=registry, buckets=DEMO_BUCKETS
    ) as pool:
        start = time.perf_counter()
        try:
            build_concurrently(pool, runner, failing)
        except sqlite3.OperationalError as exc:
            failed_wall = time.perf_counter() - start
            out(f"3. failing:    stopped after {failed_wall:6.2f} s: {type(exc).__name__}: {exc}")
        else:  # pragma: no cover - the broken query always fails
            out("error: the broken query did not fail")
            return 1

    out(
        "\nwhat the metrics say (read back from the Prometheus registry; quantiles are"
        " interpolated within histogram buckets, as PromQL's histogram_quantile does):"
    )
    pools = read_metrics(registry)
    for label in ("model_variables", "model_variables_failing"):
        for line in format_pool(pools[label]):
            out(line)
    failing_stats = pools["model_variables_failing"]
    out(
        f"\nspeedup of the concurrent run over the serial one: x{speedup:.2f} "
        f"({serial_wall:.2f} s -> {concurrent_wall:.2f} s); fail-fast cancelled "
        f"{failing_stats.outcome('cancelled')} of {len(failing)} queries "
        f"and reported {failing_stats.outcome('error')} failure."
    )
    if args.serve:
        out(f"\nserving http://127.0.0.1:{server.server_port}/metrics until Ctrl-C")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
