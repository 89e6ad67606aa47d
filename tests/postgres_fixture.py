"""A throwaway PostgreSQL server for the whole test session (loaded by the root conftest).

``postgres`` starts one cluster (``tpe_insight.pgcluster``: initdb into a temp dir, as an
unprivileged user when we are root, 127.0.0.1 on a free port) and always stops it, also when a
test fails. Without the server binaries the tests that use it *fail* with the reason (CI installs
Debian's ``postgresql``, see ``.ci/run``); they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tpe_insight import demo_postgres
from tpe_insight.pgcluster import ClusterError, ThrowawayCluster

#: The small data set the PostgreSQL tests load (and the SQLite side generates) for one seed.
CUSTOMERS, TRANSACTIONS, SEED = 300, 20_000, 7


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayCluster]:
    try:
        cluster = ThrowawayCluster()
        cluster.start()
    except ClusterError as exc:
        pytest.fail(f"the PostgreSQL tests need a local server: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def demo_dsn(postgres: ThrowawayCluster) -> str:
    """A database ``demo`` holding the demo's tables for (CUSTOMERS, TRANSACTIONS, SEED)."""
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE demo")
    dsn = postgres.dsn("demo")
    with demo_postgres.connect(dsn) as conn:
        demo_postgres.load_data(conn, CUSTOMERS, TRANSACTIONS, SEED)
    return dsn
