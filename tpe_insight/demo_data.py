"""The demo's data and queries, shared by its backends (SQLite in ``demo``, PostgreSQL in
``demo_postgres``): the same rows for the same seed, the same eight queries, the same result
shape, so both backends must build exactly the same variables.

The rows are generated here from ``random.Random(seed)``, not with each database's own
``random()``, and the SQL is written so that both databases compute bit-equal values (see
:data:`QUERIES`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BROKEN_QUERY",
    "DEFAULT_CUSTOMERS",
    "DEFAULT_SEED",
    "DEFAULT_TRANSACTIONS",
    "QUERIES",
    "SCHEMA_VERSION",
    "DemoError",
    "Row",
    "Runner",
    "VariableQuery",
    "Variables",
    "customer_rows",
    "meta_rows",
    "to_variables",
    "transaction_rows",
]

SCHEMA_VERSION = 2
DEFAULT_CUSTOMERS = 4_000
DEFAULT_TRANSACTIONS = 600_000
DEFAULT_SEED = 7
SEGMENTS = ("retail", "sme", "corp")
COUNTRIES = ("ES", "NL", "DE", "FR")
CHANNELS = ("card", "online", "transfer")


Row = tuple[object, ...]
Variables = dict[int, dict[str, object]]


class DemoError(Exception):
    """Bad input or a lost server: the demo prints this one line and exits with code 2."""


# -- the rows ----------------------------------------------------------------------------------


def customer_rows(customers: int, seed: int) -> Iterator[tuple[int, str, str, int]]:
    """``(id, segment, country, signup_day)``: the same rows for the same seed, for every
    backend (generated here, not with the database's own ``random()``, so SQLite and PostgreSQL
    hold the same data and must give the same variables)."""
    bits = random.Random(f"{seed}:customers").getrandbits
    for i in range(1, customers + 1):
        b = bits(32)
        yield i, SEGMENTS[b % 3], COUNTRIES[(b >> 2) % 4], (b >> 4) % 3650


def transaction_rows(
    customers: int, transactions: int, seed: int
) -> Iterator[tuple[int, int, int, int, int, int, str]]:
    """``(id, customer_id, day, hour, amount_cents, merchant, channel)``, as above. Amounts are
    integer cents: sums of integers do not depend on the order a backend adds them in."""
    bits = random.Random(f"{seed}:transactions").getrandbits
    for i in range(1, transactions + 1):
        b, c = bits(32), bits(64)
        yield (
            i, 1 + (b * customers >> 32), (c >> 37 & 0x3FF) % 730, (c >> 30 & 31) % 24,
            (c & 0x1FFFF) % 100_000, (c >> 17 & 0x1FFF) % 5000, CHANNELS[(c >> 35 & 3) % 3],
        )  # fmt: skip


def meta_rows(customers: int, transactions: int, seed: int) -> dict[str, str]:
    """What identifies a generated database: reused only if all of it matches."""
    return {
        "schema": str(SCHEMA_VERSION),
        "customers": str(customers),
        "transactions": str(transactions),
        "seed": str(seed),
    }


# -- the model variables ------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableQuery:
    """One set of model variables: a query keyed by customer id, and the names of its columns."""

    name: str
    sql: str
    columns: tuple[str, ...]


#: The same SQL runs on SQLite and PostgreSQL, and must give the same values on both: integer
#: sums and counts are exact in any order, and each float is one correctly rounded IEEE
#: operation on exact integers (``CAST(... AS DOUBLE PRECISION) / n``, never ``AVG``, whose
#: type and summation order differ between the two). The integers stay far below 2**63 for up
#: to ~50,000 transactions per customer.
QUERIES: tuple[VariableQuery, ...] = (
    VariableQuery(
        "spend_totals",
        "SELECT customer_id, COUNT(*), SUM(amount) FROM transactions GROUP BY customer_id",
        ("txn_count", "txn_amount"),
    ),
    VariableQuery(
        "avg_ticket_by_channel",
        "SELECT customer_id,"
        " CAST(SUM(CASE WHEN channel = 'card' THEN amount END) AS DOUBLE PRECISION)"
        " / NULLIF(COUNT(CASE WHEN channel = 'card' THEN 1 END), 0),"
        " CAST(SUM(CASE WHEN channel = 'online' THEN amount END) AS DOUBLE PRECISION)"
        " / NULLIF(COUNT(CASE WHEN channel = 'online' THEN 1 END), 0)"
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
        "SELECT customer_id,"
        " CAST(SUM(CASE WHEN hour >= 22 OR hour < 6 THEN 1 ELSE 0 END) AS DOUBLE PRECISION)"
        " / COUNT(*) FROM transactions GROUP BY customer_id",
        ("night_share",),
    ),
    VariableQuery(
        "large_payments",
        "SELECT customer_id, SUM(CASE WHEN amount > 90000 THEN 1 ELSE 0 END), MAX(amount)"
        " FROM transactions GROUP BY customer_id",
        ("large_count", "max_amount"),
    ),
    VariableQuery(
        "monthly_volatility",
        "SELECT customer_id,"
        " CAST(COUNT(*) * SUM(m * m) - SUM(m) * SUM(m) AS DOUBLE PRECISION)"
        " / (COUNT(*) * COUNT(*)) FROM ("
        " SELECT customer_id, SUM(amount) AS m FROM transactions"
        " GROUP BY customer_id, day / 30) AS monthly GROUP BY customer_id",
        ("monthly_variance",),
    ),
    VariableQuery(
        "segment_rank",
        "SELECT t.customer_id, c.segment, SUM(t.amount) FROM transactions t"
        " JOIN customers c ON c.id = t.customer_id GROUP BY t.customer_id, c.segment",
        ("segment", "segment_spend"),
    ),
)

#: The query used for the failing run: a typo'd column, as in a real refactoring accident.
BROKEN_QUERY = VariableQuery(
    "recency",
    "SELECT customer_id, MAX(dya) FROM transactions GROUP BY customer_id",
    ("last_day",),
)


#: What every backend's runner is: one query in, its name and its variables out.
Runner = Callable[[VariableQuery], tuple[str, Variables]]


def to_variables(query: VariableQuery, rows: Iterable[Sequence[Any]]) -> Variables:
    """Rows keyed by customer id (their first column) -> ``{customer: {column: value}}``."""
    variables: Variables = {}
    for row in rows:
        variables[int(row[0])] = dict(zip(query.columns, row[1:], strict=True))
    return variables
