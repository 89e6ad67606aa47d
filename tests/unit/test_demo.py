"""The demo runs end to end on a small generated database and reports from the metrics."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tpe_insight import demo


def test_demo_runs_and_reports(tmp_path: Path) -> None:
    lines: list[str] = []
    code = demo.main(
        [
            "--db",
            str(tmp_path / "demo.sqlite"),
            "--customers",
            "300",
            "--transactions",
            "20000",
            "--latency",
            "0.03",
            "--port",
            "0",
        ],
        out=lines.append,
    )
    text = "\n".join(lines)
    assert code == 0, text
    assert "same result as serial" in text
    assert re.search(r"speedup x\d+\.\d\d", text)
    assert "OperationalError: no such column: dya" in text
    match = re.search(
        r"fail-fast: cancelled (\d+) of 8 queries before they started; (\d+) ended with an error",
        text,
    )
    assert match, text
    assert int(match.group(2)) == 1  # SQLite: nothing to cancel on a server
    # Two workers, the broken query third: at least the last queries never started.
    assert int(match.group(1)) >= 1
    # It says what it measured, what is simulated, and what the profiler concluded.
    assert "SQLite, embedded: every query is CPU work in this process" in text
    assert "simulated: a 0.03 s sleep before each query" in text
    assert re.search(r"measured: speedup x\d+\.\d\d", text)
    assert re.search(r"profiler: speedup vs serial (x\d+\.\d\d|cannot tell) .*inferred", text)
    # No URL that is dead once the demo has ended; --serve is how to scrape.
    assert "http://" not in text
    assert "add --serve" in text
    for query in demo.QUERIES:
        assert query.name in text  # one task label per model-variable query


def test_database_is_reused_when_it_matches(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    assert demo.ensure_database(path, 10, 100) > 0
    assert demo.ensure_database(path, 10, 100) == 0.0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone() == (100,)
    assert demo.ensure_database(path, 10, 200) > 0  # another size: rebuilt
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone() == (200,)
    assert demo.ensure_database(path, 10, 200, seed=8) > 0  # another seed: rebuilt
