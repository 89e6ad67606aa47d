"""The throwaway PostgreSQL server: binaries found off PATH, a clear error without them, and
nothing left behind after stop (also after the demo's --local-server run)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tpe_insight import demo, pgcluster
from tpe_insight.pgcluster import ClusterError, ThrowawayCluster


def fake_bindir(root: Path, version: str) -> Path:
    bindir = root / version / "bin"
    bindir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (bindir / name).write_text("#!/bin/sh\n", encoding="utf-8")
    return bindir


def test_the_newest_debian_version_is_found_off_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9.6", "13", "15"):
        fake_bindir(tmp_path, version)
    monkeypatch.setattr(pgcluster, "DEBIAN_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.delenv("PG_BIN", raising=False)
    assert pgcluster.find_bindir() == tmp_path / "15" / "bin"
    monkeypatch.setenv("PG_BIN", str(tmp_path / "13" / "bin"))
    assert pgcluster.find_bindir() == tmp_path / "13" / "bin"  # $PG_BIN wins


def test_missing_binaries_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcluster, "DEBIAN_ROOT", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.delenv("PG_BIN", raising=False)
    with pytest.raises(ClusterError, match=r"initdb, pg_ctl\) not found.*'postgresql' package"):
        pgcluster.find_bindir()


def test_stop_stops_the_server_and_removes_its_files() -> None:
    cluster = ThrowawayCluster().start()
    root, dsn = cluster.root, cluster.dsn()
    assert root is not None and (root / "data" / "PG_VERSION").is_file()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    cluster.stop()
    cluster.stop()  # idempotent
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)


def test_demo_local_server_leaves_nothing_behind() -> None:
    lines: list[str] = []
    small = ["--customers", "40", "--transactions", "800", "--workers", "2", "--port", "0"]
    code = demo.main(["--local-server", *small], out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    match = re.search(r"throwaway PostgreSQL on 127\.0\.0\.1:(\d+), data in (\S+),", text)
    assert match, text
    assert not Path(match.group(2)).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://tpe@127.0.0.1:{match.group(1)}/postgres", connect_timeout=5)
    assert "(a throwaway server the demo started)" in text and "same result as serial" in text


def test_ctrl_c_stops_the_throwaway_server_and_removes_it() -> None:
    """SIGINT as soon as the server is up (read from the demo's own output, no sleep)."""
    # A shell may start us with SIGINT ignored; the demo must see it as Ctrl-C delivers it.
    program = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
        " from tpe_insight.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program, "demo", "--local-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    match = re.search(r"throwaway PostgreSQL on 127\.0\.0\.1:(\d+), data in (\S+),", first)
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=100)
    finally:
        proc.kill()
    assert match, first + err
    assert proc.returncode == 130, err
    assert err.strip().endswith("tpe-insight demo: interrupted"), err
    assert not Path(match.group(2)).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://tpe@127.0.0.1:{match.group(1)}/postgres", connect_timeout=5)
