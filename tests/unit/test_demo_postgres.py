"""The demo on a real PostgreSQL server: same variables as serial and as SQLite, a fail-fast that
cancels on the server, and one-line errors (exit code 2) for bad input and a lost server."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest
from prometheus_client import CollectorRegistry

from tests.postgres_fixture import CUSTOMERS, SEED, TRANSACTIONS
from tpe_insight import ThreadPoolExecutor, demo, demo_postgres, fail_fast, named
from tpe_insight.pgcluster import ThrowawayCluster
from tpe_insight.testing import capture_events

SIZE = ["--customers", str(CUSTOMERS), "--transactions", str(TRANSACTIONS), "--seed", str(SEED)]


def args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {
        "customers": CUSTOMERS,
        "transactions": TRANSACTIONS,
        "seed": SEED,
        "workers": 4,
        "create": False,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.fixture
def backend(demo_dsn: str) -> Iterator[demo_postgres.PostgresBackend]:
    lines: list[str] = []
    pg = demo_postgres.PostgresBackend(demo_dsn, args(), lines.append)
    try:
        yield pg
    finally:
        pg.close()


def run_demo(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    lines: list[str] = []
    code = demo.main([*argv, "--port", "0"], out=lines.append)
    return code, "\n".join(lines), capsys.readouterr().err


# -- same variables ----------------------------------------------------------------------------


def test_postgres_builds_the_same_variables_as_serial_and_as_sqlite(
    backend: demo_postgres.PostgresBackend, tmp_path: Path, registry: CollectorRegistry
) -> None:
    serial = demo.build_serially(backend.runner, demo.QUERIES)
    with ThreadPoolExecutor(4, name="pg", registry=registry) as pool:
        concurrent = demo.build_concurrently(pool, backend.runner, demo.QUERIES)
    db = tmp_path / "same.sqlite"
    demo.ensure_database(db, CUSTOMERS, TRANSACTIONS, SEED)
    sqlite = demo.build_serially(demo.VariableRunner(db, 0.0), demo.QUERIES)
    assert concurrent == serial
    assert serial == sqlite  # exact: integer sums, one correctly rounded division per float
    assert len(serial) == CUSTOMERS
    columns = {c for q in demo.QUERIES for c in q.columns}
    assert all(set(v) == columns for v in serial.values())


def test_the_demo_runs_end_to_end_on_postgres(
    demo_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, err = run_demo(["--dsn", demo_dsn, *SIZE], capsys)
    assert code == 0, text + err
    assert "same result as serial" in text
    assert "schema tpe_insight_demo" in text and ", reused)" in text
    assert "the client thread only waits on its socket" in text
    assert "simulated: nothing" in text
    assert 'UndefinedColumn: column "dya" does not exist' in text
    assert re.search(r"running quer(y|ies) cancelled on the server", text)
    assert re.search(r"profiler: speedup vs serial (x\d+\.\d\d|cannot tell)", text)
    assert demo_postgres.SCHEMA in text and "password" not in text


# -- fail-fast on the server -------------------------------------------------------------------

LOCK_KEY = 4242

#: Server-side gate: waits until ``n`` other sessions are blocked on the advisory lock the test
#: holds (so they are *running on the server*), then fails. The deadline only bounds a broken
#: test; nothing is timed.
WAIT_THEN_FAIL = """
CREATE OR REPLACE FUNCTION public.wait_then_fail(n integer) RETURNS integer AS $$
DECLARE deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
  WHILE (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted) < n LOOP
    IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'gate: waiters never arrived'; END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
  RAISE EXCEPTION 'broken variable query';
END $$ LANGUAGE plpgsql
"""


def test_a_failure_cancels_the_queued_tasks_and_the_queries_running_on_the_server(
    demo_dsn: str, registry: CollectorRegistry
) -> None:
    held = [demo.VariableQuery(f"held_{i}", f"SELECT 1, pg_advisory_lock_shared({LOCK_KEY})",
                               ("lock",)) for i in range(2)]  # fmt: skip
    broken = demo.VariableQuery("broken", "SELECT 1, public.wait_then_fail(2)", ("x",))
    queued = [demo.VariableQuery(f"queued_{i}", "SELECT 1, 1", ("x",)) for i in range(4)]
    with psycopg.connect(demo_dsn, autocommit=True) as holder:
        holder.execute(WAIT_THEN_FAIL)
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])  # the gate, held throughout
        pool_db = demo_postgres.open_pool(demo_dsn, 3)
        runner = demo_postgres.PostgresRunner(pool_db)
        try:
            with (
                capture_events() as events,
                ThreadPoolExecutor(3, name="p", registry=registry) as pool,
            ):
                futures: list[Future[tuple[str, demo.Variables]]] = [
                    pool.submit(named(q.name, runner, q)) for q in [*held, broken, *queued]
                ]
                with pytest.raises(psycopg.errors.RaiseException, match="broken variable query"):
                    list(fail_fast(futures, on_failure=runner.cancel_running))
                # The gate is still closed: only the server-side cancel can end these two.
                _done, not_done = wait(futures[:2], timeout=60)
                assert not not_done
                states = holder.execute(
                    "SELECT count(*) FILTER (WHERE state <> 'idle'), count(*)"
                    " FROM pg_stat_activity WHERE application_name = %s",
                    [demo_postgres.APPLICATION_NAME],
                ).fetchone()
                running = registry.get_sample_value("tpe_tasks_running", {"pool": "p"})
                queued_now = registry.get_sample_value("tpe_tasks_queued", {"pool": "p"})
        finally:
            pool_db.close()
    for future in futures[:2]:
        assert isinstance(future.exception(), psycopg.errors.QueryCanceled)  # not a result
    assert [f.cancelled() for f in futures[3:]] == [True] * 4
    assert runner.cancels_sent == 2
    assert states == (0, 3)  # the pool's 3 connections are there, and idle on the server
    assert running == 0 and queued_now == 0
    # No task started after the failing task ended.
    kinds = [(e["event"], e.get("task"), e.get("outcome")) for e in events]
    failed_at = kinds.index(("task_finished", "broken", "error"))
    assert [k for k in kinds[failed_at:] if k[0] == "task_started"] == []

    # The books: 1 broken + 2 cancelled on the server failed, 4 cancelled before starting.
    def finished(task: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "tpe_tasks_finished_total", {"pool": "p", "task": task, "outcome": outcome}
        )

    assert [finished(q.name, "error") for q in held] == [1.0, 1.0]
    assert finished("broken", "error") == 1.0
    assert [finished(q.name, "cancelled") for q in queued] == [1.0] * 4
    assert (
        registry.get_sample_value(
            "tpe_task_exceptions_total",
            {"pool": "p", "task": "held_0", "exception": "psycopg.errors.QueryCanceled"},
        )
        == 1.0
    )
    assert sum(e.get("outcome") == "cancelled" for e in events) == 4
    assert sum(e.get("outcome") == "error" for e in events) == 3


# -- bad input: one line, exit code 2 ----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("not a dsn", r"malformed --dsn: missing \"=\" after \"not\""),
        ("postgresql://u@127.0.0.1:notaport/db", r"malformed --dsn: .*invalid integer value"),
        ("CLOSED", r"cannot reach the server at 127\.0\.0\.1:\d+: .*Connection refused"),
    ],
)
def test_bad_dsn_is_one_line_and_exit_code_2(
    dsn: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if dsn == "CLOSED":
        dsn = f"postgresql://u@127.0.0.1:{closed_port()}/db"
    code, _text, err = run_demo(["--dsn", dsn], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("tpe-insight demo: error: "), err
    assert re.search(message, err), err


def test_a_refused_login_is_one_line_and_exit_code_2(
    postgres: ThrowawayCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _text, err = run_demo(["--dsn", postgres.dsn(password="wrong")], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "refused the login" in err and "password authentication failed" in err
    assert "wrong" not in err  # the password is never echoed


def test_a_database_without_the_tables_offers_create(
    postgres: ThrowawayCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS empty")
        conn.execute("CREATE DATABASE empty")
    small = ["--customers", "40", "--transactions", "800", "--workers", "2"]
    code, _text, err = run_demo(["--dsn", postgres.dsn("empty"), *small], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "has no demo tables (schema tpe_insight_demo): rerun with --create" in err
    code, text, err = run_demo(["--dsn", postgres.dsn("empty"), *small, "--create"], capsys)
    assert code == 0, err
    assert "loaded with COPY" in text and "same result as serial" in text
    # Another size than the one loaded: refused again, with the way out.
    code, _text, err = run_demo(["--dsn", postgres.dsn("empty"), "--customers", "41"], capsys)
    assert code == 2 and "holds another data set" in err and "--create" in err


def test_a_server_that_dies_mid_run_is_one_line_and_exit_code_2(
    demo_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server ends the demo's connections while a query runs (to the client, what a crash
    or a restart looks like): the demo says so and exits 2, no traceback."""
    result: list[int] = []
    # Two sessions: the holder's transaction keeps the lock, and the watcher's reads are not
    # frozen by a transaction snapshot of pg_stat_activity.
    with (
        psycopg.connect(demo_dsn) as holder,
        psycopg.connect(demo_dsn, autocommit=True) as watcher,
    ):
        # Every query of the demo blocks on this lock, so one is surely running on the server.
        holder.execute(f"LOCK TABLE {demo_postgres.SCHEMA}.transactions IN ACCESS EXCLUSIVE MODE")
        thread = threading.Thread(
            target=lambda: result.append(demo.main(["--dsn", demo_dsn, *SIZE], out=lambda _: None))
        )
        thread.start()
        try:
            deadline = time.monotonic() + 60
            waiting: tuple[Any, ...] | None = None
            while time.monotonic() < deadline:  # bounded poll of the server's state, untimed
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = %s AND wait_event_type = 'Lock'",
                    [demo_postgres.APPLICATION_NAME],
                ).fetchone()
                if waiting and waiting[0] >= 1:
                    break
                time.sleep(0.01)
            assert waiting and waiting[0] >= 1, "the demo's query never blocked on the lock"
            watcher.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [demo_postgres.APPLICATION_NAME],
            )
        finally:
            holder.rollback()
            thread.join(60)
    err = capsys.readouterr().err
    assert result == [2]
    assert err.count("\n") == 1, err
    assert re.match(r"tpe-insight demo: error: lost the server during spend_totals: ", err), err


def test_missing_psycopg_names_the_extra() -> None:
    """In a fresh interpreter where ``import psycopg`` fails: the SQLite demo's modules still
    import, and the PostgreSQL demo says which extra to install."""
    program = (
        "import sys; sys.modules['psycopg'] = None; from tpe_insight import demo;"
        " sys.exit(demo.main(['--dsn', 'postgresql://u@127.0.0.1/db']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "pip install 'tpe-insight[postgres]'" in proc.stderr


def test_dsn_and_local_server_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    code, _text, err = run_demo(["--dsn", "postgresql://u@h/db", "--local-server"], capsys)
    assert code == 2 and "exclude each other" in err


def test_latency_is_refused_on_postgres(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        demo.main(["--dsn", "postgresql://u@h/db", "--latency", "0.1"])
    assert info.value.code == 2
    assert "on PostgreSQL the wait is real" in capsys.readouterr().err


def test_the_cli_does_not_execute_psycopg_until_the_postgres_demo_needs_it() -> None:
    """``tpe-insight run`` imports the demo modules (through the CLI) but must not pay for
    importing psycopg; the PostgreSQL demo's ``require_psycopg`` then imports it."""
    program = (
        "import sys, json; import tpe_insight.cli; from tpe_insight import demo_postgres;"
        " before = ['psycopg' in sys.modules, 'psycopg_pool' in sys.modules];"
        " demo_postgres.require_psycopg();"
        " after = ['psycopg' in sys.modules, 'psycopg_pool' in sys.modules];"
        " print(json.dumps([before, after, callable(demo_postgres.psycopg.connect)]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[[false, false], [true, true], true]", proc.stderr
