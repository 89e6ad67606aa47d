"""demo_data: the same rows for the same seed (the premise of comparing SQLite and PostgreSQL),
other rows for another seed, values in their documented ranges."""

from __future__ import annotations

from tpe_insight import demo_data


def test_the_same_seed_gives_the_same_rows_and_another_seed_others() -> None:
    assert list(demo_data.transaction_rows(50, 500, 7)) == list(
        demo_data.transaction_rows(50, 500, 7)
    )
    assert list(demo_data.transaction_rows(50, 500, 7)) != list(
        demo_data.transaction_rows(50, 500, 8)
    )
    rows = list(demo_data.transaction_rows(50, 5000, 7))
    assert {r[1] for r in rows} == set(range(1, 51))  # every customer has transactions
    assert all(0 <= r[2] < 730 and 0 <= r[3] < 24 and 0 <= r[4] < 100_000 for r in rows)


def test_the_meta_rows_identify_size_seed_and_schema() -> None:
    assert demo_data.meta_rows(10, 100, 3) == {
        "schema": str(demo_data.SCHEMA_VERSION),
        "customers": "10",
        "transactions": "100",
        "seed": "3",
    }
