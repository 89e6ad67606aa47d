"""The demo's PostgreSQL backend: the talk's case itself, queries that run on a database server.

``tpe-insight demo --dsn postgresql://...`` runs the same eight queries (``demo_data.QUERIES``)
on the same rows (``demo_data.customer_rows`` / ``transaction_rows`` for the same seed, loaded
with ``COPY``) as the SQLite demo, so both must build exactly the same variables. Here each query
runs in its own server process and the client thread only waits on its socket: nothing is
simulated. ``--local-server`` starts a throwaway server first (:mod:`tpe_insight.pgcluster`).

Libraries: psycopg 3 (the maintained PostgreSQL driver; ``COPY`` from Python rows, and a
cancel request that works from another thread, ``Connection.cancel_safe()``) and psycopg_pool
(one connection per worker, opened once, health-checked on return, instead of a connect per
query). Both are the optional extra ``tpe-insight[postgres]``.

The demo's tables live in their own schema, ``tpe_insight_demo``, so ``--create`` (drop and
reload) never touches anything else in the user's database. Every connection runs with
``max_parallel_workers_per_gather = 0``: one query is one server process, so the parallelism
measured is the client pool's, as in the talk; and ``jit = off``, so compile time does not blur
the timings.

Fail-fast: the runner keeps the connections whose query is on the server; the pool's
``on_failure`` hook (:func:`tpe_insight.futures.fail_fast`) sends each a cancel request, so
those queries end at once with ``QueryCanceled`` instead of running to their end, and the pool
is idle shortly after the failure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from tpe_insight.demo_data import (
    DemoError,
    Runner,
    VariableQuery,
    Variables,
    customer_rows,
    meta_rows,
    to_variables,
    transaction_rows,
)
from tpe_insight.pgcluster import ClusterError, ThrowawayCluster

# The optional extra: without it this module still imports (the SQLite demo imports it), and
# the PostgreSQL demo says what to install. Imported by require_psycopg(), which every entry
# point that talks to a server calls first, not here: this module is imported by the SQLite
# demo and so by the ``tpe-insight`` CLI, and executing psycopg costs about 0.2 s of CPU, paid
# by every ``tpe-insight run`` that never touches PostgreSQL. (A plain import in a function,
# not importlib's LazyLoader: that one is not thread-safe before CPython 3.12.3, and a profiled
# program that imports psycopg itself would get the lazy module.)
if TYPE_CHECKING:
    import psycopg
    import psycopg.conninfo
    import psycopg.errors
    import psycopg_pool
else:
    psycopg = psycopg_pool = None

__all__ = [
    "SCHEMA",
    "PostgresBackend",
    "PostgresRunner",
    "RunStopped",
    "connect",
    "load_data",
    "open_backend",
    "open_pool",
    "require_psycopg",
]

SCHEMA = "tpe_insight_demo"
APPLICATION_NAME = "tpe_insight_demo"
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 15
#: How long, and how often, the fail-fast cancel repeats its requests (see cancel_running).
CANCEL_RETRY_S = 5.0
CANCEL_RETRY_INTERVAL_S = 0.01
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

#: Per connection: the demo's schema first, one server process per query, no JIT.
SESSION_OPTIONS = f"-c search_path={SCHEMA} -c max_parallel_workers_per_gather=0 -c jit=off"


def _one_line(exc: BaseException) -> str:
    """psycopg's messages span lines (server detail, hints): join them into one."""
    return "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())


def connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection with the demo's session options, or a one-line :class:`DemoError`."""
    require_psycopg()
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise DemoError(f"malformed --dsn: {_one_line(exc)}") from None
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    try:
        return psycopg.connect(
            dsn,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
            options=SESSION_OPTIONS,
        )
    except psycopg.ProgrammingError as exc:  # e.g. an invalid option value in the URI
        raise DemoError(f"malformed --dsn: {_one_line(exc)}") from None
    except psycopg.OperationalError as exc:
        message = _one_line(exc)
        if "invalid" in message and "connection option" in message:
            raise DemoError(f"malformed --dsn: {message}") from None
        refused = ("password authentication failed", "role", "no pg_hba.conf entry", "password")
        if any(word in message for word in refused):
            raise DemoError(f"the server at {where} refused the login: {message}") from None
        if "database" in message and "does not exist" in message:
            raise DemoError(f"{message} (create it, or use --local-server)") from None
        raise DemoError(f"cannot reach the server at {where}: {message}") from None


# -- the data ----------------------------------------------------------------------------------


def stored_meta(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[str, str] | None:
    """The demo's ``meta`` rows, or None when the schema or a table is missing."""
    tables = conn.execute(
        "SELECT to_regclass(%s), to_regclass(%s), to_regclass(%s)",
        [f"{SCHEMA}.meta", f"{SCHEMA}.customers", f"{SCHEMA}.transactions"],
    ).fetchone()
    if tables is None or None in tables:
        return None
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def load_data(
    conn: psycopg.Connection[tuple[Any, ...]], customers: int, transactions: int, seed: int
) -> float:
    """Drop and recreate the demo schema, ``COPY`` the generated rows in; seconds spent."""
    start = time.perf_counter()
    with conn.transaction():
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute(
            "CREATE TABLE customers ("
            " id INTEGER PRIMARY KEY, segment TEXT, country TEXT, signup_day INTEGER)"
        )
        conn.execute(
            "CREATE TABLE transactions ("
            " id INTEGER PRIMARY KEY, customer_id INTEGER, day INTEGER, hour INTEGER,"
            " amount INTEGER, merchant INTEGER, channel TEXT)"
        )
        with conn.cursor() as cur:
            with cur.copy("COPY customers FROM STDIN") as copy:
                for row in customer_rows(customers, seed):
                    copy.write_row(row)
            with cur.copy("COPY transactions FROM STDIN") as copy:
                for txn in transaction_rows(customers, transactions, seed):
                    copy.write_row(txn)
            cur.executemany(
                "INSERT INTO meta VALUES (%s, %s)",
                list(meta_rows(customers, transactions, seed).items()),
            )
    conn.execute("ANALYZE customers")
    conn.execute("ANALYZE transactions")
    return time.perf_counter() - start


# -- the runner --------------------------------------------------------------------------------


class RunStopped(Exception):
    """A task that started in the instant the run failed, stopped before its query was sent."""


class PostgresRunner:
    """Runs one query on a pooled connection; can cancel every query still on the server.

    The connections with a query in flight are kept in a set (under a lock: the cancel comes
    from another worker's thread); :meth:`cancel_running` marks the run stopped first, so a task
    that takes a connection afterwards never sends its query, then cancels until those in
    flight have ended.
    """

    def __init__(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        require_psycopg()
        self.pool = pool
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # notified when a query leaves the server
        self._in_flight: set[psycopg.Connection[Any]] = set()
        self._stopped = False
        #: Queries that :meth:`cancel_running` asked the server to stop since :meth:`begin_run`.
        self.cancels_sent = 0

    def begin_run(self) -> None:
        with self._lock:
            self._stopped = False
            self.cancels_sent = 0

    def __call__(self, query: VariableQuery) -> tuple[str, Variables]:
        try:
            with self.pool.connection() as conn:
                with self._lock:
                    if self._stopped:
                        raise RunStopped(f"{query.name}: not sent, the run had already failed")
                    self._in_flight.add(conn)
                try:
                    rows = conn.execute(query.sql).fetchall()
                finally:
                    with self._lock:
                        self._in_flight.discard(conn)
                        self._ended.notify_all()
        except psycopg.errors.QueryCanceled:
            raise  # ours (fail-fast), or the server's statement_timeout: the task's outcome
        except psycopg.OperationalError as exc:  # the server went away under the query
            raise DemoError(f"lost the server during {query.name}: {_one_line(exc)}") from None
        except psycopg_pool.PoolTimeout as exc:
            raise DemoError(
                f"no connection to the server within {POOL_TIMEOUT_S} s for {query.name}"
                f" (is it still up?): {_one_line(exc)}"
            ) from None
        return query.name, to_variables(query, rows)

    def cancel_running(self, exc: BaseException | None = None) -> int:
        """Ask the server to cancel every query in flight; return how many were in flight.

        Called from ``fail_fast``'s ``on_failure`` in the failing worker's thread, which has
        nothing else to do. The server ignores a cancel that arrives before the query does
        (a connection that is idle on the server), so the requests are repeated every
        :data:`CANCEL_RETRY_INTERVAL_S` until each of those queries has ended, for at most
        :data:`CANCEL_RETRY_S`; the run is marked stopped first, so no new query is sent.
        """
        with self._lock:
            self._stopped = True
            targets = set(self._in_flight)
        asked = len(targets)
        deadline = time.monotonic() + CANCEL_RETRY_S

        def ended() -> bool:
            return targets.isdisjoint(self._in_flight)

        while targets and time.monotonic() < deadline:
            for conn in targets:
                with contextlib.suppress(psycopg.Error):
                    # cancel_safe (psycopg >= 3.2): libpq 17's cancel API (encrypted like the
                    # connection, waits without blocking other threads); else the classic one.
                    cancel: Callable[[], None] = getattr(conn, "cancel_safe", conn.cancel)
                    cancel()
            with self._ended:
                self._ended.wait_for(ended, timeout=CANCEL_RETRY_INTERVAL_S)
                targets.intersection_update(self._in_flight)
        with self._lock:
            self.cancels_sent += asked
        return asked


def open_pool(dsn: str, size: int) -> psycopg_pool.ConnectionPool[Any]:
    """``size`` connections, opened now, with the demo's session options.

    Autocommit: the queries are single SELECTs, and a cancelled one then leaves its connection
    idle at once, not idle in an aborted transaction until the pool rolls it back.
    """
    require_psycopg()
    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        dsn,
        min_size=size,
        max_size=size,
        timeout=POOL_TIMEOUT_S,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
            "options": SESSION_OPTIONS,
        },
        name="tpe_insight_demo",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=POOL_TIMEOUT_S)
    except psycopg_pool.PoolTimeout as exc:
        pool.close(timeout=1)
        raise DemoError(f"could not open {size} connections: {_one_line(exc)}") from None
    return pool


# -- the backend -------------------------------------------------------------------------------


class PostgresBackend:
    """The demo's :class:`~tpe_insight.demo.Backend` on a PostgreSQL server."""

    def __init__(
        self,
        dsn: str,
        args: argparse.Namespace,
        out: Callable[[str], None],
        cluster: ThrowawayCluster | None = None,
    ) -> None:
        require_psycopg()
        self.broken_error: type[BaseException] = psycopg.errors.UndefinedColumn
        self.cluster = cluster
        self.pool: psycopg_pool.ConnectionPool[Any] | None = None
        #: Run last by :meth:`close` (``open_backend`` restores the SIGTERM handler there).
        self.on_close: Callable[[], object] = lambda: None
        with connect(dsn) as conn:
            host, port, dbname = conn.info.host, conn.info.port, conn.info.dbname
            where = f"{host}:{port}/{dbname}"
            version = conn.execute("SHOW server_version").fetchone()
            wanted = meta_rows(args.customers, args.transactions, args.seed)
            meta = stored_meta(conn)
            size = f"{args.customers} customers, {args.transactions} transactions, seed {args.seed}"
            if meta != wanted:
                if not args.create:
                    if meta is None:
                        raise DemoError(
                            f"database {dbname} at {host}:{port} has no demo"
                            f" tables (schema {SCHEMA}): rerun with --create to create and"
                            " load them"
                        )
                    raise DemoError(
                        f"schema {SCHEMA} holds another data set ({_describe(meta)}), not"
                        f" {size}: rerun with --create to replace it"
                    )
                built = load_data(conn, args.customers, args.transactions, args.seed)
                loaded = f"loaded with COPY in {built:.1f} s"
            else:
                loaded = "reused"
        out(f"database: postgresql://{where}, schema {SCHEMA} ({size}, {loaded})")
        workers = max(args.workers, 2)  # the failing run uses 2 workers
        self.pool = open_pool(dsn, workers)
        self.runner_impl = PostgresRunner(self.pool)
        self.runner: Runner = self.runner_impl
        cores = os.cpu_count() or 1
        local = host in LOCAL_HOSTS or host.startswith("/")
        server_version = version[0] if version else "?"
        self.description = [
            f"backend:  PostgreSQL {server_version}"
            + (" (a throwaway server the demo started)" if cluster else "")
            + ": each query runs in its own server process; the client thread only waits on"
            " its socket, so threads overlap the waits, up to what the server can run at once.",
            "simulated: nothing; the wait is the server's work, over a real connection"
            " (one pooled connection per worker, psycopg_pool).",
        ]
        if local:
            self.description.append(
                f"note:     the server is on this machine: its query processes compete with"
                f" this one for the same {cores} cores, which bounds the speedup."
            )

    def begin_run(self) -> None:
        self.runner_impl.begin_run()

    def cancel_running(self, exc: BaseException) -> object:
        return self.runner_impl.cancel_running(exc)

    def failure_note(self) -> str:
        sent = self.runner_impl.cancels_sent
        return (
            f"{sent} running quer{'y' if sent == 1 else 'ies'} cancelled on the server"
            " (psycopg cancel request: they end with QueryCanceled)"
        )

    def close(self) -> None:
        if self.pool is not None:
            with contextlib.suppress(Exception):
                self.pool.close(timeout=5)
            self.pool = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        self.on_close()


def _describe(meta: dict[str, str]) -> str:
    keys = ("customers", "transactions", "seed", "schema")
    return ", ".join(f"{k} {meta.get(k, '?')}" for k in keys)


def _sigterm_as_exit() -> Callable[[], object]:
    """Make SIGTERM (``kill``, a CI timeout) unwind like Ctrl-C does, so that the throwaway
    server is stopped; returns the function that restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def require_psycopg() -> None:
    """Import psycopg and psycopg_pool (once); :class:`DemoError` naming the extra when either
    is missing."""
    global psycopg, psycopg_pool
    if psycopg_pool is not None:
        return
    try:
        driver = importlib.import_module("psycopg")
        importlib.import_module("psycopg.conninfo")
        importlib.import_module("psycopg.errors")
        pool_module = importlib.import_module("psycopg_pool")
    except ImportError as exc:
        raise DemoError(
            "the PostgreSQL demo needs psycopg 3 and psycopg_pool: pip install"
            f" 'tpe-insight[postgres]' ({exc})"
        ) from None
    psycopg, psycopg_pool = driver, pool_module


def open_backend(args: argparse.Namespace, out: Callable[[str], None]) -> PostgresBackend:
    """The backend for ``--dsn`` or ``--local-server`` (which implies ``--create``)."""
    require_psycopg()
    if args.dsn is not None and args.local_server:
        raise DemoError("--dsn and --local-server exclude each other")
    if args.dsn is not None:
        return PostgresBackend(args.dsn, args, out)
    try:
        cluster = ThrowawayCluster()
    except ClusterError as exc:
        raise DemoError(str(exc)) from None
    restore = _sigterm_as_exit()
    try:
        started = time.perf_counter()
        cluster.start()
        out(
            f"server:   throwaway PostgreSQL on 127.0.0.1:{cluster.port}, data in"
            f" {cluster.root}, started in {time.perf_counter() - started:.1f} s"
            " (stopped and removed when the demo ends)"
        )
        args.create = True
        backend = PostgresBackend(cluster.dsn(), args, out, cluster=cluster)
    except ClusterError as exc:
        cluster.stop()
        restore()
        raise DemoError(str(exc)) from None
    except BaseException:
        cluster.stop()
        restore()
        raise
    backend.on_close = restore
    return backend
